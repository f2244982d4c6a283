import type { CheckResult, Operation, RunRecord } from '../types.js'
import { formatMs, ViolationList } from './result.js'

/**
 * Liveness after healing. Every operation invoked at or after `healedAt`
 * must complete ('ok' or 'fail') within `livenessBudgetMs` of its
 * invocation; one invoked before the heal that completes after it, within
 * the budget from the heal. And the cluster must make progress: at least one
 * 'ok' operation completes after the heal.
 *
 * An 'info' operation (no answer) invoked after the heal is a violation when
 * its client gave up on it (the client invoked a later operation) or when it
 * stayed open for the whole budget. One still open when the run ended, before
 * its budget ran out, cannot be judged: the run was cut short, not the
 * cluster; the result's note counts them.
 */
export function checkLiveness(record: RunRecord): CheckResult {
  const violations = new ViolationList('liveness')
  const budget = record.livenessBudgetMs
  const lastOpOfClient = new Map<number, Operation>()
  for (const op of record.history) {
    const last = lastOpOfClient.get(op.client)
    if (last === undefined || op.invokedAt >= last.invokedAt) lastOpOfClient.set(op.client, op)
  }
  const describe = (op: Operation) => `${op.kind} ${op.id} of client ${op.client} on ${op.key}`
  let okAfterHeal = 0
  let cutShort = 0
  for (const op of record.history) {
    const invokedAfterHeal = op.invokedAt >= record.healedAt
    if (op.outcome === 'info' || op.completedAt === undefined) {
      if (!invokedAfterHeal) continue
      const abandoned = lastOpOfClient.get(op.client) !== op
      if (abandoned)
        violations.add(`${describe(op)}, invoked at t=${formatMs(op.invokedAt)} after the heal, got no answer before its client gave up`, { operation: op })
      else if (record.endedAt - op.invokedAt >= budget)
        violations.add(`${describe(op)}, invoked at t=${formatMs(op.invokedAt)} after the heal, was still open ${budget} ms later`, { operation: op })
      else cutShort++
      continue
    }
    if (op.completedAt < record.healedAt) continue
    if (op.outcome === 'ok') okAfterHeal++
    const from = Math.max(op.invokedAt, record.healedAt)
    if (op.completedAt - from > budget)
      violations.add(
        `${describe(op)} took ${formatMs(op.completedAt - from)} ms after ${invokedAfterHeal ? 'its invocation' : 'the heal'} (budget ${budget} ms)`,
        { operation: op },
      )
  }
  if (okAfterHeal === 0)
    violations.add(`no operation completed successfully after the heal at t=${formatMs(record.healedAt)} (run ended t=${formatMs(record.endedAt)})`, {
      healedAt: record.healedAt,
    })
  const result = violations.result()
  if (cutShort === 0) return result
  const note = `${cutShort} operation(s) still open when the run ended, within their budget: not judged`
  return { ...result, note: result.note === undefined ? note : `${result.note}; ${note}` }
}
