// InstallSnapshot under steady writes (§7; etcd-io/raft's PendingSnapshot):
// a follower behind compaction catches up while the leader keeps writing and
// snapshotting every 10 entries, with no transfer started over.
import type { NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { snapshotTesting } from '../src/snapshot-transfer.js'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

afterEach(() => {
  snapshotTesting.oldTransfer = false
})

interface SnapshotStats {
  started: number
  completed: number
  chunks: number
  restarts: number
}

const stats = (c: TestCluster, id: NodeId) => c.node(id).status.detail!['snapshots'] as SnapshotStats
const progressState = (c: TestCluster, leader: NodeId, id: NodeId) =>
  ((c.node(leader).status.detail!['progress'] as Record<string, { state: string }>)[id]?.state ?? 'none')

/**
 * 3 nodes, 2 ms one-way latency, snapshots every 10 entries, 64-byte chunks.
 * A follower is cut off while 400 entries are written, then healed while
 * the leader keeps writing 4 entries every millisecond for `writeMs`.
 * Returns when (if) the follower caught up while the writes went on.
 */
function catchUpUnderLoad(seed: number, writeMs: number) {
  const c = new TestCluster(['a', 'b', 'c'], { seed, latencyMs: 2, raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 64 } })
  c.startAll()
  const leader = c.waitForLeader()
  const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
  c.tick(20)
  c.isolate(slow)
  let n = 0
  for (let t = 0; t < 100; t++) {
    for (let i = 0; i < 4; i++) c.propose(leader, `v${n++}`)
    c.tick(1)
  }
  c.tick(20)
  const behind = c.node(leader).status.commitIndex
  expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(c.node(slow).status.lastIndex + 1) // compacted past it
  c.heal()
  let caughtUpAt: number | undefined
  const healedAt = c.now
  for (let t = 0; t < writeMs; t++) {
    for (let i = 0; i < 4; i++) c.propose(leader, `v${n++}`)
    c.tick(1)
    // Caught up: past everything written before the heal, and back on plain log replication.
    if (
      caughtUpAt === undefined &&
      c.node(slow).appliedIndex >= behind &&
      progressState(c, leader, slow) === 'replicate' &&
      c.node(slow).appliedIndex >= c.node(leader).status.commitIndex - 40
    )
      caughtUpAt = c.now - healedAt
  }
  const writing = { leaderCommit: c.node(leader).status.commitIndex, slowApplied: c.node(slow).appliedIndex }
  c.tick(300) // writes stopped
  return { c, leader, slow, caughtUpAt, writing, stats: stats(c, leader) }
}

describe('§7 snapshot catch-up under steady writes', () => {
  it('a follower behind compaction catches up while writes continue, with no transfer started over', () => {
    for (const seed of [1, 2, 3]) {
      const { c, leader, slow, caughtUpAt, writing, stats } = catchUpUnderLoad(seed, 300)
      expect(caughtUpAt, `seed ${seed}: caught up while writing`).toBeDefined()
      expect(caughtUpAt!).toBeLessThan(100)
      expect(stats.restarts).toBe(0)
      expect(stats.completed).toBeGreaterThanOrEqual(1)
      expect(stats.started).toBe(stats.completed)
      // Still in step at the end of the writes, and identical once they stop.
      expect(writing.slowApplied).toBeGreaterThan(writing.leaderCommit - 40)
      expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
    }
  })

  it('with the old transfer (switched off) it starts over again and again and only catches up after the writes stop', () => {
    snapshotTesting.oldTransfer = true
    const { c, leader, slow, caughtUpAt, stats } = catchUpUnderLoad(1, 300)
    expect(caughtUpAt).toBeUndefined()
    expect(stats.restarts).toBeGreaterThan(10)
    // Once the writes stop, the leader's snapshot stays put and a transfer finishes.
    c.runUntil(() => c.node(slow).appliedIndex === c.node(leader).appliedIndex, 20_000)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })

  it('chunks are pipelined within the in-flight window instead of one per round trip', () => {
    const c = new TestCluster(['a', 'b', 'c'], { latencyMs: 5, raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 32, maxInflightMessages: 4 } })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.tick(20)
    c.isolate(slow)
    c.tick(200) // silent for over an election timeout: the leader compacts past it
    for (let i = 0; i < 30; i++) c.propose(leader, `value-${i}`)
    c.tick(50)
    let inFlight = 0
    let maxInFlight = 0
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type === MessageType.Snapshot) maxInFlight = Math.max(maxInFlight, ++inFlight)
      if (m.type === MessageType.SnapshotResponse) inFlight--
      return true
    }
    c.heal()
    c.tick(500)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
    expect(maxInFlight).toBe(4) // the window: maxInflightMessages chunks
  })

  it('a transfer broken by a partition resumes at the last acknowledged chunk, with the snapshot it started with', () => {
    const c = new TestCluster(['a', 'b', 'c'], { latencyMs: 1, raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 32, maxInflightMessages: 2 } })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.tick(20)
    c.isolate(slow)
    c.tick(200)
    for (let i = 0; i < 40; i++) c.propose(leader, `value-${i}`)
    c.tick(50)
    const sent: Array<{ index: number; offset: number }> = []
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type === MessageType.Snapshot && e.to === slow) sent.push({ index: m.index, offset: m.offset })
      return true
    }
    c.heal()
    c.runUntil(() => sent.length >= 6, 100)
    c.isolate(slow) // broken mid-transfer
    const pinned = sent[0]!.index
    const reached = Math.max(...sent.map((s) => s.offset))
    c.tick(200) // silent for an election timeout: the leader no longer holds compaction back for it
    for (let i = 0; i < 20; i++) c.propose(leader, `more-${i}`) // and takes newer snapshots
    c.tick(50)
    expect(c.node(leader).storage.snapshot()!.index).toBeGreaterThan(pinned)
    sent.length = 0
    c.heal()
    c.tick(300)
    // Resumed with the same snapshot, not from 0, then finished.
    expect(sent[0]!.index).toBe(pinned)
    expect(sent[0]!.offset).toBeGreaterThan(0)
    expect(sent[0]!.offset).toBeLessThanOrEqual(reached)
    expect(sent.filter((s) => s.index === pinned && s.offset === 0)).toEqual([])
    expect(stats(c, leader).restarts).toBe(0)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })

  it('a lost chunk in the pipeline is resent from the follower’s offset once', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 32, maxInflightMessages: 8 } })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(slow)
    c.tick(200)
    for (let i = 0; i < 30; i++) c.propose(leader, `value-${i}`)
    c.tick(50)
    let dropped = 0
    const resentAt: number[] = []
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type !== MessageType.Snapshot) return true
      if (m.offset === 64) {
        if (dropped === 0) {
          dropped++
          return false
        }
        resentAt.push(m.offset)
      }
      return true
    }
    c.heal()
    c.tick(300)
    expect(dropped).toBe(1)
    expect(resentAt).toEqual([64]) // one rewind despite several duplicate acknowledgements
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })
})
