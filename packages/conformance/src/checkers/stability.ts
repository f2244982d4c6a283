import type { CheckResult, CommitRecord, RunRecord } from '../types.js'
import { correctCommits, describeCommit, ViolationList } from './result.js'

/**
 * Stability: a committed entry never changes. A correct node, in any later
 * incarnation (or the same one), never commits a different command at an
 * index it committed before. Reported once per node and index.
 */
export function checkStability(record: RunRecord): CheckResult {
  const violations = new ViolationList('stability')
  const firstByNodeIndex = new Map<string, CommitRecord>()
  const reported = new Set<string>()
  for (const commit of correctCommits(record)) {
    const slot = `${commit.node}\u0000${commit.index}`
    const first = firstByNodeIndex.get(slot)
    if (first === undefined) {
      firstByNodeIndex.set(slot, commit)
      continue
    }
    if (first.digest === commit.digest || reported.has(slot)) continue
    reported.add(slot)
    violations.add(`${commit.node} changed index ${commit.index}: ${describeCommit(first)}, later ${describeCommit(commit)}`, {
      node: commit.node,
      index: commit.index,
      first,
      changed: commit,
    })
  }
  return violations.result()
}
