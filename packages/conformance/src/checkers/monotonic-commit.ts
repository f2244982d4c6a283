import type { CheckResult, CommitRecord, RunRecord } from '../types.js'
import { correctCommits, formatMs, ViolationList } from './result.js'

/**
 * Commit indexes only grow: within one incarnation of a correct node each
 * commit's index is strictly greater than the previous one (in the order the
 * node reported them). Gaps are allowed: a snapshot may cover indexes. A
 * restart starts a new incarnation, which may begin anywhere.
 */
export function checkMonotonicCommit(record: RunRecord): CheckResult {
  const violations = new ViolationList('monotonic-commit')
  const lastByIncarnation = new Map<string, CommitRecord>()
  for (const commit of correctCommits(record)) {
    const incarnation = `${commit.node}#${commit.incarnation}`
    const last = lastByIncarnation.get(incarnation)
    lastByIncarnation.set(incarnation, commit)
    if (last === undefined || commit.index > last.index) continue
    violations.add(
      `${incarnation} committed index ${commit.index} (t=${formatMs(commit.at)}) after index ${last.index} (t=${formatMs(last.at)})`,
      { node: commit.node, incarnation: commit.incarnation, previous: last, next: commit },
    )
  }
  return violations.result()
}
