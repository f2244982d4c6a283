// The leader-side lease clock (lease-clock.ts) against a real KvStateMachine, a fake clock and a fake
// replica whose proposals are applied at once. The takeover extension is the defence against a leader
// change expiring a lease early: with it off (electionTimeoutMs 0) the same history expires the lease
// while its holder's keep-alive is still on its way.
import { describe, expect, it } from 'vitest'
import type { Replica } from '@synod/core'
import { decodeResult, kvCommands, KvStateMachine } from '@synod/kv'
import { LeaseClock } from '../src/lease-clock.js'

function setup(electionTimeoutMs: number) {
  const kv = new KvStateMachine()
  let index = 0
  const apply = (command: Uint8Array) => decodeResult(kv.apply(command, ++index))
  let leader = 'other'
  const proposed: string[] = []
  const replica = {
    self: 'me',
    status: () => ({ leader }),
    propose: (command: Uint8Array) => {
      proposed.push('expire')
      apply(command)
      return Promise.resolve({ index, result: new Uint8Array() })
    },
  } as unknown as Replica
  let now = 0
  const clock = new LeaseClock(replica, kv, { electionTimeoutMs, tickMs: 0, now: () => now })
  return {
    kv,
    apply,
    clock,
    proposed,
    lead: () => (leader = 'me'),
    at: (ms: number) => {
      now = ms
      clock.tick()
    },
  }
}

describe('lease clock', () => {
  it('only the leader proposes the expiry, TTL after the last renewal it saw', () => {
    const t = setup(2000)
    t.at(0)
    t.apply(kvCommands.leaseGrant(3))
    t.apply(kvCommands.put('k', 'v', undefined, 1))
    t.at(100) // seen at 100: expires at 3100
    t.at(5000)
    expect(t.proposed).toEqual([]) // a follower never proposes
    t.clock.stop()
    const l = setup(0)
    l.lead()
    l.at(0)
    l.apply(kvCommands.leaseGrant(3))
    l.at(100)
    l.at(2000)
    l.apply(kvCommands.leaseKeepAlive(1))
    l.at(2100) // renewed: now 5100
    l.at(5000)
    expect(l.kv.leaseCount).toBe(1)
    l.at(5100)
    expect(l.proposed).toEqual(['expire'])
    expect(l.kv.leaseCount).toBe(0)
    l.clock.stop()
  })

  it('a new leader extends every remaining TTL by the election allowance; without it the lease expires early', () => {
    for (const [allowance, expiredEarly] of [
      [2000, false],
      [0, true],
    ] as const) {
      const t = setup(allowance)
      t.at(0)
      t.apply(kvCommands.leaseGrant(3))
      t.at(100) // a follower sees the grant: expires at 3100 by its clock
      // The old leader dies at 2500; this node wins the election at 3200, after the TTL it tracked ran out.
      t.lead()
      t.at(3200)
      // The holder's keep-alive, sent to the dead leader and retried, arrives at 3500.
      if (t.kv.leaseCount === 1) t.apply(kvCommands.leaseKeepAlive(1))
      t.at(3600)
      expect(t.kv.leaseCount === 0, `allowance ${allowance}`).toBe(expiredEarly)
      t.clock.stop()
    }
  })
  it('vote mode (byzantine): every member, leader or not, proposes its own vote once per renewal, one at a time', async () => {
    const kv = new KvStateMachine()
    let index = 0
    const apply = (command: Uint8Array) => decodeResult(kv.apply(command, ++index))
    const votes: Array<[number, number]> = []
    const replica = {
      self: 'me',
      status: () => ({ leader: 'other' }),
      // Ordered, but the state machine here has no voters: a vote changes nothing (the others' votes are missing).
      propose: () => Promise.resolve({ index, result: new Uint8Array() }),
    } as unknown as Replica
    let now = 0
    const clock = new LeaseClock(replica, kv, {
      electionTimeoutMs: 2000,
      tickMs: 0,
      now: () => now,
      vote: (id, renewed) => {
        votes.push([id, renewed])
        return kvCommands.leaseExpire(id, renewed)
      },
    })
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0))
    const at = async (ms: number) => {
      now = ms
      clock.tick()
      await settle()
    }
    await at(0)
    apply(kvCommands.leaseGrant(3)) // lease 1
    apply(kvCommands.leaseGrant(3)) // lease 2
    await at(100) // both seen at 100: due at 3100 by this follower's clock (no election allowance: it never leads here)
    await at(3000)
    expect(votes).toEqual([])
    await at(3100)
    expect(votes).toEqual([
      [1, 1],
      [2, 2],
    ])
    await at(9000)
    expect(votes).toHaveLength(2) // once per renewal
    apply(kvCommands.leaseKeepAlive(1)) // renewed at 3: a new renewal, a new vote after its TTL
    await at(9100)
    await at(12_100)
    expect(votes).toEqual([
      [1, 1],
      [2, 2],
      [1, 3],
    ])
    clock.stop()
  })
})
