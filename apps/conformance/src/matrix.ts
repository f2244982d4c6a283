import { reproduceCommand, runScenario, type Scenario, type ScenarioResult } from '@synod/conformance'
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

/** Every protocol × scenario × seed whose fault models fit, in that nesting order. */
export function planMatrix(factories: readonly ProtocolFactory<unknown>[], scenarios: readonly Scenario[], seeds: readonly number[]): MatrixPlan {
  const runs: PlannedRun[] = []
  const skipped: Array<{ protocol: string; scenario: string; reason: string }> = []
  for (const factory of factories) {
    for (const scenario of scenarios) {
      if (scenario.faultModel !== 'any' && scenario.faultModel !== factory.faultModel) {
        skipped.push({ protocol: factory.name, scenario: scenario.name, reason: `${scenario.faultModel} scenario, ${factory.faultModel} protocol` })
        continue
      }
      for (const seed of seeds) runs.push({ factory, scenario, seed })
    }
  }
  return { runs, skipped }
}

export interface RunMatrixOptions {
  readonly nodes?: number
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
  for (const [i, run] of plan.runs.entries()) {
    const result = await runOne(run, options.nodes)
    const pair = `${result.protocol}\u0000${result.scenario}`
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

async function runOne(run: PlannedRun, nodes: number | undefined): Promise<RunResult> {
  const started = performance.now()
  let scenarioResult: ScenarioResult
  try {
    scenarioResult = await runScenario({ factory: run.factory, scenario: run.scenario, seed: run.seed, ...(nodes === undefined ? {} : { nodes }) })
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
      reproduce: reproduceCommand(run.factory.name, run.scenario.name, run.seed, nodes),
      wallMs: performance.now() - started,
      latenciesMs: [],
      error: message,
    }
  }
  const { record, ...rest } = scenarioResult
  return { ...rest, latenciesMs: okLatencies(record), record }
}
