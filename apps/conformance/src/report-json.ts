import type { RunRecord } from '@synod/conformance'
import type { RunResult } from './run-result.js'
import { summarize, type SummaryRow } from './summary.js'

/** A RunRecord as JSON: the map of acknowledged commands becomes an object keyed by operation id. */
export type RunRecordJson = Omit<RunRecord, 'acknowledgedCommands'> & { readonly acknowledgedCommands: Record<string, string> }

export interface JsonReport {
  readonly version: 1
  readonly command?: string
  readonly generatedAt?: string
  readonly summary: readonly SummaryRow[]
  /** Every run, without its record and latencies. */
  readonly runs: ReadonlyArray<Omit<RunResult, 'record' | 'latenciesMs'>>
  /** The full records of the runs with a violation or an undecided check, to study or replay. */
  readonly failures: ReadonlyArray<{ readonly protocol: string; readonly scenario: string; readonly seed: number; readonly reproduce: string; readonly record: RunRecordJson }>
}

export function recordToJson(record: RunRecord): RunRecordJson {
  return { ...record, acknowledgedCommands: Object.fromEntries([...record.acknowledgedCommands].map(([id, digest]) => [String(id), digest])) }
}

export function buildJsonReport(results: readonly RunResult[], meta: { command?: string; generatedAt?: string } = {}): JsonReport {
  return {
    version: 1,
    ...(meta.command === undefined ? {} : { command: meta.command }),
    ...(meta.generatedAt === undefined ? {} : { generatedAt: meta.generatedAt }),
    summary: summarize(results),
    runs: results.map(({ record: _record, latenciesMs: _latencies, ...run }) => run),
    failures: results
      .filter((r) => r.verdict !== 'ok' && r.record !== undefined)
      .map((r) => ({ protocol: r.protocol, scenario: r.scenario, seed: r.seed, reproduce: r.reproduce, record: recordToJson(r.record!) })),
  }
}
