import type { ProtocolFactory } from '@synod/core'
import { describe, expect, it } from 'vitest'
import type { ProtocolAdversary } from './cluster.js'
import { scenarioNodes } from './execute-scenario.js'
import { describeFailures, runScenario } from './run-scenario.js'
import type { Scenario } from './scenario.js'
import { scenariosFor } from './scenarios/index.js'

export interface DescribeConformanceOptions<Options = unknown> {
  readonly factory: ProtocolFactory<Options>
  readonly protocolOptions?: Partial<Options>
  /** Cluster size for every scenario; default each scenario's own. */
  readonly nodes?: number
  /** Seeds to run each scenario with; default 1..3, or 1..N with env SYNOD_CONFORMANCE_SEEDS=N (or a list "4,17,99"). */
  readonly seeds?: readonly number[]
  /** Scenarios to run (default: every shipped scenario for the protocol's fault model), or their names. */
  readonly scenarios?: ReadonlyArray<Scenario | string>
  /** Scenario names to skip, each with the reason (printed as a skipped test). */
  readonly skip?: Readonly<Record<string, string>>
  readonly adversary?: ProtocolAdversary<Options>
  /** Per-test timeout in real ms; default 30 s. */
  readonly timeoutMs?: number
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

/**
 * Register the conformance suite for one protocol: a `describe` per
 * protocol, an `it` per scenario that runs every seed and fails with the
 * violations and the command that reproduces them. A protocol package
 * proves itself with one small test file calling this.
 */
export function describeConformance<Options>(options: DescribeConformanceOptions<Options>): void {
  const { factory } = options
  const all = scenariosFor(factory.faultModel)
  const chosen: Scenario[] =
    options.scenarios === undefined
      ? all
      : options.scenarios.map((s) => {
          if (typeof s !== 'string') return s
          const found = all.find((candidate) => candidate.name === s)
          if (found === undefined) throw new Error(`unknown scenario '${s}' for a ${factory.faultModel} protocol`)
          return found
        })
  const seeds = options.seeds ?? seedsFromEnvironment()
  describe(`${factory.name} conformance`, () => {
    for (const scenario of chosen) {
      const reason = options.skip?.[scenario.name]
      if (reason !== undefined) {
        it.skip(`${scenario.name} — skipped: ${reason}`, () => {})
        continue
      }
      const nodes = scenarioNodes(factory as ProtocolFactory<unknown>, scenario, options.nodes)
      it(
        `${scenario.name} (${nodes} nodes, seeds ${seeds.join(',')})`,
        async () => {
          const failures: string[] = []
          for (const seed of seeds) {
            const result = await runScenario({
              factory,
              scenario,
              seed,
              ...(options.protocolOptions === undefined ? {} : { protocolOptions: options.protocolOptions }),
              ...(options.nodes === undefined ? {} : { nodes: options.nodes }),
              ...(options.adversary === undefined ? {} : { adversary: options.adversary }),
            })
            if (result.verdict !== 'ok') failures.push(describeFailures(result))
          }
          expect(failures, failures.join('\n\n')).toEqual([])
        },
        options.timeoutMs ?? 30_000,
      )
    }
  })
}

export { describeTransportCompliance } from './transport-compliance.js'
export type { TransportComplianceContext, TransportComplianceOptions } from './transport-compliance.js'
