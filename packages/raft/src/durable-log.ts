/**
 * Test-only switches that break the parallel append's safety rules, so tests
 * can show what goes wrong without them. Never set them outside tests.
 */
export const parallelAppendTesting = {
  /** The leader counts its own copy toward the commit quorum as soon as it is appended, before it is durable. */
  countSelfBeforeSync: false,
  /** A follower's append acknowledgement leaves before the sync of the entries it acknowledges. */
  ackBeforeSync: false,
}

/**
 * How far this node's log is known durable (Raft dissertation §10.2.1: the
 * leader writes its log in parallel with sending it, and counts itself toward
 * a commit quorum only for what is on its own disk). The index recorded at
 * `flush()` becomes durable when the runtime calls `persisted()` after the
 * sync that follows; truncating or replacing the log lowers both marks, as
 * the entries they counted are gone.
 */
export class DurableLog {
  private flushedIndex: number
  private durableIndex: number

  constructor(initial: number) {
    this.flushedIndex = initial
    this.durableIndex = initial
  }

  /** The last index this node holds durably. */
  get index(): number {
    return this.durableIndex
  }

  /** The batch is flushed with the log ending at `lastIndex`: the next sync makes that durable. */
  flushed(lastIndex: number): void {
    this.flushedIndex = lastIndex
  }

  /** The runtime synced everything up to the last flush. */
  persisted(): void {
    this.durableIndex = this.flushedIndex
  }

  /** Entries from `fromIndex` on were removed (a conflicting suffix, or the log replaced by a snapshot). */
  truncated(fromIndex: number): void {
    this.durableIndex = Math.min(this.durableIndex, fromIndex - 1)
    this.flushedIndex = Math.min(this.flushedIndex, fromIndex - 1)
  }
}
