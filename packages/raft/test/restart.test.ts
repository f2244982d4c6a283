// Persistence and restart (§5.1 Figure 2 "persistent state"), single-node clusters.
import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers/cluster.js'

describe('crash and restart', () => {
  it('a follower restarts from its persisted term, vote and log and catches up', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    for (let i = 0; i < 5; i++) c.propose(leader, `v${i}`)
    c.tick(20)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const f = c.node(follower)
    const term = f.status.term
    const lastIndex = f.status.lastIndex
    f.crash()
    for (let i = 5; i < 10; i++) c.propose(leader, `v${i}`)
    c.tick(20)
    f.start()
    expect(f.status.term).toBe(term)
    expect(f.status.lastIndex).toBe(lastIndex)
    expect(f.status.commitIndex).toBe(0) // volatile: re-learned from the leader
    c.tick(100)
    expect(c.appliedCommands(follower)).toEqual(c.appliedCommands(leader))
  })

  it('a crash drops unsynced writes; every acknowledged write survives a whole-cluster crash', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const acked = [0, 1, 2, 3, 4].map((i) => c.propose(leader, `v${i}`))
    c.tick(20)
    for (const id of acked) expect(c.outcomes.get(id)?.kind).toBe('committed')
    // Writes made outside a completed batch are not synced and are lost on crash.
    const node = c.node(leader)
    node.raft.propose(new TextEncoder().encode('unsynced'), { id: 99_999 })
    node.raft.flush() // written to storage, but the batch never reached its sync
    expect(node.storage.pendingOperations()).toBeGreaterThan(0)
    for (const n of c.nodes.values()) n.crash()
    expect(node.storage.pendingOperations()).toBe(0)
    for (const n of c.nodes.values()) n.start()
    const next = c.waitForLeader(3000)
    c.propose(next, 'after')
    c.tick(100)
    for (const id of ['a', 'b', 'c']) expect(c.appliedCommands(id)).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'after'])
  })

  it('repeated crashes of random nodes never violate state machine safety', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { seed })
      c.startAll()
      let k = 0
      for (let round = 0; round < 8; round++) {
        const leaders = c.leaders()
        if (leaders.length > 0) for (let i = 0; i < 3; i++) c.propose(leaders[0]!, `s${seed}r${round}i${i}`)
        const victim = ['a', 'b', 'c', 'd', 'e'][(seed * 7 + round * 3) % 5]!
        c.tick(30 + ((k++ * 37) % 100))
        c.node(victim).crash()
        c.tick(200)
        c.node(victim).start()
      }
      // Liveness after the faults stop, and agreement (recordCommit checks safety on every commit).
      const leader = c.waitForLeader(3000)
      c.propose(leader, 'final')
      c.tick(500)
      const expected = c.appliedCommands(leader)
      expect(expected.at(-1)).toBe('final')
      for (const id of c.nodes.keys()) expect(c.appliedCommands(id)).toEqual(expected)
      for (const [, leadersOfTerm] of c.leadersPerTerm()) expect(leadersOfTerm.size).toBe(1)
    }
  })
})

describe('single-node cluster', () => {
  it('leads at once and commits, reads and restarts alone', () => {
    const c = new TestCluster(['solo'])
    c.startAll()
    expect(c.leaders()).toEqual(['solo'])
    const w = c.propose('solo', 'x')
    expect(c.outcomes.get(w)?.kind).toBe('committed')
    const r = c.read('solo')
    expect(c.outcomes.get(r)?.kind).toBe('read')
    c.node('solo').crash()
    c.node('solo').start()
    c.deliver()
    expect(c.leaders()).toEqual(['solo'])
    expect(c.node('solo').status.term).toBe(2)
    expect(c.appliedCommands('solo')).toEqual(['x'])
  })
})
