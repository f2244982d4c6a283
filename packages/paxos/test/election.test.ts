// Leader election by ballot with randomized timeouts (Paxos Made Simple §3:
// "a distinguished proposer"; Paxos Made Live §2.2: leases/timeouts keep two
// proposers from duelling forever).
import { describe, expect, it } from 'vitest'
import { acceptorTesting, encodeMessage, MessageType } from '../src/index.js'
import { decode, forceCampaign, TestCluster } from './helpers/cluster.js'

describe('ballots', () => {
  it('each ballot is promised to one node only: with that check off, two candidates lead in the same ballot', () => {
    const run = () => {
      const c = new TestCluster(['a', 'b', 'c'], { paxos: { checkQuorum: false } })
      c.startAll()
      const leader = c.waitForLeader()
      c.tick(60)
      // x and y cannot hear each other; both ask z for the same next ballot, x first.
      const [x, y] = ['a', 'b', 'c'].filter((id) => id !== leader) as [string, string]
      c.cut(x, [y])
      forceCampaign(c, x)
      c.deliver()
      forceCampaign(c, y)
      c.deliver()
      expect(c.node(x).status.term).toBe(c.node(y).status.term)
      return [...c.leadersPerTerm().values()].some((leaders) => leaders.size > 1)
    }
    expect(run()).toBe(false)
    acceptorTesting.ignoreRoundOwner = true
    try {
      expect(run()).toBe(true)
    } finally {
      acceptorTesting.ignoreRoundOwner = false
    }
  })

  it('the promise remembers its owner across a restart', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const ballot = c.node(follower).status.term
    c.node(follower).crash()
    c.node(follower).start()
    const other = ['a', 'b', 'c'].find((id) => id !== leader && id !== follower)!
    const node = c.node(follower)
    c.recordTraffic = true
    node.batch(() => node.paxos.receive(other, encodeMessage({ type: MessageType.Prepare, ballot, watermark: 0, probe: false, force: true })))
    const answer = c.sent.filter((e) => e.from === follower && e.to === other).map((e) => decode(e.bytes))
    expect(answer).toEqual([expect.objectContaining({ type: MessageType.Promise, ballot, ok: false, promised: ballot })])
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
