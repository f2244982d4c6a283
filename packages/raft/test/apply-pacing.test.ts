// Apply pacing (etcd's MaxCommittedSizePerReady): a node handed a huge commit
// range applies it in bounded slices, one batch each, and keeps answering
// heartbeats, appends and votes in between.
import type { NodeId } from '@synod/core'
import { describe, expect, it } from 'vitest'
import type { RaftOptions } from '../src/index.js'
import { decode, MessageType, seedLog, TestCluster } from './helpers/cluster.js'

const BACKLOG = 100_000

/**
 * Every node's log holds 100k entries of term 1, none known committed. The first leader commits its
 * no-op, which commits the whole backlog on every node at once.
 */
function backlogCluster(raft: Partial<RaftOptions>) {
  const ids = ['a', 'b', 'c']
  const c = new TestCluster(ids, { seed: 7, raft: { electionTimeoutMs: 150, ...raft } })
  const terms = new Array<number>(BACKLOG).fill(1)
  for (const id of ids) seedLog(c.node(id).storage, terms, 1)
  // The largest number of entries one node applied in a single batch.
  let largestSlice = 0
  const batchesWithApplies = new Map<NodeId, number>()
  for (const id of ids) {
    const node = c.node(id)
    const batch = node.batch.bind(node)
    node.batch = (inputs) => {
      const before = node.appliedIndex
      batch(inputs)
      const applied = node.appliedIndex - before
      if (applied > 0) batchesWithApplies.set(id, (batchesWithApplies.get(id) ?? 0) + 1)
      largestSlice = Math.max(largestSlice, applied)
    }
  }
  return { c, ids, largestSlice: () => largestSlice, batchesWithApplies }
}

/** Raft's applied index (the test state machine only counts commands, not the leader's no-op). */
const appliedOf = (c: TestCluster, id: NodeId) => c.node(id).status.detail!['applied'] as number
const applying = (c: TestCluster, id: NodeId) => appliedOf(c, id) < c.node(id).status.commitIndex

describe('apply pacing (maxApplyEntriesPerBatch)', () => {
  it('a follower handed 100k committed entries applies them over several batches and answers heartbeats and appends in between', () => {
    const { c, largestSlice, batchesWithApplies } = backlogCluster({ maxApplyEntriesPerBatch: 1000 })
    c.startAll()
    const leader = c.waitForLeader()
    const followers = ['a', 'b', 'c'].filter((id) => id !== leader)
    // Whenever a follower answers the leader while it still has committed entries to apply.
    let answeredWhileApplying = 0
    let heartbeatsWhileApplying = 0
    c.filter = (e) => {
      if (followers.includes(e.from) && applying(c, e.from)) {
        answeredWhileApplying++
        if (decode(e.bytes).type === MessageType.HeartbeatResponse) heartbeatsWhileApplying++
      }
      return true
    }
    c.runUntil(() => followers.some((id) => applying(c, id)), 500)
    // A new write is appended by the followers and committed while they are still working through the backlog.
    const write = c.propose(leader, 'during')
    c.runUntil(() => c.node(leader).status.commitIndex >= BACKLOG + 2, 100)
    expect(followers.every((id) => applying(c, id))).toBe(true)
    c.runUntil(() => c.outcomes.get(write)?.kind === 'committed', 2000) // answered once the leader applied it
    c.runUntil(() => ['a', 'b', 'c'].every((id) => !applying(c, id) && appliedOf(c, id) >= BACKLOG + 2), 5000)
    expect(largestSlice()).toBeLessThanOrEqual(1000)
    for (const id of followers) expect(batchesWithApplies.get(id)!).toBeGreaterThanOrEqual(BACKLOG / 1000)
    expect(heartbeatsWhileApplying).toBeGreaterThan(0)
    expect(answeredWhileApplying).toBeGreaterThan(heartbeatsWhileApplying)
    expect(c.leaders()).toEqual([leader]) // nobody campaigned meanwhile
    for (const id of followers) expect(c.appliedCommands(id)).toEqual(c.appliedCommands(leader))
  })

  it('without pacing (an unbounded slice) the whole range is applied in one batch', () => {
    const { c, largestSlice } = backlogCluster({ maxApplyEntriesPerBatch: 1e9, maxApplyBytesPerBatch: 1e12 })
    c.startAll()
    c.waitForLeader()
    c.tick(50)
    expect(largestSlice()).toBeGreaterThanOrEqual(BACKLOG)
  })

  it('the default (10000 entries) paces a 100k range into at least 10 batches per node', () => {
    const { c, largestSlice, batchesWithApplies } = backlogCluster({})
    c.startAll()
    c.waitForLeader()
    c.runUntil(() => ['a', 'b', 'c'].every((id) => appliedOf(c, id) >= BACKLOG + 1), 2000)
    expect(largestSlice()).toBeLessThanOrEqual(10_000)
    for (const id of ['a', 'b', 'c']) expect(batchesWithApplies.get(id)!).toBeGreaterThanOrEqual(10)
  })

  it('a node still applying answers a vote request, and finishes applying before it campaigns itself', () => {
    const { c } = backlogCluster({ maxApplyEntriesPerBatch: 100 })
    c.startAll()
    const leader = c.waitForLeader()
    c.runUntil(() => ['a', 'b', 'c'].every((id) => id === leader || c.node(id).status.commitIndex > BACKLOG), 500)
    // The leader dies while the followers have ~100k entries (1000 slices) to apply.
    c.node(leader).crash()
    const followers = ['a', 'b', 'c'].filter((id) => id !== leader)
    let votesAnsweredWhileApplying = 0
    let campaignedWhileApplying = 0
    c.filter = (e) => {
      const type = decode(e.bytes).type
      if (type === MessageType.VoteResponse && applying(c, e.from)) votesAnsweredWhileApplying++
      if (type === MessageType.Vote && applying(c, e.from)) campaignedWhileApplying++
      return true
    }
    c.runUntil(() => c.leaders().length > 0, 3000)
    const next = c.leaders()[0]!
    expect(followers).toContain(next)
    expect(votesAnsweredWhileApplying).toBeGreaterThan(0)
    expect(campaignedWhileApplying).toBe(0)
    c.runUntil(() => followers.every((id) => !applying(c, id)), 5000)
    expect(c.appliedCommands(followers[0]!)).toEqual(c.appliedCommands(followers[1]!))
  })

  it('rejects a non-positive bound', () => {
    expect(() => new TestCluster(['a'], { raft: { maxApplyEntriesPerBatch: 0 } }).startAll()).toThrow(/maxApplyEntriesPerBatch/)
  })
})
