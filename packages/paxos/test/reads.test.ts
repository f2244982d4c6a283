// Reads at the leader without a slot (reads.ts): a quorum heartbeat round
// after the read confirms the ballot, then the read is served at the
// leader's highest given-out slot. The round is what keeps a deposed leader
// from answering stale values; the test-only switch shows it.
import type { NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { readTesting } from '../src/reads.js'
import { TestCluster } from './helpers/cluster.js'

afterEach(() => {
  readTesting.skipQuorumRound = false
})

const ids = ['a', 'b', 'c', 'd', 'e']

let nextReadClient = 900_000
function read(c: TestCluster, id: NodeId): number {
  const client = { id: nextReadClient++ }
  c.node(id).batch(() => c.node(id).paxos.read(new Uint8Array(0), client))
  return client.id
}

function stable(seed: number, n = 3, checkQuorum = true): { c: TestCluster; leader: NodeId; followers: NodeId[] } {
  const c = new TestCluster(ids.slice(0, n), { seed, paxos: { checkQuorum } })
  c.startAll()
  const leader = c.waitForLeader()
  c.tick(100)
  return { c, leader, followers: ids.slice(0, n).filter((id) => id !== leader) }
}

describe('leader reads (a quorum round, no slot)', () => {
  it('answer after every acknowledged write, take no slot and write nothing', () => {
    const { c, leader } = stable(1)
    for (let i = 0; i < 5; i++) c.propose(leader, `w${i}`)
    c.tick(50)
    const chosen = c.node(leader).status.commitIndex
    const reads = Array.from({ length: 20 }, () => read(c, leader))
    c.tick(50)
    for (const r of reads) expect(c.outcomes.get(r)).toEqual({ kind: 'read', applied: chosen })
    // No slot was used for them, and one heartbeat round served all 20 (they arrived in one batch each).
    expect(c.node(leader).status.commitIndex).toBe(chosen)
    expect(c.node(leader).status.detail!['reads']).toBe(20)
    expect(c.node(leader).status.detail!['rounds']).toBeLessThanOrEqual(20)
  })

  it('wait for the slots the leader gave out before the read: a read never misses a write in flight', () => {
    const { c, leader, followers } = stable(2)
    // Hold the Accepts: the write is given a slot but not chosen yet when the read arrives.
    c.filter = (e) => !(e.from === leader && followers.includes(e.to))
    c.propose(leader, 'in-flight')
    const r = read(c, leader)
    c.tick(20)
    expect(c.outcomes.get(r)).toBeUndefined()
    c.filter = undefined
    c.tick(200)
    const outcome = c.outcomes.get(r)
    expect(outcome?.kind).toBe('read')
    expect((outcome as { applied: number }).applied).toBeGreaterThanOrEqual(c.node(leader).status.commitIndex)
    expect(c.appliedCommands(leader)).toContain('in-flight')
  })

  it('on a follower go through the log (forwarded), still linearizable', () => {
    const { c, leader, followers } = stable(3)
    c.propose(leader, 'x')
    c.tick(50)
    const before = c.node(leader).status.commitIndex
    const r = read(c, followers[0]!)
    c.tick(100)
    expect(c.outcomes.get(r)?.kind).toBe('committed')
    expect(c.node(leader).status.commitIndex).toBe(before + 1)
  })

  it('a deposed leader that does not know it yet answers no read — and, without the round, answers stale ones', () => {
    const stale = { on: 0, off: 0 }
    for (const skip of [false, true]) {
      for (let seed = 1; seed <= 10; seed++) {
        readTesting.skipQuorumRound = skip
        // CheckQuorum off: the old leader never notices (as a paused or slow leader may not, for a while).
        const { c, leader, followers } = stable(seed, 5, false)
        c.propose(leader, 'old')
        c.tick(50)
        // Cut the leader off; the others elect a new leader and choose a new write.
        c.isolate(leader)
        c.runUntil(() => c.leaders().some((id) => id !== leader), 3000)
        const next = c.leaders().find((id) => id !== leader)!
        c.propose(next, 'new')
        c.runUntil(() => followers.every((id) => c.appliedCommands(id).includes('new')), 2000)
        // The old leader has not noticed: read there.
        expect(c.node(leader).paxos.status().role).toBe('leader')
        const r = read(c, leader)
        c.tick(20)
        const outcome = c.outcomes.get(r)
        if (outcome?.kind === 'read' && !c.appliedCommands(leader).includes('new')) stale[skip ? 'off' : 'on']++
        // With the defence, the deposed leader never answers the read: it fails once the leader hears of the
        // higher ballot (the partition heals; the refusals carry it).
        if (!skip) {
          c.heal()
          c.tick(1000)
          expect(c.outcomes.get(r)?.kind).toBe('rejected')
        }
      }
    }
    expect(stale.on).toBe(0)
    expect(stale.off).toBe(10)
  })

  it('fail when leadership is lost before the round is acknowledged, so the client retries elsewhere', () => {
    const { c, leader } = stable(4)
    c.isolate(leader)
    const r = read(c, leader)
    c.tick(2000)
    const outcome = c.outcomes.get(r)
    expect(outcome?.kind).toBe('rejected')
    expect((outcome as { error: Error }).error.name).toBe('NotLeaderError')
  })

  it('survive a lost round: a later heartbeat (a higher round) confirms it', () => {
    const { c, leader, followers } = stable(5)
    let dropped = 0
    // Drop the first read round's heartbeats to every follower.
    c.filter = (e) => {
      if (e.from === leader && followers.includes(e.to) && dropped < followers.length) {
        dropped++
        return false
      }
      return true
    }
    const r = read(c, leader)
    c.tick(10)
    expect(c.outcomes.get(r)).toBeUndefined()
    c.filter = undefined
    c.tick(200)
    expect(c.outcomes.get(r)?.kind).toBe('read')
  })
})
