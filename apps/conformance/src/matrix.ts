import {
  reproduceCommand,
  scenarioApplies,
  type Capability,
  runScenario,
  shrinkFailure,
  summarizeShrink,
  type RunScenarioOptions,
  type Scenario,
  type ScenarioReduction,
  type ScenarioResult,
} from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'
import { okLatencies, type RunResult } from './run-result.js'

export interface PlannedRun {
  readonly factory: ProtocolFactory<unknown>
  readonly scenario: Scenario
  readonly seed: number
}

export interface MatrixPlan {
  readonly runs: readonly PlannedRun[]
  /** protocol × scenario pairs left out because the scenario is for another fault model. */
  readonly skipped: ReadonlyArray<{ readonly protocol: string; readonly scenario: string; readonly reason: string }>
}

/**
 * Every protocol × scenario × seed whose fault models fit and whose required
 * capabilities (`capabilitiesOf(protocol)`) the protocol has, in that nesting order.
 */
export function planMatrix(
  factories: readonly ProtocolFactory<unknown>[],
  scenarios: readonly Scenario[],
  seeds: readonly number[],
  capabilitiesOf: (protocol: string) => readonly Capability[] = () => [],
): MatrixPlan {
  const runs: PlannedRun[] = []
  const skipped: Array<{ protocol: string; scenario: string; reason: string }> = []
  for (const factory of factories) {
    for (const scenario of scenarios) {
      if (scenario.faultModel !== 'any' && scenario.faultModel !== factory.faultModel) {
        skipped.push({ protocol: factory.name, scenario: scenario.name, reason: `${scenario.faultModel} scenario, ${factory.faultModel} protocol` })
        continue
      }
      if (!scenarioApplies(scenario, capabilitiesOf(factory.name))) {
        skipped.push({ protocol: factory.name, scenario: scenario.name, reason: `requires ${(scenario.requires ?? []).join(', ')}` })
        continue
      }
      for (const seed of seeds) runs.push({ factory, scenario, seed })
    }
  }
  return { runs, skipped }
}

export interface RunMatrixOptions {
  readonly nodes?: number
  /** Run every scenario reduced (--faults/--max-ops/--chaos-ms). */
  readonly reduction?: ScenarioReduction
  /** Re-runs to shrink the first run with a violation of each protocol × scenario; default 0 (off). */
  readonly shrinkRuns?: number
  /** Called before a shrink starts (it can take up to `shrinkRuns` runs). */
  readonly onShrink?: (result: RunResult) => void
  /** Called after each run, in order. */
  readonly onResult?: (result: RunResult, done: number, total: number) => void
}

/**
 * Run the plan one run at a time (each run is a single-threaded simulation)
 * and keep each result slim: the full record only for failing runs and the
 * first run of each protocol × scenario, which is what the HTML report draws.
 */
export async function runMatrix(plan: MatrixPlan, options: RunMatrixOptions = {}): Promise<RunResult[]> {
  const results: RunResult[] = []
  const recordedPairs = new Set<string>()
  const shrunkPairs = new Set<string>()
  for (const [i, run] of plan.runs.entries()) {
    let result = await runOne(run, options)
    const pair = `${result.protocol}\u0000${result.scenario}`
    if (result.verdict === 'violation' && result.error === undefined && (options.shrinkRuns ?? 0) > 0 && !shrunkPairs.has(pair)) {
      shrunkPairs.add(pair)
      options.onShrink?.(result)
      result = await withShrink(result, run, options)
    }
    const keepRecord = result.verdict !== 'ok' || !recordedPairs.has(pair)
    recordedPairs.add(pair)
    const slim: RunResult = keepRecord || result.record === undefined ? result : withoutRecord(result)
    results.push(slim)
    options.onResult?.(slim, i + 1, plan.runs.length)
    // Let signals and stream writes through between runs.
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return results
}

function withoutRecord(result: RunResult): RunResult {
  const { record: _record, ...rest } = result
  return rest
}

function runOptions(run: PlannedRun, options: RunMatrixOptions): RunScenarioOptions<unknown> {
  return {
    factory: run.factory,
    scenario: run.scenario,
    seed: run.seed,
    ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
    ...(options.reduction === undefined ? {} : { reduction: options.reduction }),
  }
}

/** Shrink a failing run; a shrink that throws (a protocol crash on a smaller run) leaves the result as it was. */
async function withShrink(result: RunResult, run: PlannedRun, options: RunMatrixOptions): Promise<RunResult> {
  if (result.record === undefined) return result
  try {
    const shrink = await shrinkFailure(runOptions(run, options), { ...result, record: result.record }, { maxRuns: options.shrinkRuns ?? 0 })
    return shrink === undefined ? result : { ...result, shrink: summarizeShrink(shrink) }
  } catch {
    return result
  }
}

async function runOne(run: PlannedRun, options: RunMatrixOptions): Promise<RunResult> {
  const nodes = options.nodes
  const started = performance.now()
  let scenarioResult: ScenarioResult
  try {
    scenarioResult = await runScenario(runOptions(run, options))
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    return {
      protocol: run.factory.name,
      scenario: run.scenario.name,
      seed: run.seed,
      nodes: nodes ?? 0,
      verdict: 'violation',
      checks: [{ checker: 'run', verdict: 'violation', violations: [{ checker: 'run', message: `the run threw ${message}` }] }],
      opsCompleted: 0,
      unknowns: 0,
      traceHash: '',
      reproduce: reproduceCommand(run.factory.name, run.scenario.name, run.seed, nodes, options.reduction),
      wallMs: performance.now() - started,
      latenciesMs: [],
      error: message,
    }
  }
  const { record, ...rest } = scenarioResult
  return { ...rest, latenciesMs: okLatencies(record), record }
}
