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
})
