import type { CheckResult, CommitRecord, RunRecord, Violation } from '../types.js'

/** Beyond this many, further violations are only counted: a broken run can produce thousands. */
export const MAX_REPORTED_VIOLATIONS = 20

/** Collects a checker's violations, keeping the first few and counting the rest. */
export class ViolationList {
  private readonly kept: Violation[] = []
  private total = 0

  constructor(private readonly checker: string) {}

  add(message: string, detail?: unknown): void {
    this.total++
    if (this.kept.length < MAX_REPORTED_VIOLATIONS)
      this.kept.push(detail === undefined ? { checker: this.checker, message } : { checker: this.checker, message, detail })
  }

  get count(): number {
    return this.total
  }

  result(): CheckResult {
    if (this.total === 0) return { checker: this.checker, verdict: 'ok', violations: [] }
    const hidden = this.total - this.kept.length
    return {
      checker: this.checker,
      verdict: 'violation',
      violations: this.kept,
      ...(hidden > 0 ? { note: `${this.total} violations, the first ${this.kept.length} shown` } : {}),
    }
  }
}

/** Commits of the nodes that behaved correctly: byzantine nodes may commit anything. */
export function correctCommits(record: RunRecord): CommitRecord[] {
  const correct = new Set(record.correctNodes)
  return record.commits.filter((c) => correct.has(c.node))
}

export function describeCommit(commit: CommitRecord): string {
  return `${commit.node}#${commit.incarnation} committed ${shortDigest(commit.digest)} at index ${commit.index} (t=${formatMs(commit.at)})`
}

export function shortDigest(digest: string): string {
  return digest.length > 12 ? digest.slice(0, 12) : digest
}

/** Virtual times are fractional ms; a tenth of a ms is plenty in messages. */
export function formatMs(ms: number): string {
  return String(Math.round(ms * 10) / 10)
}
