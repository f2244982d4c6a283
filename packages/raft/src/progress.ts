// The leader's view of one follower, after etcd-io/raft's tracker.Progress:
// probe (one AppendEntries at a time until the match point is found),
// replicate (optimistic pipelining within an in-flight window) and snapshot
// (waiting for InstallSnapshot to finish).

import type { StoredSnapshot } from '@synod/core'

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
  /** Snapshot state: the index of the snapshot being sent (etcd's PendingSnapshot). */
  pendingSnapshot = 0
  /** Snapshot state: the snapshot this transfer sends to the end, even once the leader took a newer one. */
  snapshot: StoredSnapshot | undefined
  /** Snapshot state: the next byte offset to send, and how far the follower acknowledged. */
  snapshotSent = 0
  snapshotAcked = 0
  /** Snapshot state: the acknowledged offset we already went back to after a duplicate acknowledgement (once per loss). */
  snapshotRewoundAt = -1
  /** Snapshot state: the link was reported broken; resend from the acknowledged offset at the next heartbeat answer. */
  snapshotResumeOnContact = false
  /**
   * Heard from since the last CheckQuorum round. False for the followers of a new leader (only
   * the leader itself is active then, as in etcd); true for a member added by a config change, so
   * CheckQuorum does not count it out before it could answer.
   */
  recentActive = false
  /** Highest ReadIndex round this follower acknowledged. */
  readAck = 0
  /** Commit index this follower was last told about. */
  sentCommit = 0
  /** When match last advanced (or the state last changed), to detect stalled pipelines. */
  lastProgressAt: number
  /**
   * Replicate: when the oldest unacknowledged append of the current run was sent (the window was
   * empty before it). A follower idle since long ago is not stalled the moment new entries go out.
   */
  inflightSince = 0
  readonly inflights: Inflights

  constructor(
    next: number,
    public isLearner: boolean,
    now: number,
    maxInflightMessages: number,
    maxInflightBytes: number,
    recentActive = false,
  ) {
    this.next = next
    this.recentActive = recentActive
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
    this.clearSnapshot()
    this.inflights.reset()
    this.lastProgressAt = now
  }

  becomeReplicate(now: number): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.probeSent = false
    this.clearSnapshot()
    this.inflights.reset()
    this.lastProgressAt = now
  }

  becomeSnapshot(snapshot: StoredSnapshot, now: number): void {
    this.state = 'snapshot'
    this.pendingSnapshot = snapshot.index
    this.snapshot = snapshot
    this.snapshotSent = 0
    this.snapshotAcked = 0
    this.snapshotRewoundAt = -1
    this.snapshotResumeOnContact = false
    this.probeSent = false
    this.inflights.reset()
    this.lastProgressAt = now
  }

  private clearSnapshot(): void {
    this.pendingSnapshot = 0
    this.snapshot = undefined // the leader's copy of an old snapshot can be collected
    this.snapshotSent = this.snapshotAcked = 0
    this.snapshotRewoundAt = -1
    this.snapshotResumeOnContact = false
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
