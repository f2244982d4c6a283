import { describeShrink } from '@synod/conformance'
import type { RunResult } from './run-result.js'

/** One cell of the matrix: every seed of one scenario on one protocol. */
export interface SummaryRow {
  readonly scenario: string
  readonly protocol: string
  /** Runs made (skipped ones excluded). */
  readonly runs: number
  /** Runs not made, with `skipReasons` (e.g. a missing 'protocol' adversary): not passes. */
  readonly skipped: number
  readonly skipReasons?: readonly string[]
  /** Runs with at least one violation. */
  readonly violations: number
  /** Runs a checker could not decide (search budget exhausted). */
  readonly unknown: number
  /** Operations completed 'ok', over all runs. */
  readonly opsCompleted: number
  /** Operations with unknown outcome ('info'), over all runs. */
  readonly opsUnknown: number
  /** Median virtual ms from the heal to the first completed operation; undefined if no run recovered. */
  readonly medianRecoveryMs: number | undefined
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Rows in the order the runs first appear (scenario-major, as the table reads). */
export function summarize(results: readonly RunResult[]): SummaryRow[] {
  const groups = new Map<string, RunResult[]>()
  for (const result of results) {
    const key = `${result.scenario}\u0000${result.protocol}`
    let group = groups.get(key)
    if (group === undefined) groups.set(key, (group = []))
    group.push(result)
  }
  const rows = [...groups.values()].map((group): SummaryRow => {
    const reasons = [...new Set(group.flatMap((r) => (r.skipReason === undefined ? [] : [r.skipReason])))]
    return {
      scenario: group[0]!.scenario,
      protocol: group[0]!.protocol,
      runs: group.filter((r) => r.verdict !== 'skipped').length,
      skipped: group.filter((r) => r.verdict === 'skipped').length,
      ...(reasons.length === 0 ? {} : { skipReasons: reasons }),
      violations: group.filter((r) => r.verdict === 'violation').length,
      unknown: group.filter((r) => r.verdict === 'unknown').length,
      opsCompleted: group.reduce((sum, r) => sum + r.opsCompleted, 0),
      opsUnknown: group.reduce((sum, r) => sum + r.unknowns, 0),
      medianRecoveryMs: median(group.flatMap((r) => (r.recoveryMs === undefined ? [] : [r.recoveryMs]))),
    }
  })
  const scenarioOrder = [...new Set(results.map((r) => r.scenario))]
  return rows.sort((a, b) => scenarioOrder.indexOf(a.scenario) - scenarioOrder.indexOf(b.scenario))
}

export const SUMMARY_COLUMNS = ['scenario', 'protocol', 'runs', 'violations', 'unknown', 'skipped', 'ops ok', 'ops info', 'recover p50'] as const

export function summaryCells(row: SummaryRow): string[] {
  return [
    row.scenario,
    row.protocol,
    String(row.runs),
    String(row.violations),
    String(row.unknown),
    String(row.skipped),
    String(row.opsCompleted),
    String(row.opsUnknown),
    row.medianRecoveryMs === undefined ? '—' : `${Math.round(row.medianRecoveryMs)} ms`,
  ]
}

/** A plain-text table: text columns left-aligned, numbers right-aligned, plus a total line. */
export function formatSummaryTable(rows: readonly SummaryRow[]): string {
  const body = rows.map(summaryCells)
  const total = [
    'total',
    '',
    String(rows.reduce((s, r) => s + r.runs, 0)),
    String(rows.reduce((s, r) => s + r.violations, 0)),
    String(rows.reduce((s, r) => s + r.unknown, 0)),
    String(rows.reduce((s, r) => s + r.skipped, 0)),
    String(rows.reduce((s, r) => s + r.opsCompleted, 0)),
    String(rows.reduce((s, r) => s + r.opsUnknown, 0)),
    '',
  ]
  const table = [[...SUMMARY_COLUMNS], ...body, total]
  const widths = SUMMARY_COLUMNS.map((_, c) => Math.max(...table.map((line) => line[c]!.length)))
  const render = (line: readonly string[]) =>
    line
      .map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd()
  const rule = widths.map((w) => '─'.repeat(w)).join('  ')
  return [render(table[0]!), rule, ...body.map(render), rule, render(total)].join('\n') + '\n'
}

/** One line per protocol × scenario that was skipped, with the reason: never silent. */
export function describeSkipped(rows: readonly SummaryRow[]): string {
  const skipped = rows.filter((r) => r.skipped > 0)
  if (skipped.length === 0) return ''
  return `${['', 'skipped (not run, not passed):', ...skipped.map((r) => `⊘ ${r.protocol} × ${r.scenario} (${r.skipped} run${r.skipped === 1 ? '' : 's'}): ${(r.skipReasons ?? []).join('; ')}`)].join('\n')}\n`
}

/**
 * The violations of one failing run, a few lines each, then the command that
 * reproduces it and, when it was shrunk, the smaller run's command and trace.
 */
export function describeRunFailure(result: RunResult, maxPerChecker = 3): string {
  const lines = [`✗ ${result.protocol} × ${result.scenario} × seed ${result.seed}: ${result.verdict}`]
  for (const check of result.checks) {
    if (check.verdict === 'ok') continue
    lines.push(`    [${check.checker}] ${check.verdict}${check.note === undefined ? '' : ` (${check.note})`}`)
    for (const violation of check.violations.slice(0, maxPerChecker)) lines.push(`      - ${violation.message}`)
    if (check.violations.length > maxPerChecker) lines.push(`      … ${check.violations.length - maxPerChecker} more`)
  }
  lines.push(`    reproduce: ${result.reproduce}`)
  if (result.shrink !== undefined) for (const line of describeShrink(result.shrink)) lines.push(`    ${line}`)
  return lines.join('\n')
}

/** One line per failing run: which checkers, and the reproduce command. */
export function describeRunFailureBriefly(result: RunResult): string {
  const checkers = result.checks.filter((c) => c.verdict === 'violation').map((c) => c.checker)
  const shrunk = result.shrink === undefined || result.shrink.reproduce === result.reproduce ? '' : `  shrunk: ${result.shrink.reproduce}`
  return `✗ ${result.protocol} × ${result.scenario} × seed ${result.seed} [${checkers.join(', ')}]  reproduce: ${result.reproduce}${shrunk}`
}
