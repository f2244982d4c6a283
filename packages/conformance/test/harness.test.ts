// The harness on its own, without the checkers: runs are reproducible, the
// correct toy converges, and each broken toy leaves its bug in the record.
import { describe, expect, it } from 'vitest'
import { installNetworkAdversaries } from '../src/adversary.js'
import { Cluster } from '../src/cluster.js'
import { executeScenario } from '../src/execute-scenario.js'
import { kvWorkloadCodec } from '../src/kv-codec.js'
import { scenarioByName, scenarios, scenariosFor } from '../src/scenarios/index.js'
import {
  acksBeforePersistingToy,
  commitsWithoutQuorumToy,
  divergentCommitToy,
  fixedLeaderToy,
  forgetsOnRestartToy,
} from '../src/toys/index.js'
import type { RunRecord } from '../src/types.js'

/** Indexes at which two commits (any nodes, any incarnations) carry different commands. */
function forkedIndexes(record: RunRecord): number {
  const byIndex = new Map<number, Set<string>>()
  for (const c of record.commits) byIndex.set(c.index, (byIndex.get(c.index) ?? new Set()).add(c.digest))
  return [...byIndex.values()].filter((digests) => digests.size > 1).length
}

/** Acknowledged commands missing from some correct node's commits. */
function lostAcknowledged(record: RunRecord): number {
  const byNode = new Map<string, Set<string>>()
  for (const c of record.commits) byNode.set(c.node, (byNode.get(c.node) ?? new Set()).add(c.digest))
  const acked = [...record.acknowledgedCommands.values()]
  return acked.filter((digest) => record.correctNodes.some((node) => !byNode.get(node)?.has(digest))).length
}

const scenario = (name: string) => {
  const found = scenarioByName(name)
  if (found === undefined) throw new Error(`no scenario ${name}`)
  return found
}

describe('scenario catalogue', () => {
  it('has unique names and the required crash and byzantine scenarios', () => {
    const names = scenarios.map((s) => s.name)
    expect(new Set(names).size).toBe(names.length)
    for (const required of [
      'steady-state',
      'leader-crash',
      'leader-isolated-then-healed',
      'minority-partition',
      'majority-partition',
      'flapping-partitions',
      'lossy-network',
      'rolling-crash-restart',
      'crash-all-and-restart',
      'slow-node-catches-up',
      'clock-skew',
      'byzantine-silent',
      'byzantine-twins',
    ])
      expect(names).toContain(required)
    expect(scenariosFor('crash').every((s) => s.faultModel !== 'byzantine')).toBe(true)
    expect(scenariosFor('byzantine').some((s) => s.faultModel === 'byzantine')).toBe(true)
  })
})

describe('executeScenario', () => {
  it('reproduces a run exactly from its seed; another seed runs differently', async () => {
    const run = (seed: number) => executeScenario({ factory: fixedLeaderToy, scenario: scenario('lossy-network'), seed })
    const [a, b, c] = [await run(5), await run(5), await run(6)]
    expect(a.traceHash).toBe(b.traceHash)
    expect(JSON.stringify(a.record.history)).toBe(JSON.stringify(b.record.history))
    expect(c.traceHash).not.toBe(a.traceHash)
  })

  it.each(['steady-state', 'leader-crash', 'lossy-network', 'crash-all-and-restart', 'minority-partition', 'flapping-partitions', 'paused-leader'])(
    'the correct toy converges without forks or lost writes: %s',
    async (name) => {
      const started = performance.now()
      const { record, errors } = await executeScenario({ factory: fixedLeaderToy, scenario: scenario(name), seed: 3 })
      expect(performance.now() - started).toBeLessThan(2000) // typically ~100 ms
      expect(errors).toEqual([])
      expect(record.history.filter((op) => op.outcome === 'ok').length).toBeGreaterThan(100)
      expect(forkedIndexes(record)).toBe(0)
      expect(lostAcknowledged(record)).toBe(0)
      // The final reads (one per key, after the clients stop) completed.
      const finalReads = record.history.filter((op) => op.client >= 4)
      expect(finalReads.map((op) => op.outcome)).toEqual(['ok', 'ok', 'ok'])
      expect(record.endedAt).toBeLessThanOrEqual(record.healedAt + scenario(name).healMs)
    },
  )

  it.each([
    [commitsWithoutQuorumToy, 'leader-isolated-then-healed', 'forks'],
    [divergentCommitToy, 'steady-state', 'forks'],
    [forgetsOnRestartToy, 'leader-crash', 'forks'],
    [acksBeforePersistingToy, 'crash-all-and-restart', 'lost'],
  ] as const)('%s leaves its bug in the record under %s', async (factory, name, symptom) => {
    const { record } = await executeScenario({ factory, scenario: scenario(name), seed: 1 })
    if (symptom === 'forks') expect(forkedIndexes(record)).toBeGreaterThan(0)
    else expect(lostAcknowledged(record)).toBeGreaterThan(0)
  })

  it('records faults, crashes, restarts and leaders on the timeline', async () => {
    const { record } = await executeScenario({ factory: fixedLeaderToy, scenario: scenario('rolling-crash-restart'), seed: 2 })
    const kinds = record.timeline.map((e) => e.kind)
    expect(kinds.filter((k) => k === 'crash')).toHaveLength(3)
    expect(kinds.filter((k) => k === 'restart')).toHaveLength(3)
    expect(record.leaders.map((l) => l.node)).toContain('n1')
    expect(new Set(record.commits.filter((c) => c.node === 'n1').map((c) => c.incarnation))).toEqual(new Set([0, 1]))
  })

  it('keeps a quarter of the operations for the liveness phase', async () => {
    const { record } = await executeScenario({ factory: fixedLeaderToy, scenario: scenario('lossy-network'), seed: 4 })
    expect(record.history.filter((op) => op.invokedAt >= record.healedAt).length).toBeGreaterThan(20)
  })
})

describe('Cluster and adversaries', () => {
  it('refuses more adversaries than the protocol tolerates', () => {
    expect(
      () =>
        new Cluster({
          factory: fixedLeaderToy,
          nodes: 3,
          seed: 1,
          kv: kvWorkloadCodec(),
          adversaries: [
            { index: 0, behaviour: 'silent' },
            { index: 1, behaviour: 'silent' },
          ],
        }),
    ).toThrow(/exceed/)
  })

  it('a silent adversary sends nothing and is not counted as correct', async () => {
    const adversaries = [{ index: 2, behaviour: 'silent' } as const]
    const cluster = new Cluster({ factory: fixedLeaderToy, nodes: 3, seed: 1, kv: kvWorkloadCodec(), adversaries })
    installNetworkAdversaries(cluster, adversaries)
    const delivered: string[] = []
    cluster.simulation.network.setOutboundFilter('n1', (out) => {
      delivered.push(out.to)
      return [out]
    })
    await cluster.start()
    await cluster.simulation.runFor(200)
    expect(cluster.correctAddresses).toEqual(['n1', 'n2'])
    // n3 acks nothing, yet n1 and n2 still form a majority and keep talking.
    expect(delivered.filter((to) => to === 'n3').length).toBeGreaterThan(3)
    expect(cluster.host('n3').node.replica!.counters.get('messages.sent')).toBeGreaterThan(0)
    expect(cluster.simulation.network.stats.sent).toBeGreaterThan(cluster.simulation.network.stats.delivered)
  })

  it('the workload writes unique values through sessions', async () => {
    const { record } = await executeScenario({ factory: fixedLeaderToy, scenario: scenario('steady-state'), seed: 9 })
    const written = record.history.filter((op) => op.kind !== 'read').map((op) => op.input.value!)
    expect(new Set(written).size).toBe(written.length)
    expect(written[0]).toMatch(/^c\d+\.\d+$/)
  })
})
