import type { ScenarioResult } from './run-scenario.js'
import type { ShrinkSummary } from './shrink.js'

/**
 * One line per violation plus the reproduce command: what a failing test
 * prints; with a shrink (see `shrinkFailure`), also the smaller run's sizes,
 * its reproduce command and its trace up to the first violation.
 */
export function describeFailures(result: ScenarioResult, shrink?: ShrinkSummary): string {
  const lines = [`${result.protocol} × ${result.scenario} × seed ${result.seed}: ${result.verdict}`]
  for (const check of result.checks) {
    if (check.verdict === 'ok') continue
    lines.push(`  [${check.checker}] ${check.verdict}${check.note === undefined ? '' : ` (${check.note})`}`)
    for (const v of check.violations.slice(0, 5)) lines.push(`    - ${v.message}`)
    if (check.violations.length > 5) lines.push(`    … ${check.violations.length - 5} more`)
  }
  lines.push(`  reproduce: ${result.reproduce}`)
  if (shrink !== undefined) for (const line of describeShrink(shrink)) lines.push(`  ${line}`)
  return lines.join('\n')
}

/** The shrink in a few lines: sizes before and after, the command replaying the shrunk run, and its trace. */
export function describeShrink(shrink: ShrinkSummary): string[] {
  const { original: a, shrunk: b } = shrink
  const changed = a.faults !== b.faults || a.maxOps !== b.maxOps || a.chaosMs !== b.chaosMs
  const budget = shrink.stopped === 'done' ? '' : shrink.stopped === 'budget' ? ', re-run budget spent' : ', time budget spent'
  const lines = [
    changed
      ? `shrunk in ${shrink.runs} re-run(s)${budget}: faults ${a.faults} → ${b.faults}, max ops ${a.maxOps} → ${b.maxOps}, ops ${a.ops} → ${b.ops}, chaos ${a.chaosMs} → ${b.chaosMs} ms; still violates [${shrink.checker}]`
      : `not shrunk (${shrink.runs} re-run(s)${budget}): no smaller run violated [${shrink.checker}]`,
  ]
  if (changed) lines.push(`reproduce shrunk: ${shrink.reproduce}`)
  lines.push(`trace${changed ? ' of the shrunk run' : ''}:`)
  for (const line of shrink.trace) lines.push(`  ${line}`)
  return lines
}
