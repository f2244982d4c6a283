// Log replication, after raft_paper_test.go: §5.3 (consistency check, repair), §5.4.2 (Figure 8).
import { NotLeaderError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decode, logTerms, MessageType, seedLog, TestCluster } from './helpers/cluster.js'

/** Figure 7: the leader's log for term 8 and six possible follower logs. */
const figure7Leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
const figure7Followers: Record<string, number[]> = {
  a: [1, 1, 1, 4, 4, 5, 5, 6, 6], // missing entries
  b: [1, 1, 1, 4], // missing many entries
  c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // an extra uncommitted entry
  d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // extra entries of a later term
  e: [1, 1, 1, 4, 4, 4, 4], // missing entries and extra entries of term 4
  f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // extra entries of terms 2 and 3
}

describe('§5.3 log replication', () => {
  for (const [name, followerLog] of Object.entries(figure7Followers)) {
    it(`Figure 7 (${name}): the leader brings a follower's log in line with its own`, () => {
      const c = new TestCluster(['L', 'F', 'X'], { raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 50 } })
      const membership = c.node('L').membership
      c.nodes.delete('L')
      const leader = c.addNode('L', membership, { electionTimeoutMs: 50, heartbeatIntervalMs: 10 })
      seedLog(leader.storage, figure7Leader, 7)
      seedLog(c.node('F').storage, followerLog, 7)
      seedLog(c.node('X').storage, figure7Leader.slice(0, 5), 7)
      c.startAll()
      c.runUntil(() => leader.status.role === 'leader', 2000)
      expect(leader.status.term).toBe(8)
      c.propose('L', 'new')
      c.tick(200)
      // Every follower's log now equals the leader's: the old entries, the no-op and the new entry.
      expect(logTerms(c.node('F').storage)).toEqual([...figure7Leader, 8, 8])
      expect(logTerms(c.node('X').storage)).toEqual([...figure7Leader, 8, 8])
      expect(c.appliedCommands('F').at(-1)).toBe('new')
    })
  }

  it('§5.3 pipelining: the leader sends one AppendEntries per follower for everything proposed in a batch', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const appends: number[] = []
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type === MessageType.Append && e.from === leader) appends.push(m.entries.length)
      return true
    }
    const node = c.node(leader)
    node.batch(() => {
      for (let i = 0; i < 50; i++) node.raft.propose(new TextEncoder().encode(`x${i}`), { id: 10_000 + i })
    })
    c.deliver()
    expect(appends).toEqual([50, 50])
    for (let i = 0; i < 50; i++) expect(c.outcomes.get(10_000 + i)?.kind).toBe('committed')
  })

  it('with forwarding off, followers reject proposals with NotLeaderError naming the leader', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { forwardProposals: false } })
    c.startAll()
    const leader = c.waitForLeader()
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const outcome = c.outcomes.get(c.propose(follower, 'x'))
    expect(outcome?.kind).toBe('rejected')
    const error = (outcome as unknown as { error: NotLeaderError }).error
    expect(error).toBeInstanceOf(NotLeaderError)
    expect(error.leaderHint).toBe(leader)
  })
})

describe('§5.4.2 committing entries from previous terms', () => {
  it('Figure 8: a leader does not commit an entry of an earlier term by counting replicas', () => {
    const c = new TestCluster(['L', 'b', 'c'], { raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 50, maxAppendBytes: 1 } })
    const membership = c.node('L').membership
    c.nodes.delete('L')
    const leader = c.addNode('L', membership, { electionTimeoutMs: 50, heartbeatIntervalMs: 10, maxAppendBytes: 1 })
    seedLog(leader.storage, [1, 2], 2) // entry 2 of term 2 was never committed
    seedLog(c.node('b').storage, [1], 2)
    seedLog(c.node('c').storage, [1], 2)
    // Hide acknowledgements of the new leader's no-op (index 3): the leader only learns that entry 2 is replicated.
    c.filter = (e) => {
      const m = decode(e.bytes)
      return !(m.type === MessageType.AppendResponse && !m.reject && m.index >= 3)
    }
    c.startAll()
    c.runUntil(() => leader.status.role === 'leader', 2000)
    c.tick(100)
    expect(c.node('b').storage.term(2)).toBe(2) // entry 2 is on a majority...
    expect((leader.status.detail?.['progress'] as Record<string, { match: number }>)['b']!.match).toBe(2)
    expect(leader.status.commitIndex).toBe(0) // ...but not committed: it is from term 2, the leader is in term 3
    c.filter = undefined
    c.tick(100)
    expect(leader.status.commitIndex).toBe(3) // committing the no-op of term 3 commits entry 2 too
    expect(c.appliedCommands('c')).toEqual(['t1i1', 't2i2'])
  })

  it('a partitioned old leader cannot commit; its entries are overwritten and its clients told', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { raft: { checkQuorum: false } })
    c.startAll()
    const old = c.waitForLeader()
    c.propose(old, 'before')
    c.tick(20)
    const minority = [old, [...c.nodes.keys()].find((id) => id !== old)!]
    const majority = [...c.nodes.keys()].filter((id) => !minority.includes(id))
    c.partition(minority, majority)
    const lost = c.propose(old, 'lost')
    c.tick(400)
    expect(c.outcomes.has(lost)).toBe(false) // cannot commit with 2 of 5
    const fresh = c.waitForLeader()
    expect(majority).toContain(c.leaders().find((l) => l !== old) ?? fresh)
    const newLeader = c.leaders().find((l) => l !== old)!
    const won = c.propose(newLeader, 'won')
    c.tick(50)
    expect(c.outcomes.get(won)?.kind).toBe('committed')
    c.heal()
    c.tick(300)
    const outcome = c.outcomes.get(lost)
    expect(outcome?.kind).toBe('rejected') // its entry was truncated: it certainly did not commit
    for (const id of c.nodes.keys()) expect(c.appliedCommands(id)).toEqual(['before', 'won'])
  })
})
