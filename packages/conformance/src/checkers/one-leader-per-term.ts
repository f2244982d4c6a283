import type { CheckResult, LeaderRecord, RunRecord } from '../types.js'
import { formatMs, ViolationList } from './result.js'

/**
 * Election safety: at most one correct node claims leadership of a term
 * (view, ballot). The same node announcing the same term twice is fine.
 * Reported once per term.
 */
export function checkOneLeaderPerTerm(record: RunRecord): CheckResult {
  const violations = new ViolationList('one-leader-per-term')
  const correct = new Set(record.correctNodes)
  const leaderOfTerm = new Map<number, LeaderRecord>()
  const reportedTerms = new Set<number>()
  for (const claim of record.leaders) {
    if (!correct.has(claim.node)) continue
    const first = leaderOfTerm.get(claim.term)
    if (first === undefined) {
      leaderOfTerm.set(claim.term, claim)
      continue
    }
    if (first.node === claim.node || reportedTerms.has(claim.term)) continue
    reportedTerms.add(claim.term)
    violations.add(`term ${claim.term} has two leaders: ${first.node} (t=${formatMs(first.at)}) and ${claim.node} (t=${formatMs(claim.at)})`, {
      term: claim.term,
      first,
      second: claim,
    })
  }
  return violations.result()
}
