// The parallel leader append on the real runtime (core's Replica in the
// deterministic simulator, disks that take virtual time to sync): the overlap
// exists and shortens commit latency by one sync, and leader crashes between
// its appends and its sync keep the conformance checkers clean.
import { describeFailures, runScenario, type Scenario } from '@synod/conformance'
import { membershipOf, utf8, type StateMachine } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { Simulation, type SimulatedNode } from '@synod/transport-memory'
import { afterEach, describe, expect, it } from 'vitest'
import { parallelAppendTesting } from '../src/durable-log.js'
import { raft, type RaftOptions } from '../src/index.js'

afterEach(() => {
  parallelAppendTesting.ackBeforeSync = false
})

class CountingMachine implements StateMachine {
  count = 0
  apply(): Uint8Array {
    this.count++
    return new Uint8Array(0)
  }
  query(): Uint8Array {
    return new Uint8Array(0)
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0)
  }
  restore(): void {}
}

const SYNC_MS = 20

async function threeNodes(appendInParallel: boolean) {
  const sim = new Simulation({ seed: 7 })
  const ids = ['n1', 'n2', 'n3']
  const nodes: Array<SimulatedNode<RaftOptions>> = ids.map((id) =>
    sim.addNode<RaftOptions>({
      id,
      factory: raft,
      protocolOptions: { appendInParallel },
      membership: membershipOf(ids),
      storage: memoryStorage(),
      createStateMachine: () => new CountingMachine(),
      syncLatencyMs: SYNC_MS,
    }),
  )
  for (const node of nodes) await node.start()
  const leaderOf = () => nodes.find((n) => n.replica?.status().role === 'leader')
  expect(await sim.runUntil(() => leaderOf() !== undefined, 5000)).toBe(true)
  await sim.runFor(300)
  const leader = leaderOf()!
  return { sim, leader, followers: nodes.filter((n) => n !== leader) }
}

/** One write at a time: the virtual ms from propose to answer, and whether followers held it halfway through the leader's sync. */
async function writes(appendInParallel: boolean, count = 5) {
  const { sim, leader, followers } = await threeNodes(appendInParallel)
  const latencies: number[] = []
  const overlapped: boolean[] = []
  for (let i = 0; i < count; i++) {
    const start = sim.now()
    let answered = false
    void leader.replica!.propose(utf8(`w${i}`)).then(() => (answered = true))
    await sim.runFor(SYNC_MS / 2)
    const index = leader.storage.lastIndex()
    overlapped.push(leader.storage.hasPendingWrites() && followers.every((f) => f.storage.lastIndex() >= index))
    expect(await sim.runUntil(() => answered, 1000)).toBe(true)
    latencies.push(sim.now() - start)
  }
  return { latencies, overlapped }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

describe('Raft parallel append on the simulated runtime', () => {
  it('followers hold the entry while the leader is still syncing it, and a write costs one sync less', async () => {
    const parallel = await writes(true)
    const serial = await writes(false)
    expect(parallel.overlapped.every(Boolean)).toBe(true)
    expect(serial.overlapped.some(Boolean)).toBe(false)
    // Serial: leader sync, then the follower's, plus two network hops. Parallel: the two syncs overlap.
    expect(median(serial.latencies)).toBeGreaterThanOrEqual(2 * SYNC_MS)
    expect(median(parallel.latencies)).toBeLessThan(median(serial.latencies) - SYNC_MS / 2)
    expect(median(parallel.latencies)).toBeGreaterThanOrEqual(SYNC_MS)
  }, 30_000)
})

/** The leader crashes again and again while busy: with slow disks it is almost always between its appends and its sync. */
const leaderCrashesBeforeSync: Scenario = {
  name: 'leader-crash-before-sync',
  description: 'Disks take 15 ms to sync; the leader crashes three times mid-workload and restarts 200 ms later.',
  faultModel: 'crash',
  syncLatencyMs: 15,
  chaos: [300, 800, 1300].flatMap((at, i) => [
    { at, kind: 'crash' as const, target: 'leader' as const, as: `victim${i}` },
    { at: at + 200, kind: 'restart' as const, target: { ref: `victim${i}` } },
  ]),
  chaosMs: 1800,
  healMs: 2000,
  workload: { clients: 6, thinkMs: [0, 5], maxOps: 600 },
}

/**
 * Every node crashes at once, three times, with slow disks and slow links under a light workload:
 * a write answered before the followers' syncs completed (possible only if they acknowledge early)
 * lives on the leader alone, and the followers may elect one of them without it.
 */
const crashAllSlowDisks: Scenario = {
  name: 'crash-all-slow-disks',
  description: 'Disks take 15 ms to sync, links 6-10 ms; the whole cluster crashes three times mid-workload and restarts.',
  faultModel: 'crash',
  syncLatencyMs: 15,
  chaos: [
    { at: 0, kind: 'link-faults', faults: { delay: { kind: 'uniform', minMs: 6, maxMs: 10 } } },
    ...[400, 1000, 1600].flatMap((at) => [
      { at, kind: 'crash-all' as const },
      { at: at + 150, kind: 'restart-all' as const },
    ]),
  ],
  chaosMs: 2000,
  healMs: 2000,
  workload: { clients: 4, thinkMs: [10, 30], maxOps: 400 },
}

describe('Raft parallel append: crashes between the leader’s appends and its sync', () => {
  it.each([1, 2])('leader crashes before its sync, seed %i: every checker passes', async (seed) => {
    const result = await runScenario({ factory: raft, scenario: leaderCrashesBeforeSync, seed })
    expect(result.verdict, describeFailures(result)).toBe('ok')
    if (seed === 1) {
      // Messages sent ahead of the sync keep the run deterministic: the same seed gives the same trace.
      const again = await runScenario({ factory: raft, scenario: leaderCrashesBeforeSync, seed })
      expect(again.traceHash).toBe(result.traceHash)
    }
  }, 60_000)

  // Seeds 1-12 all pass with the defence; without it, seed 2 fails durability (and agreement, stability)
  // and seed 10 linearizability (2026-11-30): the run pins seed 2 both ways.
  it('whole-cluster crashes with slow disks: every checker passes', async () => {
    const result = await runScenario({ factory: raft, scenario: crashAllSlowDisks, seed: 2 })
    expect(result.verdict, describeFailures(result)).toBe('ok')
  }, 60_000)

  it('defence off: followers acknowledging before their sync lose acknowledged writes (the durability checker sees it)', async () => {
    parallelAppendTesting.ackBeforeSync = true
    const result = await runScenario({ factory: raft, scenario: crashAllSlowDisks, seed: 2 })
    const violated = result.checks.filter((c) => c.verdict === 'violation').map((c) => c.checker)
    expect(violated).toContain('durability')
  }, 60_000)
})
