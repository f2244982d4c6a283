import type { RunScenarioOptions } from './execute-scenario.js'
import { faultUnits, reduceScenario, scenarioMaxOps, type ScenarioReduction } from './reduce.js'
import { runScenario, type ScenarioResult } from './run-scenario.js'
import type { Scenario } from './scenario.js'
import { formatTrace, type TraceOptions } from './trace.js'

/** Re-runs a shrink may spend by default. */
export const DEFAULT_SHRINK_RUNS = 30

export interface ShrinkOptions {
  /** Most re-runs of the scenario; default DEFAULT_SHRINK_RUNS. 0 only traces the original run. */
  readonly maxRuns?: number
  /**
   * Start no re-run after this many real ms (test timeouts). Off by default:
   * with it the result depends on the machine's speed (the reproduce command
   * still replays exactly the run that was found).
   */
  readonly timeBudgetMs?: number
  readonly trace?: TraceOptions
}

/** How big a run is: fault steps, the operation cap, the chaos phase, operations invoked. */
export interface RunSize {
  readonly faults: number
  readonly maxOps: number
  readonly chaosMs: number
  readonly ops: number
}

export interface ShrinkResult {
  /** The checker whose violation every kept run reproduces: the original run's first violated one. */
  readonly checker: string
  /** From the original scenario to the shrunk run ({} when nothing smaller failed). */
  readonly reduction: ScenarioReduction
  readonly scenario: Scenario
  /** The shrunk run (the original result when nothing smaller failed). */
  readonly result: ScenarioResult
  /** The command that replays the shrunk run: the original's plus `--faults/--max-ops/--chaos-ms`. */
  readonly reproduce: string
  /** Re-runs spent. */
  readonly runs: number
  /** 'done': nothing left to try; 'budget': maxRuns spent; 'time': timeBudgetMs spent. */
  readonly stopped: 'done' | 'budget' | 'time'
  readonly original: RunSize
  readonly shrunk: RunSize
  /** A few dozen lines of the shrunk run up to its first violation of `checker`. */
  readonly trace: readonly string[]
}

/** A shrink without the runs themselves: what reports keep and `describeShrink` prints. */
export type ShrinkSummary = Pick<ShrinkResult, 'checker' | 'reduction' | 'reproduce' | 'runs' | 'stopped' | 'original' | 'shrunk' | 'trace'>

/** Drop the shrunk run's record and scenario, keeping what a report shows. */
export function summarizeShrink(shrink: ShrinkResult): ShrinkSummary {
  const { checker, reduction, reproduce, runs, stopped, original, shrunk, trace } = shrink
  return { checker, reduction, reproduce, runs, stopped, original, shrunk, trace }
}

class OutOfBudget extends Error {
  constructor(readonly reason: 'budget' | 'time') {
    super(reason)
  }
}

function sizeOf(scenario: Scenario, result: ScenarioResult): RunSize {
  return { faults: scenario.chaos.length, maxOps: scenarioMaxOps(scenario), chaosMs: scenario.chaosMs, ops: result.record.history.length }
}

/**
 * Look for a smaller run that still fails the same way, then trace it.
 *
 * With the same seed, and always judged by `runScenario`: (1) delta debugging
 * over the scenario's fault steps (a step that names a node goes together
 * with the steps that refer to that name), keeping the smallest set that
 * still violates the checker; (2) bisection of the workload's operation cap;
 * (3) bisection of the chaos phase, down to just after the last kept fault.
 * A candidate counts as failing only if it violates the original run's first
 * violated checker and invokes no more operations than the best run so far,
 * so the result never grows. Runs are deterministic and so is the search:
 * shrinking the same failure twice gives the same result (unless
 * `timeBudgetMs` cuts it short). Returns undefined for a run without a
 * violation: there is nothing to shrink.
 */
export async function shrinkFailure<Options>(
  options: RunScenarioOptions<Options>,
  original: ScenarioResult,
  shrinkOptions: ShrinkOptions = {},
): Promise<ShrinkResult | undefined> {
  if (original.verdict !== 'violation') return undefined
  const checker = original.checks.find((c) => c.verdict === 'violation')!.checker
  const maxRuns = shrinkOptions.maxRuns ?? DEFAULT_SHRINK_RUNS
  const startedWall = performance.now()
  const base = options.scenario
  const originalScenario = reduceScenario(base, options.reduction)

  let best = original
  let bestReduction: Required<ScenarioReduction> = {
    faults: options.reduction?.faults ?? base.chaos.map((_, i) => i),
    maxOps: scenarioMaxOps(originalScenario),
    chaosMs: originalScenario.chaosMs,
  }
  let runs = 0
  let stopped: ShrinkResult['stopped'] = 'done'
  const tried = new Set<string>()

  /** Run a candidate; true (and it becomes the best) if it still fails the same way. */
  const fails = async (candidate: Required<ScenarioReduction>): Promise<boolean> => {
    const key = JSON.stringify(candidate)
    if (tried.has(key)) return false
    tried.add(key)
    try {
      reduceScenario(base, candidate)
    } catch {
      return false // does not fit the scenario: no run spent
    }
    if (runs >= maxRuns) throw new OutOfBudget('budget')
    if (shrinkOptions.timeBudgetMs !== undefined && performance.now() - startedWall >= shrinkOptions.timeBudgetMs) throw new OutOfBudget('time')
    runs++
    const result = await runScenario({ ...options, reduction: candidate })
    const same = result.checks.some((c) => c.checker === checker && c.verdict === 'violation')
    if (!same || result.record.history.length > best.record.history.length) return false
    best = result
    bestReduction = candidate
    return true
  }

  try {
    // 1. Fault steps: ddmin over removable units, removing complements of ever finer partitions.
    const units = faultUnits(base.chaos).filter((unit) => unit.every((p) => bestReduction.faults.includes(p)))
    const positions = (kept: readonly number[][]) => kept.flat().sort((a, b) => a - b)
    if (units.length > 0) {
      let kept = units
      if (await fails({ ...bestReduction, faults: [] })) kept = []
      let granularity = 2
      while (kept.length >= 2) {
        const chunks = split(kept, Math.min(granularity, kept.length))
        let reduced = false
        for (const chunk of chunks) {
          const complement = kept.filter((unit) => !chunk.includes(unit))
          if (await fails({ ...bestReduction, faults: positions(complement) })) {
            kept = complement
            granularity = Math.max(granularity - 1, 2)
            reduced = true
            break
          }
        }
        if (!reduced) {
          if (granularity >= kept.length) break
          granularity = Math.min(granularity * 2, kept.length)
        }
      }
    }

    // 2. The operation cap, by bisection between nothing and the failing cap.
    let low = 0
    let high = bestReduction.maxOps
    while (high - low > Math.max(1, Math.floor(high / 8))) {
      const middle = Math.floor((low + high) / 2)
      if (await fails({ ...bestReduction, maxOps: middle })) high = middle
      else low = middle
    }

    // 3. The chaos phase, by bisection down to just after the last kept fault (10 ms steps).
    const lastFault = Math.max(0, ...bestReduction.faults.map((p) => base.chaos[p]!.at))
    let shortest = lastFault
    let longest = bestReduction.chaosMs
    while (longest - shortest > 50) {
      const middle = Math.ceil((shortest + longest) / 20) * 10
      if (middle <= lastFault || middle >= longest) break
      if (await fails({ ...bestReduction, chaosMs: middle })) longest = middle
      else shortest = middle
    }
  } catch (error) {
    if (!(error instanceof OutOfBudget)) throw error
    stopped = error.reason
  }

  const reduction = normalize(bestReduction, base)
  const scenario = reduceScenario(base, reduction)
  return {
    checker,
    reduction,
    scenario,
    result: best,
    reproduce: best.reproduce,
    runs,
    stopped,
    original: sizeOf(originalScenario, original),
    shrunk: sizeOf(scenario, best),
    trace: formatTrace(best.record, best.checks, { checker, ...shrinkOptions.trace }),
  }
}

/** Leave out what equals the scenario's own value, so the reproduce command names only real changes. */
function normalize(reduction: Required<ScenarioReduction>, scenario: Scenario): ScenarioReduction {
  const allFaults = reduction.faults.length === scenario.chaos.length
  return {
    ...(allFaults ? {} : { faults: reduction.faults }),
    ...(reduction.maxOps === scenarioMaxOps(scenario) ? {} : { maxOps: reduction.maxOps }),
    ...(reduction.chaosMs === scenario.chaosMs ? {} : { chaosMs: reduction.chaosMs }),
  }
}

function split<T>(items: readonly T[], parts: number): T[][] {
  const chunks: T[][] = []
  for (let i = 0; i < parts; i++) {
    const from = Math.floor((i * items.length) / parts)
    const to = Math.floor(((i + 1) * items.length) / parts)
    if (to > from) chunks.push(items.slice(from, to))
  }
  return chunks
}
