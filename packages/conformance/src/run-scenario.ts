import { checkAll } from './checkers/index.js'
import { conformanceCrypto } from './keys.js'
import { executeScenario, type RunScenarioOptions } from './execute-scenario.js'
import { reductionFlags, type ScenarioReduction } from './reduce.js'
import type { CheckResult, RunRecord } from './types.js'

export type { RunScenarioOptions } from './execute-scenario.js'

export interface ScenarioResult {
  readonly protocol: string
  readonly scenario: string
  readonly seed: number
  readonly nodes: number
  /** 'violation' if any checker found one, else 'unknown' if any ran out of budget, else 'ok'. */
  readonly verdict: 'ok' | 'violation' | 'unknown'
  readonly checks: readonly CheckResult[]
  readonly opsCompleted: number
  /** Operations whose outcome stayed unknown ('info'). */
  readonly unknowns: number
  /** Virtual ms from the heal to the first operation completed after it. */
  readonly recoveryMs?: number
  readonly record: RunRecord
  /** Hash of everything the run did: equal for equal seeds. */
  readonly traceHash: string
  /** The command that reproduces this run exactly. */
  readonly reproduce: string
  /** Real time the run took, in ms. */
  readonly wallMs: number
}

/** The CLI command that replays one run: protocol, scenario, seed, and the cluster size and reduction when given. */
export function reproduceCommand(protocol: string, scenario: string, seed: number, nodes?: number, reduction?: ScenarioReduction): string {
  const flags = reductionFlags(reduction)
  return `pnpm synod-conformance --protocol ${protocol} --scenario ${scenario} --seed ${seed}${nodes === undefined ? '' : ` --nodes ${nodes}`}${flags === '' ? '' : ` ${flags}`}${conformanceCrypto() === 'simulated' ? ' --crypto simulated' : ''}`
}

/**
 * Run one scenario on the simulator and judge it: `executeScenario`, then
 * every checker (or the scenario's chosen ones) over the recorded run.
 */
export async function runScenario<Options>(options: RunScenarioOptions<Options>): Promise<ScenarioResult> {
  const startedWall = performance.now()
  const execution = await executeScenario(options)
  const wanted = options.scenario.checks
  const checks = checkAll(execution.record).filter((c) => wanted === undefined || wanted.includes(c.checker))
  const verdict = checks.some((c) => c.verdict === 'violation') ? 'violation' : checks.some((c) => c.verdict === 'unknown') ? 'unknown' : 'ok'
  const { record } = execution
  const firstAfterHeal = record.history
    .filter((op) => op.outcome === 'ok' && op.completedAt !== undefined && op.completedAt >= record.healedAt)
    .reduce<number | undefined>((min, op) => (min === undefined || op.completedAt! < min ? op.completedAt! : min), undefined)
  return {
    protocol: options.factory.name,
    scenario: options.scenario.name,
    seed: options.seed,
    nodes: execution.nodes,
    verdict,
    checks,
    opsCompleted: record.history.filter((op) => op.outcome === 'ok').length,
    unknowns: record.history.filter((op) => op.outcome === 'info').length,
    ...(firstAfterHeal === undefined ? {} : { recoveryMs: firstAfterHeal - record.healedAt }),
    record,
    traceHash: execution.traceHash,
    reproduce: reproduceCommand(options.factory.name, options.scenario.name, options.seed, options.nodes, options.reduction),
    wallMs: performance.now() - startedWall,
  }
}
