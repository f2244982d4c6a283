import type { CheckResult, CommitRecord, RunRecord } from '../types.js'
import { correctCommits, describeCommit, ViolationList } from './result.js'

/**
 * Agreement: no two correct nodes commit different commands at the same
 * index, whatever their incarnations. A node that disagrees only with its
 * own earlier incarnation is the stability checker's finding, not this one's.
 * Reported once per diverging index.
 */
export function checkAgreement(record: RunRecord): CheckResult {
  const violations = new ViolationList('agreement')
  // index → digest → the first commit of that digest by each node
  const seen = new Map<number, Map<string, Map<string, CommitRecord>>>()
  const reportedIndexes = new Set<number>()
  for (const commit of correctCommits(record)) {
    let byDigest = seen.get(commit.index)
    if (byDigest === undefined) seen.set(commit.index, (byDigest = new Map()))
    if (!reportedIndexes.has(commit.index)) {
      const conflicting = findOtherNodeWithOtherDigest(byDigest, commit)
      if (conflicting !== undefined) {
        reportedIndexes.add(commit.index)
        violations.add(`index ${commit.index}: ${describeCommit(conflicting)} but ${describeCommit(commit)}`, {
          index: commit.index,
          first: conflicting,
          conflicting: commit,
        })
      }
    }
    let byNode = byDigest.get(commit.digest)
    if (byNode === undefined) byDigest.set(commit.digest, (byNode = new Map()))
    if (!byNode.has(commit.node)) byNode.set(commit.node, commit)
  }
  return violations.result()
}

function findOtherNodeWithOtherDigest(byDigest: Map<string, Map<string, CommitRecord>>, commit: CommitRecord): CommitRecord | undefined {
  for (const [digest, byNode] of byDigest) {
    if (digest === commit.digest) continue
    for (const [node, earlier] of byNode) if (node !== commit.node) return earlier
  }
  return undefined
}
