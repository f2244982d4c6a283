import type { CheckResult, CommitRecord, RunRecord } from '../types.js'
import { correctCommits, describeCommit, formatMs, shortDigest, ViolationList } from './result.js'

/**
 * Durability: an acknowledged write is never lost or replaced. Each
 * acknowledged command must be committed by some correct node, and at every
 * index where a correct node committed it, every correct node incarnation
 * that also committed that index committed the same command.
 *
 * Why by index and not "in every node's final log": a node restarted from a
 * snapshot does not re-commit the indexes the snapshot covers, and a laggard
 * may not have reached the index yet; neither is a lost write. A node that
 * did commit the index must have committed the acknowledged command there.
 */
export function checkDurability(record: RunRecord): CheckResult {
  const violations = new ViolationList('durability')
  const commits = correctCommits(record)
  const indexesOfDigest = new Map<string, Set<number>>()
  const commitsAtIndex = new Map<number, CommitRecord[]>()
  for (const commit of commits) {
    let indexes = indexesOfDigest.get(commit.digest)
    if (indexes === undefined) indexesOfDigest.set(commit.digest, (indexes = new Set()))
    indexes.add(commit.index)
    let atIndex = commitsAtIndex.get(commit.index)
    if (atIndex === undefined) commitsAtIndex.set(commit.index, (atIndex = []))
    atIndex.push(commit)
  }
  const operations = new Map(record.history.map((op) => [op.id, op]))
  for (const [operationId, digest] of record.acknowledgedCommands) {
    const op = operations.get(operationId)
    const what = op === undefined ? `operation ${operationId}` : `${op.kind} ${op.id} of client ${op.client} on ${op.key} (acknowledged t=${op.completedAt === undefined ? '?' : formatMs(op.completedAt)})`
    const indexes = indexesOfDigest.get(digest)
    if (indexes === undefined) {
      violations.add(`${what} was lost: no correct node committed its command ${shortDigest(digest)}`, { operation: operationId, digest })
      continue
    }
    for (const index of indexes) {
      const replaced = commitsAtIndex.get(index)!.find((c) => c.digest !== digest)
      if (replaced === undefined) continue
      violations.add(`${what} was replaced at index ${index}: ${describeCommit(replaced)} instead of ${shortDigest(digest)}`, {
        operation: operationId,
        digest,
        index,
        replacement: replaced,
      })
      break
    }
  }
  return violations.result()
}
