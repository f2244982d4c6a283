import type { ProtocolFactory } from '@synod/core'
import { describe, expect, it } from 'vitest'
import type { ClientOptions } from './clients.js'
import type { ProtocolAdversary } from './cluster.js'
import { scenarioNodes } from './execute-scenario.js'
import { describeFailures } from './describe-failures.js'
import { runScenario } from './run-scenario.js'
import { scenarioSkipReason, type Capability, type Scenario } from './scenario.js'
import { scenarios as shippedScenarios, scenariosFor } from './scenarios/index.js'
import { DEFAULT_SHRINK_RUNS, shrinkFailure, type ShrinkOptions, type ShrinkResult } from './shrink.js'

export interface DescribeConformanceOptions<Options = unknown> {
  readonly factory: ProtocolFactory<Options>
  readonly protocolOptions?: Partial<Options>
  /** Cluster size for every scenario; default each scenario's own. */
  readonly nodes?: number
  /** Seeds to run each scenario with; default 1..3, or 1..N with env SYNOD_CONFORMANCE_SEEDS=N (or a list "4,17,99"). */
  readonly seeds?: readonly number[]
  /** Scenarios to run (default: every shipped scenario for the protocol's fault model), or their names. */
  readonly scenarios?: ReadonlyArray<Scenario | string>
  /**
   * What the protocol offers beyond the basics: scenarios that require a
   * capability (e.g. 'reconfigure' for membership-churn) run only when it is
   * listed here; otherwise they are not applicable and left out.
   */
  readonly capabilities?: readonly Capability[]
  /** Scenario names to skip, each with the reason (printed as a skipped test). */
  readonly skip?: Readonly<Record<string, string>>
  readonly adversary?: ProtocolAdversary<Options>
  /** Signed client requests and answer verification (see ClientOptions). */
  readonly clients?: ClientOptions
  /** Per-test timeout in real ms; default 30 s. */
  readonly timeoutMs?: number
  /**
   * Shrinking of the first failing seed of each scenario (only on failure):
   * false turns it off; default up to DEFAULT_SHRINK_RUNS re-runs (or
   * SYNOD_CONFORMANCE_SHRINK=N, 0 = off) within half the test's timeout.
   */
  readonly shrink?: false | ShrinkOptions
  /**
   * The protocol is still being written (its package.json says `"synod": { "workInProgress": true }`):
   * every scenario is registered as skipped, so a scaffold that fails everything does not break
   * `pnpm test`. SYNOD_CONFORMANCE_WIP=1 runs them anyway. Default false: every scenario must pass.
   */
  readonly workInProgress?: boolean
}

/** Seeds from SYNOD_CONFORMANCE_SEEDS: a count N (seeds 1..N) or a comma-separated list. */
export function seedsFromEnvironment(fallback: readonly number[] = [1, 2, 3]): number[] {
  const raw = process.env['SYNOD_CONFORMANCE_SEEDS']?.trim()
  if (raw === undefined || raw === '') return [...fallback]
  if (raw.includes(',')) return raw.split(',').map((s) => Number.parseInt(s.trim(), 10)).filter((n) => Number.isSafeInteger(n))
  const count = Number.parseInt(raw, 10)
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`SYNOD_CONFORMANCE_SEEDS must be a count or a list of seeds, got '${raw}'`)
  return Array.from({ length: count }, (_, i) => i + 1)
}

/** Re-runs for shrinking from SYNOD_CONFORMANCE_SHRINK (a count; 0 turns shrinking off), else the fallback. */
export function shrinkRunsFromEnvironment(fallback = DEFAULT_SHRINK_RUNS): number {
  const raw = process.env['SYNOD_CONFORMANCE_SHRINK']?.trim()
  if (raw === undefined || raw === '') return fallback
  const count = Number.parseInt(raw, 10)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(count)) throw new Error(`SYNOD_CONFORMANCE_SHRINK must be a count of re-runs (0 = off), got '${raw}'`)
  return count
}

/**
 * What one `describeConformance` test does: run the scenario with every
 * seed and describe each run that is not 'ok'; the first run with a
 * violation is shrunk (at most `shrinkRuns` re-runs, none after
 * `timeBudgetMs` of real time since the start, so the failure still gets
 * reported before the test's timeout). Empty when every seed passes.
 */
export async function conformanceFailures<Options>(
  options: DescribeConformanceOptions<Options>,
  scenario: Scenario,
  seeds: readonly number[],
  budget: { readonly shrinkRuns: number; readonly timeBudgetMs?: number },
): Promise<string[]> {
  const started = performance.now()
  const failures: string[] = []
  let shrunk = false
  for (const seed of seeds) {
    const runOptions = {
      factory: options.factory,
      scenario,
      seed,
      ...(options.protocolOptions === undefined ? {} : { protocolOptions: options.protocolOptions }),
      ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
      ...(options.adversary === undefined ? {} : { adversary: options.adversary }),
      ...(options.clients === undefined ? {} : { clients: options.clients }),
    }
    const result = await runScenario(runOptions)
    if (result.verdict === 'ok') continue
    let shrink: ShrinkResult | undefined
    if (!shrunk && result.verdict === 'violation' && budget.shrinkRuns > 0) {
      shrunk = true
      const timeBudgetMs = budget.timeBudgetMs === undefined ? undefined : Math.max(0, budget.timeBudgetMs - (performance.now() - started))
      shrink = await shrinkFailure(runOptions, result, {
        ...(options.shrink === false ? {} : options.shrink),
        maxRuns: budget.shrinkRuns,
        ...(timeBudgetMs === undefined ? {} : { timeBudgetMs }),
      })
    }
    failures.push(describeFailures(result, shrink))
  }
  return failures
}

/**
 * Why `describeConformance` registers `scenario` as skipped, or undefined when it runs: skipped by
 * name, not applicable (a capability or the protocol's own adversary is missing), or the protocol
 * is work in progress (unless SYNOD_CONFORMANCE_WIP=1).
 */
export function conformanceSkipReason<Options>(options: DescribeConformanceOptions<Options>, scenario: Scenario): string | undefined {
  return (
    options.skip?.[scenario.name] ??
    scenarioSkipReason(scenario, { capabilities: options.capabilities ?? [], hasAdversary: options.adversary !== undefined }) ??
    (options.workInProgress === true && process.env['SYNOD_CONFORMANCE_WIP'] !== '1'
      ? 'work in progress (package.json "synod": { "workInProgress": true }; SYNOD_CONFORMANCE_WIP=1 runs it)'
      : undefined)
  )
}

/**
 * Register the conformance suite for one protocol: a `describe` per
 * protocol, an `it` per scenario that runs every seed and fails with the
 * violations and the command that reproduces them, plus, for the first
 * failing seed, a shrunk run (its own reproduce command) and its trace. A protocol package
 * proves itself with one small test file calling this.
 */
export function describeConformance<Options>(options: DescribeConformanceOptions<Options>): void {
  const { factory } = options
  const capabilities = options.capabilities ?? []
  const all = scenariosFor(factory.faultModel, capabilities)
  const chosen: Scenario[] =
    options.scenarios === undefined
      ? all
      : options.scenarios.map((s) => {
          if (typeof s !== 'string') return s
          const found = shippedScenarios.filter((c) => c.faultModel === 'any' || c.faultModel === factory.faultModel).find((candidate) => candidate.name === s)
          if (found === undefined) throw new Error(`unknown scenario '${s}' for a ${factory.faultModel} protocol`)
          return found
        })
  const seeds = options.seeds ?? seedsFromEnvironment()
  const timeoutMs = options.timeoutMs ?? 30_000
  const shrinkRuns = options.shrink === false ? 0 : (options.shrink?.maxRuns ?? shrinkRunsFromEnvironment())
  describe(`${factory.name} conformance`, () => {
    for (const scenario of chosen) {
      const reason = conformanceSkipReason(options, scenario)
      if (reason !== undefined) {
        it.skip(`${scenario.name} — skipped: ${reason}`, () => {})
        continue
      }
      const nodes = scenarioNodes(factory as ProtocolFactory<unknown>, scenario, options.nodes)
      it(
        `${scenario.name} (${nodes} nodes, seeds ${seeds.join(',')})`,
        async () => {
          const failures = await conformanceFailures(options, scenario, seeds, {
            shrinkRuns,
            timeBudgetMs: Math.min(options.shrink === false ? Infinity : (options.shrink?.timeBudgetMs ?? Infinity), timeoutMs / 2),
          })
          expect(failures, failures.join('\n\n')).toEqual([])
        },
        timeoutMs,
      )
    }
  })
}

export { describeTransportCompliance } from './transport-compliance.js'
export type { TransportComplianceContext, TransportComplianceOptions } from './transport-compliance.js'
