// The acceptor's promise and accepted values are persisted before it answers
// (Paxos Made Simple §2.3: an acceptor "must remember this information even
// if it fails and then restarts"). The defence-off runs show the split brain
// a forgetful acceptor allows.
import type { NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptorTesting } from '../src/index.js'
import { decode, forceCampaign, MessageType, TestCluster, text } from './helpers/cluster.js'

afterEach(() => {
  acceptorTesting.skipPersist = false
})

const ids = ['a', 'b', 'c']
const typeOf = (bytes: Uint8Array) => decode(bytes).type

/**
 * L leads with ballot b1. G campaigns with b2 > b1 and reaches only F, which promises; G (with F's
 * promise) becomes leader but every message it sends after phase 1 is held back. F crashes and
 * restarts. L proposes X: F must refuse it (it promised b2). Then G's messages flow again and G
 * proposes Y at the same slot.
 */
function promiseAcrossRestart(crashBeforeReply: boolean): { c: TestCluster; l: NodeId; f: NodeId; g: NodeId } {
  const c = new TestCluster(ids, { paxos: { checkQuorum: false } })
  c.startAll()
  const l = c.waitForLeader()
  c.tick(60)
  const [f, g] = ids.filter((id) => id !== l) as [NodeId, NodeId]
  let holdG = true
  c.filter = (e) => {
    if (e.from === g && e.to === l) return false
    if (e.from === g && holdG) return typeOf(e.bytes) === MessageType.Prepare
    if (e.to === g) return typeOf(e.bytes) === MessageType.Promise
    return true
  }
  if (crashBeforeReply) c.node(f).crashAfterNextSync = true
  forceCampaign(c, g)
  c.deliver()
  if (crashBeforeReply) {
    // F persisted its promise and crashed before answering; after restart G's re-sent Prepare gets it.
    expect(c.node(f).running).toBe(false)
    c.node(f).start()
    c.runUntil(() => c.node(g).status.role === 'leader', 1000)
  } else {
    expect(c.node(g).status.role).toBe('leader')
    c.node(f).crash()
    c.node(f).start()
  }
  const b2 = c.node(g).status.term
  if (!acceptorTesting.skipPersist) expect(c.node(f).status.term).toBe(b2)
  c.propose(l, 'X')
  c.deliver()
  holdG = false
  c.filter = (e) => !(e.from === g && e.to === l) && !(e.from === l && e.to === g)
  c.propose(g, 'Y')
  c.tick(300)
  c.filter = undefined
  c.tick(500)
  return { c, l, f, g }
}

/**
 * L proposes five commands in one batch: one Accept of five slots, which only F receives (G hears
 * nothing from L); F persists the run as one record. Either F crashes right after its sync, before
 * its Accepted leaves, or it answers (L then knows the five chosen and answers its clients) and
 * crashes later without having learned they were chosen (no heartbeat from L reaches it). Then L is
 * gone for good, F restarts, and F and G elect a leader: every value must come back from F's record.
 */
function runAcrossRestart(crashBeforeReply: boolean): { c: TestCluster; f: NodeId; g: NodeId; clients: number[] } {
  const c = new TestCluster(ids, { paxos: { checkQuorum: false } })
  c.startAll()
  const l = c.waitForLeader()
  c.tick(60)
  const [f, g] = ids.filter((id) => id !== l) as [NodeId, NodeId]
  let acceptsToF = 1
  c.filter = (e) => {
    if (e.from !== l) return true
    if (e.to !== f || typeOf(e.bytes) !== MessageType.Accept || acceptsToF === 0) return false
    acceptsToF--
    return true
  }
  if (crashBeforeReply) c.node(f).crashAfterNextSync = true
  const leader = c.node(l)
  const clients = [1, 2, 3, 4, 5].map((i) => 10_000 + i)
  leader.batch(() => clients.forEach((id, i) => leader.paxos.propose(text(`w${i}`), { id })))
  c.deliver()
  if (crashBeforeReply) expect(c.node(f).running).toBe(false)
  else {
    expect(c.node(l).status.detail).toMatchObject({ applied: 5 })
    for (const id of clients) expect(c.outcomes.get(id)?.kind).toBe('committed')
    expect(c.node(f).status.detail).toMatchObject({ applied: 0, accepted: 5 })
    c.node(f).crash()
  }
  c.node(l).crash()
  c.filter = undefined
  c.node(f).start()
  return { c, f, g, clients }
}

describe('acceptor durability', () => {
  for (const crashBeforeReply of [true, false]) {
    const when = crashBeforeReply ? 'between persisting the run and replying' : 'after replying, before learning the run was chosen'
    it(`every slot of a multi-slot Accept run survives an acceptor crash ${when}`, () => {
      const { c, f, g } = runAcrossRestart(crashBeforeReply)
      expect(c.node(f).status.detail).toMatchObject({ accepted: 5 })
      c.runUntil(() => c.leaders().length > 0, 2000)
      c.tick(300)
      for (const id of [f, g]) expect(c.appliedCommands(id)).toEqual(['w0', 'w1', 'w2', 'w3', 'w4'])
    })
  }

  it('with the acceptor not persisting, the chosen run is lost with the old leader', () => {
    acceptorTesting.skipPersist = true
    const { c, f, g } = runAcrossRestart(false)
    expect(c.node(f).status.detail).toMatchObject({ accepted: 0 })
    c.runUntil(() => c.leaders().length > 0, 2000)
    c.tick(300)
    // The five writes were answered as committed by the old leader, and no survivor has them.
    for (const id of [f, g]) expect(c.appliedCommands(id)).not.toContain('w0')
  })

  for (const crashBeforeReply of [false, true]) {
    const when = crashBeforeReply ? 'crash between persisting the promise and replying' : 'crash after replying'
    it(`a promise survives a restart (${when}): the old leader's Accept is refused and only Y is chosen`, () => {
      const { c, l } = promiseAcrossRestart(crashBeforeReply)
      for (const id of ids) expect(c.appliedCommands(id)).toEqual(['Y'])
      // The old leader learned of the higher ballot from F's refusal and stepped down.
      const ofL = c.events.filter(({ node }) => node === l).map(({ event }) => event)
      const led = ofL.findIndex((e) => e.type === 'leader')
      expect(ofL.slice(led).some((e) => e.type === 'role' && e.role === 'follower')).toBe(true)
    })
  }

  it('with the acceptor not persisting, the forgotten promise lets two values be chosen at one slot', () => {
    acceptorTesting.skipPersist = true
    expect(() => promiseAcrossRestart(false)).toThrow(/safety violation at index 1/)
  })

  it('a whole-cluster crash keeps every decided command (the chosen log) and every promise', () => {
    const c = new TestCluster(ids)
    c.startAll()
    const leader = c.waitForLeader()
    const clients = ['v0', 'v1', 'v2'].map((v) => c.propose(leader, v))
    c.tick(100)
    for (const id of clients) expect(c.outcomes.get(id)?.kind).toBe('committed')
    const promised = new Map(ids.map((id) => [id, c.node(id).status.term]))
    for (const n of c.nodes.values()) n.crash()
    for (const n of c.nodes.values()) n.start()
    for (const id of ids) {
      expect(c.node(id).status.term).toBe(promised.get(id))
      expect(c.appliedCommands(id)).toEqual(['v0', 'v1', 'v2'])
    }
    const next = c.waitForLeader()
    c.propose(next, 'after')
    c.tick(200)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['v0', 'v1', 'v2', 'after'])
  })
})
