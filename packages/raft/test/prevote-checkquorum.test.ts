// Dissertation §9.6 (PreVote) and §6.2 (CheckQuorum, leader stickiness).
import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers/cluster.js'

describe('§9.6 PreVote', () => {
  it('a partitioned node that rejoins does not disrupt a healthy leader', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const term = c.node(leader).status.term
    const loner = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(loner)
    c.tick(2000) // many election timeouts: it only ever pre-votes
    expect(c.node(loner).status.term).toBe(term)
    c.heal()
    c.tick(500)
    expect(c.leaders()).toEqual([leader])
    expect(c.node(leader).status.term).toBe(term)
    expect(c.node(loner).status.leader).toBe(leader)
  })

  it('without PreVote and CheckQuorum the same rejoin forces a new election (the problem PreVote solves)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { preVote: false, checkQuorum: false } })
    c.startAll()
    const leader = c.waitForLeader()
    const term = c.node(leader).status.term
    const loner = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(loner)
    c.tick(2000)
    expect(c.node(loner).status.term).toBeGreaterThan(term + 3)
    c.heal()
    c.tick(500)
    expect(c.node(c.waitForLeader()).status.term).toBeGreaterThan(term)
  })

  it('a pre-candidate with a stale log cannot win the pre-vote, so terms do not move', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const term = c.node(leader).status.term
    const loner = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(loner)
    for (let i = 0; i < 5; i++) c.propose(leader, `w${i}`)
    c.tick(1000)
    // The leader dies; the loner (behind) and the up-to-date follower remain.
    c.node(leader).crash()
    c.heal()
    const next = c.waitForLeader(3000)
    expect(next).not.toBe(loner)
    expect(c.node(next).status.term).toBe(term + 1)
  })
})

describe('§6.2 CheckQuorum', () => {
  it('a leader that cannot reach a quorum steps down within about two election timeouts', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(100)
    c.isolate(leader)
    c.tick(2 * 150 + 60)
    expect(c.node(leader).status.role).toBe('follower')
  })

  it('a leader hearing from a quorum keeps leading for a long time', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'])
    c.startAll()
    const leader = c.waitForLeader()
    const term = c.node(leader).status.term
    c.isolate([...c.nodes.keys()].find((id) => id !== leader)!)
    c.tick(3000)
    expect(c.leaders()).toEqual([leader])
    expect(c.node(leader).status.term).toBe(term)
  })
})
