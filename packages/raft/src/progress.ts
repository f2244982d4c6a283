// The leader's view of one follower, after etcd-io/raft's tracker.Progress:
// probe (one AppendEntries at a time until the match point is found),
// replicate (optimistic pipelining within an in-flight window) and snapshot
// (waiting for InstallSnapshot to finish).

export type ReplicationState = 'probe' | 'replicate' | 'snapshot'

/** A ring of the last index and size of each AppendEntries in flight. */
export class Inflights {
  private readonly indexes: number[]
  private readonly sizes: number[]
  private start = 0
  count = 0
  bytes = 0

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {
    this.indexes = new Array<number>(maxCount).fill(0)
    this.sizes = new Array<number>(maxCount).fill(0)
  }

  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes)
  }

  add(lastIndex: number, bytes: number): void {
    const slot = (this.start + this.count) % this.maxCount
    this.indexes[slot] = lastIndex
    this.sizes[slot] = bytes
    this.count++
    this.bytes += bytes
  }

  /** Forget every message whose last index is ≤ `index` (acknowledged). */
  freeUpTo(index: number): void {
    while (this.count > 0 && this.indexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!
      this.start = (this.start + 1) % this.maxCount
      this.count--
    }
  }

  freeFirst(): void {
    if (this.count === 0) return
    this.bytes -= this.sizes[this.start]!
    this.start = (this.start + 1) % this.maxCount
    this.count--
  }

  reset(): void {
    this.start = 0
    this.count = 0
    this.bytes = 0
  }
}

export class Progress {
  match = 0
  next: number
  state: ReplicationState = 'probe'
  /** Probe: an AppendEntries is out and unanswered; wait for its answer or the next heartbeat answer. */
  probeSent = false
  /** Snapshot state: the snapshot index being sent and the next chunk offset. */
  pendingSnapshot = 0
  snapshotOffset = 0
  /** Heard from since the last CheckQuorum round. */
  recentActive = true
  /** Highest ReadIndex round this follower acknowledged. */
  readAck = 0
  /** Commit index this follower was last told about. */
  sentCommit = 0
  /** When match last advanced (or the state last changed), to detect stalled pipelines. */
  lastProgressAt: number
  readonly inflights: Inflights

  constructor(
    next: number,
    public isLearner: boolean,
    now: number,
    maxInflightMessages: number,
    maxInflightBytes: number,
  ) {
    this.next = next
    this.lastProgressAt = now
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes)
  }

  paused(): boolean {
    if (this.state === 'probe') return this.probeSent
    if (this.state === 'replicate') return this.inflights.full()
    return true
  }

  becomeProbe(now: number): void {
    // After a snapshot the follower holds at least the snapshot index.
    this.next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1
    this.state = 'probe'
    this.probeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
    this.lastProgressAt = now
  }

  becomeReplicate(now: number): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.probeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
    this.lastProgressAt = now
  }

  becomeSnapshot(index: number, now: number): void {
    this.state = 'snapshot'
    this.pendingSnapshot = index
    this.snapshotOffset = 0
    this.probeSent = false
    this.inflights.reset()
    this.lastProgressAt = now
  }

  /** A successful append reply up to `index`; false if it was stale. */
  maybeUpdate(index: number, now: number): boolean {
    let updated = false
    if (this.match < index) {
      this.match = index
      this.lastProgressAt = now
      updated = true
      this.probeSent = false
    }
    if (this.next < index + 1) this.next = index + 1
    return updated
  }

  /**
   * A rejected append of prevIndex `rejected`; `hint` is the highest index that
   * may still match. False when the reply is stale (etcd's MaybeDecrTo).
   */
  maybeDecrease(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1)
    this.probeSent = false
    return true
  }
}
