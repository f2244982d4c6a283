// Leader election by ballot with randomized timeouts (Paxos Made Simple §3:
// "a distinguished proposer"; Paxos Made Live §2.2: leases/timeouts keep two
// proposers from duelling forever).
import { describe, expect, it } from 'vitest'
import { Ballots } from '../src/index.js'
import { forceCampaign, TestCluster } from './helpers/cluster.js'

describe('ballots', () => {
  it('are totally ordered (round, node) pairs, never shared between nodes', () => {
    const b = new Ballots(['c', 'a', 'b'])
    const seen = new Map<number, string>()
    for (const id of ['a', 'b', 'c']) {
      let ballot = 0
      for (let i = 0; i < 50; i++) {
        const next = b.next(id, ballot)
        expect(next).toBeGreaterThan(ballot)
        expect(b.owner(next)).toBe(id)
        expect(seen.get(next) ?? id).toBe(id)
        seen.set(next, id)
        ballot = next
      }
    }
    // Same round: ordered by node; a higher round beats every node of a lower one.
    expect(b.next('b', 0)).toBeLessThan(b.next('c', 0))
    expect(b.round(b.next('b', 0))).toBe(b.round(b.next('c', 0)))
    expect(b.next('a', b.next('c', 0))).toBeGreaterThan(b.next('c', 0))
    expect(b.round(b.next('a', b.next('c', 0)))).toBe(b.round(b.next('c', 0)) + 1)
  })
})

describe('election', () => {
  it('one leader per ballot, and the leader is stable while it heartbeats', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'])
    c.startAll()
    const leader = c.waitForLeader()
    const ballot = c.node(leader).status.term
    c.tick(3000)
    expect(c.leaders()).toEqual([leader])
    expect(c.node(leader).status.term).toBe(ballot)
    for (const leaders of c.leadersPerTerm().values()) expect(leaders.size).toBe(1)
  })

  it('dueling proposers converge: every node campaigning in the same millisecond still yields one leader that decides', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const ids = ['a', 'b', 'c', 'd', 'e']
      const c = new TestCluster(ids, { seed, latencyMs: 3 })
      c.startAll()
      c.waitForLeader()
      c.tick(50)
      // Everyone starts phase 1 at once, three times in a row: ballots collide and preempt each other.
      for (let round = 0; round < 3; round++) {
        for (const id of ids) forceCampaign(c, id)
        c.tick(2)
      }
      // Settled: one leader, holding the highest ballot any node has promised.
      const settled = () => {
        const leaders = c.leaders()
        return leaders.length === 1 && ids.every((id) => c.node(id).status.term === c.node(leaders[0]!).status.term)
      }
      c.runUntil(settled, 3000)
      const leader = c.leaders()[0]!
      const client = c.propose(leader, `s${seed}`)
      c.runUntil(() => c.outcomes.get(client)?.kind === 'committed', 3000)
      c.tick(300)
      expect(c.leaders()).toEqual([leader])
      for (const leaders of c.leadersPerTerm().values()) expect(leaders.size).toBe(1)
    }
  })

  it('a crashed leader is replaced within a few election timeouts, and the new ballot is higher', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const first = c.waitForLeader()
    const b1 = c.node(first).status.term
    c.node(first).crash()
    const at = c.now
    c.runUntil(() => c.leaders().length === 1, 2000)
    const second = c.leaders()[0]!
    expect(second).not.toBe(first)
    expect(c.node(second).status.term).toBeGreaterThan(b1)
    expect(c.now - at).toBeLessThan(4 * 150)
  })

  function lonerReturns(preVote: boolean) {
    const c = new TestCluster(['a', 'b', 'c'], { paxos: { preVote } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const loner = ['a', 'b', 'c'].find((id) => id !== leader)!
    const leaderBallot = c.node(leader).status.term
    c.isolate(loner)
    c.tick(3000) // ~10 election timeouts alone
    const lonerBallot = c.node(loner).status.term
    c.heal()
    c.tick(1000)
    return { c, leader, leaderBallot, lonerBallot }
  }

  it('pre-vote: an isolated node does not raise its ballot, and the leader keeps leading when it returns', () => {
    const { c, leader, leaderBallot, lonerBallot } = lonerReturns(true)
    expect(lonerBallot).toBe(leaderBallot)
    expect(c.leaders()).toEqual([leader])
    expect(c.node(leader).status.term).toBe(leaderBallot)
  })

  it('without pre-vote the returning node’s higher ballot deposes the healthy leader', () => {
    const { c, leaderBallot, lonerBallot } = lonerReturns(false)
    expect(lonerBallot).toBeGreaterThan(leaderBallot)
    expect(Math.max(...['a', 'b', 'c'].map((id) => c.node(id).status.term))).toBeGreaterThan(leaderBallot)
  })

  it('check-quorum: a leader cut off from the majority steps down, and clients there get NotLeaderError', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    c.isolate(leader)
    c.tick(400)
    expect(c.node(leader).status.role).not.toBe('leader')
    const client = c.propose(leader, 'x')
    expect(c.outcomes.get(client)?.kind).toBe('rejected')
  })
})
