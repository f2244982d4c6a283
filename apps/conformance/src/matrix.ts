import {
  needsProtocolAdversary,
  reproduceCommand,
  scenarioApplies,
  type Capability,
  type ClientOptions,
  type ProtocolAdversary,
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
  /** The protocol's own adversary, for scenarios with a 'protocol' adversary. */
  readonly adversary?: ProtocolAdversary<unknown>
  readonly protocolOptions?: Record<string, unknown>
  readonly clients?: ClientOptions
  /** Not run, with the reason (a 'protocol' adversary the protocol does not supply): reported as 'skipped', never as a pass. */
  readonly skip?: string
}

/** What the runner knows of a protocol beyond its factory. */
export interface ProtocolOffer {
  readonly capabilities?: readonly Capability[]
  readonly adversary?: ProtocolAdversary<unknown>
  /** Protocol options and client behaviour for every run of the protocol. */
  readonly protocolOptions?: Record<string, unknown>
  readonly clients?: ClientOptions
  /** Scenarios of this protocol's own (e.g. one per attack of its adversary); they run for it only. */
  readonly scenarios?: readonly Scenario[]
}

export interface MatrixPlan {
  readonly runs: readonly PlannedRun[]
  /** protocol × scenario pairs left out as not applicable: another fault model, a missing capability, another protocol's own scenario. */
  readonly skipped: ReadonlyArray<{ readonly protocol: string; readonly scenario: string; readonly reason: string }>
}

/**
 * Every protocol × scenario × seed whose fault models fit and whose required
 * capabilities (`offerOf(protocol).capabilities`) the protocol has, in that
 * nesting order; then each protocol's own scenarios. A scenario with a
 * 'protocol' adversary the protocol does not supply is planned as skipped
 * runs with the reason (reported, never a pass).
 */
export function planMatrix(
  factories: readonly ProtocolFactory<unknown>[],
  scenarios: readonly Scenario[],
  seeds: readonly number[],
  offerOf: (protocol: string) => ProtocolOffer = () => ({}),
): MatrixPlan {
  const runs: PlannedRun[] = []
  const skipped: Array<{ protocol: string; scenario: string; reason: string }> = []
  for (const factory of factories) {
    const offer = offerOf(factory.name)
    for (const scenario of [...scenarios, ...(offer.scenarios ?? [])]) {
      if (scenario.faultModel !== 'any' && scenario.faultModel !== factory.faultModel) {
        skipped.push({ protocol: factory.name, scenario: scenario.name, reason: `${scenario.faultModel} scenario, ${factory.faultModel} protocol` })
        continue
      }
      if (!scenarioApplies(scenario, offer.capabilities)) {
        skipped.push({ protocol: factory.name, scenario: scenario.name, reason: `requires ${(scenario.requires ?? []).join(', ')}` })
        continue
      }
      const skip =
        needsProtocolAdversary(scenario) && offer.adversary === undefined
          ? `needs ${factory.name}'s own adversary ('protocol' behaviour); ${factory.name} registers none`
          : undefined
      for (const seed of seeds)
        runs.push({
          factory,
          scenario,
          seed,
          ...(offer.adversary === undefined ? {} : { adversary: offer.adversary }),
          ...(offer.protocolOptions === undefined ? {} : { protocolOptions: offer.protocolOptions }),
          ...(offer.clients === undefined ? {} : { clients: offer.clients }),
          ...(skip === undefined ? {} : { skip }),
        })
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
    if (run.skip !== undefined) {
      const skippedRun = skippedResult(run, options)
      results.push(skippedRun)
      options.onResult?.(skippedRun, i + 1, plan.runs.length)
      continue
    }
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

/** A run the plan could not make (see PlannedRun.skip): status 'skipped' with the reason. */
function skippedResult(run: PlannedRun, options: RunMatrixOptions): RunResult {
  return {
    protocol: run.factory.name,
    scenario: run.scenario.name,
    seed: run.seed,
    nodes: options.nodes ?? 0,
    verdict: 'skipped',
    skipReason: run.skip!,
    checks: [],
    opsCompleted: 0,
    unknowns: 0,
    traceHash: '',
    reproduce: reproduceCommand(run.factory.name, run.scenario.name, run.seed, options.nodes, options.reduction),
    wallMs: 0,
    latenciesMs: [],
  }
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
    ...(run.adversary === undefined ? {} : { adversary: run.adversary }),
    ...(run.protocolOptions === undefined ? {} : { protocolOptions: run.protocolOptions }),
    ...(run.clients === undefined ? {} : { clients: run.clients }),
  }
}

/** Shrink a failing run; a shrink that throws (a protocol crash on a smaller run) leaves the result as it was. */
async function withShrink(result: RunResult, run: PlannedRun, options: RunMatrixOptions): Promise<RunResult> {
  const verdict = result.verdict
  if (result.record === undefined || verdict === 'skipped') return result
  try {
    const shrink = await shrinkFailure(runOptions(run, options), { ...result, verdict, record: result.record }, { maxRuns: options.shrinkRuns ?? 0 })
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
