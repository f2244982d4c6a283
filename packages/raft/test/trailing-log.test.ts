// The trailing log after compaction (etcd's SnapshotCatchUpEntries): a
// follower a little behind the compaction point is caught up from the log,
// not with a whole snapshot; and a transfer is left as soon as the log covers
// the gap (etcd: Match + 1 >= firstIndex).
import { type NodeId, TrailingLog } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { afterEach, describe, expect, it } from 'vitest'
import { snapshotTesting } from '../src/snapshot-transfer.js'
import { decode, MessageType, TestCluster, text } from './helpers/cluster.js'

afterEach(() => {
  snapshotTesting.stayInSnapshotUntilInstalled = false
})

interface SnapshotStats {
  started: number
  completed: number
  chunks: number
  restarts: number
  abandoned: number
}
const stats = (c: TestCluster, id: NodeId) => c.node(id).status.detail!['snapshots'] as SnapshotStats
const installs = (c: TestCluster, id: NodeId) => c.node(id).events.filter((e) => e.type === 'custom' && e.name === 'snapshot-installed').length

/**
 * A follower misses 60 writes (snapshots every 10 entries) by a partition or a crash, then comes back.
 * Returns the leader's snapshot counters and whether the follower caught up.
 */
function behindCompaction(how: 'partition' | 'restart', catchUpEntries: number | undefined) {
  const raft = catchUpEntries === undefined ? { snapshotThreshold: 10 } : { snapshotThreshold: 10, snapshotCatchUpEntries: catchUpEntries }
  const c = new TestCluster(['a', 'b', 'c'], { seed: 2, raft })
  c.startAll()
  const leader = c.waitForLeader()
  const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
  for (let i = 0; i < 5; i++) c.propose(leader, `early${i}`)
  c.tick(20)
  if (how === 'partition') c.isolate(slow)
  else c.node(slow).crash()
  // Longer than an election timeout, so the leader stops holding compaction back for it.
  for (let i = 0; i < 60; i++) {
    c.propose(leader, `v${i}`)
    c.tick(4)
  }
  c.tick(20)
  expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(c.node(slow).storage.lastIndex() + 1) // compacted past it
  if (how === 'partition') c.heal()
  else c.node(slow).start()
  c.tick(300)
  const caughtUp = c.appliedCommands(slow).join() === c.appliedCommands(leader).join()
  return { c, leader, slow, stats: stats(c, leader), caughtUp }
}

describe('trailing log after compaction (snapshotCatchUpEntries)', () => {
  for (const how of ['partition', 'restart'] as const) {
    it(`a follower back after a ${how} a little behind compaction catches up from the log: no snapshot sent`, () => {
      const { c, slow, stats, caughtUp } = behindCompaction(how, undefined)
      expect(caughtUp).toBe(true)
      expect(stats.started).toBe(0)
      expect(installs(c, slow)).toBe(0)
      expect(c.node(slow).storage.lastIndex()).toBeGreaterThan(60)
    })

    it(`without the window (snapshotCatchUpEntries 0) the same follower after a ${how} is sent a snapshot`, () => {
      const { c, slow, stats, caughtUp } = behindCompaction(how, 0)
      expect(caughtUp).toBe(true)
      expect(stats.started).toBeGreaterThanOrEqual(1)
      expect(installs(c, slow)).toBeGreaterThanOrEqual(1)
    })
  }

  it('a follower further behind than the window is sent a snapshot', () => {
    const { c, slow, stats, caughtUp } = behindCompaction('partition', 20)
    expect(caughtUp).toBe(true)
    expect(stats.started).toBeGreaterThanOrEqual(1)
    expect(installs(c, slow)).toBeGreaterThanOrEqual(1)
  })

  it('keeps at most the configured entries and bytes, joined to the log, and forgets a window that no longer joins it', () => {
    const storage = memoryStorage()
    storage.append(Array.from({ length: 30 }, (_, i) => ({ index: i + 1, term: 1, data: text('x'.repeat(10)) })))
    const window = new TrailingLog(8, 0)
    window.retain(storage, 10)
    storage.saveSnapshot({ index: 10, term: 1, data: new Uint8Array(0), meta: new Uint8Array(0) })
    expect([window.firstIndex(), window.lastIndex()]).toEqual([3, 10])
    window.retain(storage, 13) // joins the kept entries
    storage.saveSnapshot({ index: 13, term: 1, data: new Uint8Array(0), meta: new Uint8Array(0) })
    expect([window.firstIndex(), window.lastIndex()]).toEqual([6, 13])
    expect(window.term(6)).toBe(1)
    expect(window.term(5)).toBeUndefined()
    expect(window.slice(6, 20, 25).map((e) => e.index)).toEqual([6, 7]) // 10 bytes each, at most 25 bytes (at least one)
    const bytes = new TrailingLog(100, 35)
    bytes.retain(storage, 20)
    expect([bytes.firstIndex(), bytes.lastIndex()]).toEqual([18, 20])
    storage.saveSnapshot({ index: 20, term: 1, data: new Uint8Array(0), meta: new Uint8Array(0) })
    bytes.retain(storage, 22) // joins, and drops its oldest entries to stay within 35 bytes
    expect([bytes.firstIndex(), bytes.lastIndex()]).toEqual([20, 22])
    const big = new TrailingLog(100, 5)
    big.retain(storage, 25) // not even the newest entry fits: nothing kept
    expect(big.size).toBe(0)
    window.clear()
    expect(window.firstIndex()).toBeUndefined()
    expect(window.slice(6, 8, 100)).toEqual([])
    const none = new TrailingLog(0, 0)
    none.retain(storage, 20)
    expect(none.size).toBe(0)
  })
})

describe('leaving a snapshot transfer once the log covers the gap', () => {
  /**
   * The follower's acknowledgements are held back, so the leader thinks it is far behind; then the
   * follower stops receiving appends (at about index 47) while the leader writes on and compacts
   * (window 30: its log and window start near 31). When appends flow again the follower rejects one,
   * the leader drops to probing at its stale match + 1, below the window, and starts a snapshot
   * (chunks held back too). Then the held acknowledgements arrive: the follower is behind that
   * snapshot but inside the leader's trailing window.
   */
  function lateAcknowledgements() {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 4, raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 30, snapshotChunkBytes: 64 } })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.tick(20)
    const held: Array<Parameters<TestCluster['enqueue']>[0][number]> = []
    let dropAppends = false
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (e.from === slow && m.type === MessageType.AppendResponse && !m.reject) {
        held.push(e)
        return false
      }
      if (e.to === slow && m.type === MessageType.Append && dropAppends) return false
      if (e.to === slow && m.type === MessageType.Snapshot) return false
      return true
    }
    for (let i = 0; i < 60; i++) {
      if (i === 45) dropAppends = true
      c.propose(leader, `v${i}`)
      c.tick(4)
    }
    dropAppends = false
    c.propose(leader, 'rejected')
    c.tick(60)
    const progress = () => (c.node(leader).status.detail!['progress'] as Record<string, { state: string; match: number; pendingSnapshot?: number }>)[slow]!
    expect(progress().state).toBe('snapshot')
    const catchUpFirst = c.node(leader).status.detail!['catchUpFirstIndex'] as number
    const lastHeld = Math.max(...held.map((e) => (decode(e.bytes) as { index: number }).index))
    expect(lastHeld + 1).toBeGreaterThanOrEqual(catchUpFirst) // the window covers the gap
    expect(lastHeld).toBeLessThan(progress().pendingSnapshot!) // the follower is behind the snapshot being sent
    expect(progress().match + 1).toBeLessThan(catchUpFirst) // …and the leader does not know it yet
    const chunksBefore = stats(c, leader).chunks
    c.filter = undefined
    c.enqueue(held.splice(0))
    c.tick(300)
    return { c, leader, slow, stats: stats(c, leader), chunksAfter: stats(c, leader).chunks - chunksBefore }
  }

  it('a late acknowledgement inside the trailing window ends the transfer and the follower catches up from the log', () => {
    const { c, leader, slow, stats, chunksAfter } = lateAcknowledgements()
    expect(stats.abandoned).toBe(1)
    expect(stats.completed).toBe(0)
    expect(chunksAfter).toBe(0)
    expect(installs(c, slow)).toBe(0)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })

  it('staying in snapshot state until the snapshot is acknowledged (switched off) keeps sending the snapshot', () => {
    snapshotTesting.stayInSnapshotUntilInstalled = true
    const { c, leader, slow, stats, chunksAfter } = lateAcknowledgements()
    expect(stats.abandoned).toBe(0)
    expect(stats.completed).toBe(1)
    expect(chunksAfter).toBeGreaterThan(0)
    expect(installs(c, slow)).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })
})
