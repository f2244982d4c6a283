// Shrinking: a failing run becomes a smaller run that fails the same way,
// deterministically, with a reproduce command that replays it and a short trace.
import { describe, expect, it } from 'vitest'
import { describeFailures } from '../src/describe-failures.js'
import { faultUnits, reduceScenario, reductionFlags } from '../src/reduce.js'
import { runScenario } from '../src/run-scenario.js'
import type { Scenario } from '../src/scenario.js'
import { scenarioByName } from '../src/scenarios/index.js'
import { shrinkFailure } from '../src/shrink.js'
import {
  acksBeforePersistingToy,
  commitsWithoutQuorumToy,
  divergentCommitToy,
  fixedLeaderToy,
  forgetsOnRestartToy,
  staleReadsToy,
} from '../src/toys/index.js'

const scenario = (name: string) => scenarioByName(name)!

describe('reductions', () => {
  it('group a step that names a node with the steps that refer to it', () => {
    expect(faultUnits(scenario('leader-crash').chaos)).toEqual([[0, 1]])
    expect(faultUnits(scenario('rolling-crash-restart').chaos)).toEqual([[0], [1], [2], [3], [4], [5]])
    expect(faultUnits(scenario('clock-skew').chaos)).toEqual([[0], [1], [2, 3]])
  })

  it('keep the chosen steps, cap the operations and shorten the chaos phase', () => {
    const reduced = reduceScenario(scenario('clock-skew'), { faults: [2, 3], maxOps: 40, chaosMs: 1600 })
    expect(reduced.chaos.map((s) => s.kind)).toEqual(['crash', 'restart'])
    expect(reduced.workload?.maxOps).toBe(40)
    expect(reduced.chaosMs).toBe(1600)
    expect(reduced.name).toBe('clock-skew')
    expect(reductionFlags({ faults: [3, 2], maxOps: 40, chaosMs: 1600 })).toBe('--faults 2,3 --max-ops 40 --chaos-ms 1600')
    expect(reductionFlags({ faults: [] })).toBe('--faults none')
    expect(reduceScenario(scenario('steady-state'), {})).toBe(scenario('steady-state'))
  })

  it('refuse reductions that do not fit the scenario', () => {
    expect(() => reduceScenario(scenario('leader-crash'), { faults: [1] })).toThrow(/refer to 'old-leader'/)
    expect(() => reduceScenario(scenario('leader-crash'), { faults: [2] })).toThrow(/does not exist/)
    expect(() => reduceScenario(scenario('leader-crash'), { chaosMs: 1000 })).toThrow(/not before the end of the chaos phase/)
    expect(() => reduceScenario(scenario('leader-crash'), { maxOps: 0 })).toThrow(/maxOps/)
  })

  it('a reduced run says so in its reproduce command', async () => {
    const result = await runScenario({ factory: fixedLeaderToy, scenario: scenario('leader-crash'), seed: 3, reduction: { faults: [], maxOps: 20, chaosMs: 300 } })
    expect(result.reproduce).toBe(
      'pnpm synod-conformance --protocol toy-fixed-leader --scenario leader-crash --seed 3 --faults none --max-ops 20 --chaos-ms 300',
    )
    expect(result.record.healedAt).toBe(300)
    expect(result.record.history.length).toBeLessThanOrEqual(20 + 3)
    expect(result.record.timeline.some((e) => e.kind === 'crash')).toBe(false)
  })
})

describe('shrinking the broken toys', () => {
  it.each(
    (
      [
        [commitsWithoutQuorumToy, 'leader-isolated-then-healed'],
        [commitsWithoutQuorumToy, 'flapping-partitions'],
        [divergentCommitToy, 'steady-state'],
        [forgetsOnRestartToy, 'leader-crash'],
        [acksBeforePersistingToy, 'crash-all-and-restart'],
        [staleReadsToy, 'minority-partition'],
      ] as const
    ).map(([factory, name]) => ({ protocol: factory.name, factory, name })),
  )('$protocol under $name: smaller, same checker, replayable, deterministic', { timeout: 60_000 }, async ({ factory, name }) => {
    const options = { factory, scenario: scenario(name), seed: 1 }
    const original = await runScenario(options)
    expect(original.verdict).toBe('violation')
    const firstChecker = original.checks.find((c) => c.verdict === 'violation')!.checker

    const shrink = (await shrinkFailure(options, original, { maxRuns: 30 }))!
    expect(shrink.checker).toBe(firstChecker)
    expect(shrink.runs).toBeLessThanOrEqual(30)
    // (i) still fails with the same checker
    expect(shrink.result.checks.find((c) => c.checker === firstChecker)?.verdict).toBe('violation')
    // (ii) no more faults and operations than the original, and smaller somewhere
    expect(shrink.shrunk.faults).toBeLessThanOrEqual(shrink.original.faults)
    expect(shrink.shrunk.ops).toBeLessThanOrEqual(shrink.original.ops)
    expect(shrink.result.record.history.length).toBeLessThanOrEqual(original.record.history.length)
    expect(shrink.shrunk.ops).toBeLessThan(shrink.original.ops)
    // The reproduce command names the reduction, and the reduction replays the shrunk run exactly.
    expect(shrink.reproduce).toBe(shrink.result.reproduce)
    expect(shrink.reproduce).toContain(`--protocol ${factory.name} --scenario ${name} --seed 1`)
    expect(shrink.reproduce).toContain(reductionFlags(shrink.reduction))
    const replay = await runScenario({ ...options, reduction: shrink.reduction })
    expect(replay.traceHash).toBe(shrink.result.traceHash)
    // (iii) deterministic
    const again = (await shrinkFailure(options, original, { maxRuns: 30 }))!
    expect(again.reduction).toEqual(shrink.reduction)
    expect(again.result.traceHash).toBe(shrink.result.traceHash)
    expect(again.trace).toEqual(shrink.trace)
    // A short trace ending with the violation.
    expect(shrink.trace.length).toBeGreaterThan(1)
    expect(shrink.trace.length).toBeLessThanOrEqual(40 + 12 + 3)
    expect(shrink.trace.at(-1)).toContain(`✗ [${firstChecker}]`)
    const text = describeFailures(original, shrink)
    expect(text).toContain(`reproduce: ${original.reproduce}`)
    expect(text).toContain(`still violates [${firstChecker}]`)
    expect(text).toContain(`reproduce shrunk: ${shrink.reproduce}`)
  })

  it('removes the faults a failure does not need', { timeout: 30_000 }, async () => {
    // The divergent toy forks with no fault at all: whatever faults the scenario has go.
    const options = { factory: divergentCommitToy, scenario: scenario('rolling-crash-restart'), seed: 2 }
    const original = await runScenario(options)
    const shrink = (await shrinkFailure(options, original))!
    expect(shrink.shrunk.faults).toBe(0)
    expect(shrink.reduction.faults).toEqual([])
    expect(shrink.reproduce).toContain('--faults none')
  })

  it('respects the re-run budget', { timeout: 30_000 }, async () => {
    const options = { factory: commitsWithoutQuorumToy, scenario: scenario('flapping-partitions'), seed: 1 }
    const original = await runScenario(options)
    const shrink = (await shrinkFailure(options, original, { maxRuns: 3 }))!
    expect(shrink.runs).toBe(3)
    expect(shrink.stopped).toBe('budget')
    expect(shrink.result.checks.find((c) => c.checker === shrink.checker)?.verdict).toBe('violation')
    const none = (await shrinkFailure(options, original, { maxRuns: 0 }))!
    expect(none.runs).toBe(0)
    expect(none.result).toBe(original)
    expect(none.reduction).toEqual({})
    expect(none.trace.at(-1)).toContain('✗ [agreement]')
  })
})

describe('passing runs', () => {
  it('are not shrunk: no re-run, no shrink result, no trace', async () => {
    let runs = 0
    const counting: Scenario = { ...scenario('steady-state') }
    const options = { factory: fixedLeaderToy, scenario: counting, seed: 1 }
    const result = await runScenario(options)
    expect(result.verdict).toBe('ok')
    const started = performance.now()
    const shrink = await shrinkFailure({ ...options, get scenario() { runs++; return counting } }, result)
    expect(shrink).toBeUndefined()
    expect(runs).toBe(0)
    expect(performance.now() - started).toBeLessThan(50)
    expect(describeFailures(result)).not.toContain('shrunk')
  })
})
