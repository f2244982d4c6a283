import type { CheckResult, RunRecord, ShrinkSummary } from '@synod/conformance'

/**
 * One run of the matrix as the runner keeps it: the scenario result without
 * the bulky record (kept only where a report draws it), plus the latencies
 * the report's histograms need.
 */
export interface RunResult {
  readonly protocol: string
  readonly scenario: string
  readonly seed: number
  readonly nodes: number
  /** 'skipped': not run (see `skipReason`) — a distinct status, never counted as a pass. */
  readonly verdict: 'ok' | 'violation' | 'unknown' | 'skipped'
  /** Why the run was skipped (e.g. a 'protocol' adversary the protocol does not supply). */
  readonly skipReason?: string
  readonly checks: readonly CheckResult[]
  readonly opsCompleted: number
  /** Operations whose outcome stayed unknown ('info'). */
  readonly unknowns: number
  /** Virtual ms from the heal to the first operation completed after it. */
  readonly recoveryMs?: number
  readonly traceHash: string
  readonly reproduce: string
  readonly wallMs: number
  /** Virtual ms from invocation to completion of every operation that completed 'ok'. */
  readonly latenciesMs: readonly number[]
  /** The run itself threw (a harness or protocol crash), with this message; verdict is then 'violation'. */
  readonly error?: string
  /** Kept for failing runs and for the first run of each protocol × scenario. */
  readonly record?: RunRecord
  /** The first run with a violation of each protocol × scenario, shrunk: the smaller run, its reproduce command and its trace. */
  readonly shrink?: ShrinkSummary
}

/** Latencies of the operations that completed 'ok', in virtual ms. */
export function okLatencies(record: RunRecord): number[] {
  const latencies: number[] = []
  for (const op of record.history) if (op.outcome === 'ok' && op.completedAt !== undefined) latencies.push(op.completedAt - op.invokedAt)
  return latencies
}
