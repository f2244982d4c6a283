// Joint configurations (joint consensus) in the core membership types and the Replica.
import { describe, expect, it } from 'vitest'
import {
  allMemberIds,
  changedMembers,
  ConfigError,
  CONTRACT_VERSION,
  isJoint,
  isMember,
  membership,
  membershipOf,
  Replica,
  utf8,
  type ClientRef,
  type Membership,
  type MembershipChange,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
} from '../src/index.js'
import { ListStateMachine, ManualClock, RecordingTransport, SlowStorage } from './fakes.js'

const m = (id: string) => ({ id, publicKey: new Uint8Array(0) })
const joint: Membership = { epoch: 2, voters: [m('a'), m('d')], learners: [m('l')], outgoing: [m('a'), m('b'), m('c')] }

describe('joint membership', () => {
  it('counts outgoing voters as members while joint; membership() is unchanged', () => {
    expect(isJoint(joint)).toBe(true)
    expect(isJoint(membershipOf(['a']))).toBe(false)
    expect('outgoing' in membership([m('a')])).toBe(false)
    expect(allMemberIds(joint)).toEqual(['a', 'd', 'l', 'b', 'c'])
    for (const id of ['a', 'b', 'c', 'd', 'l']) expect(isMember(joint, id)).toBe(true)
    expect(isMember(joint, 'z')).toBe(false)
    expect(allMemberIds(membershipOf(['a', 'b']))).toEqual(['a', 'b'])
  })

  it('lists the members a change adds or promotes', () => {
    expect(changedMembers({ type: 'remove', id: 'a' })).toEqual([])
    expect(changedMembers({ type: 'add-learner', member: m('x') })).toEqual([m('x')])
    expect(
      changedMembers({ type: 'joint', changes: [{ type: 'remove', id: 'a' }, { type: 'add-voter', member: m('y') }, { type: 'add-learner', member: m('z') }] }),
    ).toEqual([m('y'), m('z')])
  })
})

/** A protocol that accepts any change and enters the joint configuration at once. */
function jointToy(received: MembershipChange[]): ProtocolFactory {
  return {
    contract: CONTRACT_VERSION,
    name: 'joint-toy',
    faultModel: 'crash',
    maxFaulty: (n) => Math.floor((n - 1) / 2),
    create(ctx: ProtocolContext): ProtocolNode {
      return {
        start() {},
        receive() {},
        propose() {},
        reconfigure(change: MembershipChange, client: ClientRef) {
          received.push(change)
          const index = ctx.storage.lastIndex() + 1
          ctx.storage.append([{ index, term: 1, data: new Uint8Array(0) }])
          ctx.observe({ type: 'membership', membership: joint, index })
          ctx.respond(client, { index, result: new Uint8Array(0) })
        },
        status: () => ({ id: ctx.self, role: 'leader', term: 1, leader: ctx.self, commitIndex: 0, lastIndex: 0, membership: ctx.membership }),
        stop() {},
      }
    },
  }
}

describe('Replica.reconfigure with a joint change', () => {
  it('passes it to the protocol, follows the joint membership, and refuses oversized meta inside it', async () => {
    const storage = new SlowStorage()
    storage.autoSync = true
    const received: MembershipChange[] = []
    const replica = new Replica({
      factory: jointToy(received),
      self: 'a',
      membership: membershipOf(['a', 'b', 'c']),
      transport: new RecordingTransport('a', storage),
      storage,
      clock: new ManualClock(),
      random: { next: () => 0.5 },
      stateMachine: new ListStateMachine(),
    })
    await replica.start()
    const change: MembershipChange = { type: 'joint', changes: [{ type: 'remove', id: 'b' }, { type: 'add-voter', member: { ...m('d'), meta: utf8('x') } }] }
    await expect(replica.reconfigure(change)).resolves.toMatchObject({ index: 1 })
    expect(received).toEqual([change])
    expect(replica.membership().outgoing?.map((o) => o.id)).toEqual(['a', 'b', 'c'])
    const big = { type: 'joint' as const, changes: [{ type: 'add-learner' as const, member: { ...m('e'), meta: new Uint8Array(4097) } }] }
    await expect(replica.reconfigure(big)).rejects.toBeInstanceOf(ConfigError)
    expect(received).toHaveLength(1)
    await replica.stop()
  })
})
