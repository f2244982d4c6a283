// The leader writes its log in parallel with sending it (dissertation §10.2.1):
// its AppendEntries leave before its own sync, it counts itself toward a commit
// quorum only once its copy is durable, and followers still acknowledge only
// what is on their disk. Direct-drive tests (the protocol test kit) pin each
// rule down, and each broken variant (parallelAppendTesting) is shown to lose
// an acknowledged write.
import { afterEach, describe, expect, it } from 'vitest'
import { parallelAppendTesting } from '../src/durable-log.js'
import { TestCluster, type TestNode } from './helpers/cluster.js'

afterEach(() => {
  parallelAppendTesting.countSelfBeforeSync = false
  parallelAppendTesting.ackBeforeSync = false
})

/**
 * Durability of acknowledged writes, once every node runs and the cluster has settled: the write
 * 'w', if its client was answered, is in every node's applied commands. (A noop or another command
 * at its index is caught by the kit's agreement check, which throws, only when it is a command.)
 */
function lostWrite(cluster: TestCluster, acknowledged: unknown): string | undefined {
  if (acknowledged === undefined) return undefined
  const without = ['n1', 'n2', 'n3'].filter((id) => !cluster.appliedCommands(id).includes('w'))
  if (!cluster.appliedCommands(without[0] ?? 'n1').includes('after')) throw new Error('the cluster did not settle')
  return without.length === 0 ? undefined : `acknowledged write lost: ${without.join(', ')} never applied it`
}

function durableIndex(node: TestNode): number {
  return node.status.detail!['durableIndex'] as number
}

/** A settled 3-node cluster: its leader and two followers. */
function settled(seed = 1, options: { appendInParallel?: boolean } = {}) {
  const cluster = new TestCluster(['n1', 'n2', 'n3'], { seed, raft: options })
  cluster.startAll()
  const leader = cluster.waitForLeader()
  cluster.tick(100)
  const [f1, f2] = ['n1', 'n2', 'n3'].filter((id) => id !== leader) as [string, string]
  return { cluster, leader, f1, f2 }
}

/**
 * The leader's disk is slow (its sync held) and it can reach one follower: that follower's copy
 * alone is not a quorum of three, so the write must wait for the leader's own sync.
 */
function oneFollowerAckedLeaderNotDurable(seed = 1) {
  const { cluster, leader, f1, f2 } = settled(seed)
  cluster.cut(leader, [f2])
  const L = cluster.node(leader)
  L.holdSync = true
  const client = cluster.propose(leader, 'w')
  cluster.deliver()
  return { cluster, leader, f1, f2, L, client, index: L.storage.lastIndex() }
}

describe('Raft: the leader appends to its own log in parallel with replication', () => {
  it('sends AppendEntries before its own sync and counts itself only once its copy is durable', () => {
    const { cluster, f1, L, client, index } = oneFollowerAckedLeaderNotDurable()
    // The overlap: the follower holds the entry durably while the leader's write is still pending.
    expect(cluster.node(f1).storage.lastIndex()).toBe(index)
    expect(cluster.node(f1).storage.hasPendingWrites()).toBe(false)
    expect(L.storage.hasPendingWrites()).toBe(true)
    expect(durableIndex(L)).toBe(index - 1)
    // One durable copy out of three: not committed, not answered.
    expect(L.status.commitIndex).toBe(index - 1)
    expect(cluster.outcomes.has(client)).toBe(false)
    // The leader's sync completes: now two durable copies.
    L.releaseSync()
    cluster.deliver()
    expect(durableIndex(L)).toBe(index)
    expect(cluster.outcomes.get(client)).toEqual({ kind: 'committed', index })
  })

  it('commits on a quorum of followers alone while its own sync is still pending (the paper: with or without the leader)', () => {
    const { cluster, leader } = settled()
    const L = cluster.node(leader)
    L.holdSync = true
    const client = cluster.propose(leader, 'w')
    cluster.deliver()
    const index = L.storage.lastIndex()
    expect(durableIndex(L)).toBe(index - 1)
    expect(cluster.outcomes.get(client)).toEqual({ kind: 'committed', index })
  })

  it('with appendInParallel false, appends leave only after the leader syncs (the old order)', () => {
    const { cluster, leader, f1, f2 } = settled(1, { appendInParallel: false })
    cluster.cut(leader, [f2])
    const L = cluster.node(leader)
    L.holdSync = true
    cluster.propose(leader, 'w')
    cluster.deliver()
    expect(cluster.node(f1).storage.lastIndex()).toBe(L.storage.lastIndex() - 1)
  })

  it('defence off: counting the leader before its sync commits on one durable copy', () => {
    parallelAppendTesting.countSelfBeforeSync = true
    const { cluster, L, client, index } = oneFollowerAckedLeaderNotDurable()
    expect(L.storage.hasPendingWrites()).toBe(true)
    expect(cluster.outcomes.get(client)).toEqual({ kind: 'committed', index })
  })

  /**
   * After the write: the leader crashes (losing what it had not synced), the follower that holds
   * the write is cut off, and the restarted leader and the other follower go on without it.
   * Returns the write's outcome and the violation seen (an acknowledged write missing, or two commands at one index).
   */
  function crashLeaderAndGoOnWithout(countSelfBeforeSync: boolean) {
    parallelAppendTesting.countSelfBeforeSync = countSelfBeforeSync
    const { cluster, f1, L, client, index } = oneFollowerAckedLeaderNotDurable()
    const acknowledged = cluster.outcomes.get(client)
    L.crash()
    cluster.heal()
    cluster.isolate(f1)
    L.start()
    let violation: string | undefined
    try {
      const next = cluster.waitForLeader()
      cluster.propose(next, 'after')
      cluster.tick(300)
      cluster.heal()
      cluster.tick(300)
      violation = lostWrite(cluster, acknowledged)
    } catch (error) {
      violation = String(error)
    }
    return { acknowledged, violation, index }
  }

  it('a leader crash before its sync loses no acknowledged write', () => {
    const { acknowledged, violation } = crashLeaderAndGoOnWithout(false)
    expect(acknowledged).toBeUndefined()
    expect(violation).toBeUndefined()
  })

  it('defence off: counting the leader before its sync loses an acknowledged write when it crashes', () => {
    const { acknowledged, violation, index } = crashLeaderAndGoOnWithout(true)
    expect(acknowledged).toEqual({ kind: 'committed', index })
    expect(violation).toMatch(/acknowledged write lost|safety violation at index|re-committed index/)
  })

  it.each([1, 2, 3, 4, 5, 6])('leader crashes after its appends left, before its sync (seed %i): followers keep the write, nobody is answered early', (seed) => {
    const { cluster, leader, f1, f2 } = settled(seed)
    const L = cluster.node(leader)
    L.crashBeforeNextSync = true
    const client = cluster.propose(leader, 'w')
    const index = L.storage.lastIndex() + 1
    cluster.deliver()
    expect(L.running).toBe(false)
    // The appends left before the crash: both followers hold the write durably.
    for (const id of [f1, f2]) expect(cluster.node(id).storage.entry(index)).toBeDefined()
    L.start()
    cluster.runUntil(() => [leader, f1, f2].every((id) => cluster.appliedCommands(id).includes('w')), 3000)
    // Durable on a majority, so committed by the next leader; the crashed leader never answered.
    expect(cluster.outcomes.has(client)).toBe(false)
    expect(new Set([leader, f1, f2].map((id) => cluster.appliedCommands(id).join(',')))).toHaveProperty('size', 1)
  })

  /**
   * Persist before promise on the follower side: a follower acknowledges an append, then crashes
   * before its sync. Returns the write's outcome and whether a node later committed something
   * else at its index (the leader that holds it crashed, the other two went on).
   */
  function followerCrashesAfterAck(ackBeforeSync: boolean) {
    parallelAppendTesting.ackBeforeSync = ackBeforeSync
    const { cluster, leader, f1, f2 } = settled()
    cluster.cut(leader, [f2])
    cluster.node(f1).crashBeforeNextSync = true
    const client = cluster.propose(leader, 'w')
    const index = cluster.node(leader).storage.lastIndex()
    cluster.deliver()
    const acknowledged = cluster.outcomes.get(client)
    cluster.node(leader).crash()
    cluster.heal()
    cluster.node(f1).start()
    let violation: string | undefined
    try {
      const next = cluster.waitForLeader()
      cluster.propose(next, 'after')
      cluster.tick(300)
      cluster.node(leader).start()
      cluster.tick(300)
      violation = lostWrite(cluster, acknowledged)
    } catch (error) {
      violation = String(error)
    }
    return { acknowledged, violation, index }
  }

  it('a follower acknowledges only after its sync: its crash loses no acknowledged write', () => {
    const { acknowledged, violation } = followerCrashesAfterAck(false)
    expect(acknowledged).toBeUndefined()
    expect(violation).toBeUndefined()
  })

  it('defence off: a follower acknowledging before its sync loses an acknowledged write', () => {
    const { acknowledged, violation, index } = followerCrashesAfterAck(true)
    expect(acknowledged).toEqual({ kind: 'committed', index })
    expect(violation).toMatch(/acknowledged write lost|safety violation at index|re-committed index/)
  })
})
