// Log compaction and InstallSnapshot, §7.
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

describe('§7 log compaction', () => {
  it('a node snapshots once snapshotThreshold entries were applied and compacts its log', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { snapshotThreshold: 10 } })
    c.startAll()
    const leader = c.waitForLeader()
    for (let i = 0; i < 25; i++) c.propose(leader, `v${i}`)
    c.tick(100)
    for (const node of c.nodes.values()) {
      expect(node.storage.snapshot()!.index).toBeGreaterThanOrEqual(20)
      expect(node.storage.firstIndex()).toBe(node.storage.snapshot()!.index + 1)
      expect(node.events.some((e) => e.type === 'snapshot')).toBe(true)
    }
  })

  it('a slow follower whose next entries were compacted catches up through a chunked InstallSnapshot', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { snapshotThreshold: 20, snapshotCatchUpEntries: 0, snapshotChunkBytes: 64 } })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.tick(20)
    c.isolate(slow)
    for (let i = 0; i < 60; i++) c.propose(leader, `value-${i}`)
    c.tick(100)
    expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(2)
    let chunks = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.Snapshot) chunks++
      return true
    }
    c.heal()
    c.tick(300)
    expect(chunks).toBeGreaterThan(5)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
    expect(c.node(slow).storage.snapshot()?.index).toBeGreaterThan(0)
    // It keeps up afterwards through normal replication.
    c.propose(leader, 'after')
    c.tick(50)
    expect(c.appliedCommands(slow).at(-1)).toBe('after')
  })

  it('a lost snapshot chunk is resent', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 32 } })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(slow)
    for (let i = 0; i < 30; i++) c.propose(leader, `value-${i}`)
    c.tick(50)
    let dropped = 0
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type === MessageType.Snapshot && m.offset === 64 && dropped < 2) {
        dropped++
        return false
      }
      return true
    }
    c.heal()
    c.tick(500)
    expect(dropped).toBe(2)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })

  it('a restarted node restores from its snapshot and replays the rest of its log', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { snapshotThreshold: 10 } })
    c.startAll()
    const leader = c.waitForLeader()
    for (let i = 0; i < 15; i++) c.propose(leader, `v${i}`)
    c.tick(100)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const before = c.appliedCommands(follower)
    c.node(follower).crash()
    c.node(follower).start()
    c.tick(100)
    expect(c.appliedCommands(follower)).toEqual(before)
  })
})
