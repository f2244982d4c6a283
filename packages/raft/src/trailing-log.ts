// The trailing log of etcd's SnapshotCatchUpEntries: when a node compacts,
// the last entries the snapshot covers stay available, so a follower that is
// only a little behind the compaction point (it restarted, or fell back to
// probing after a lost message) is caught up from the log instead of with a
// whole snapshot. Core's Storage drops every covered entry on saveSnapshot,
// so the window is kept here, in memory: it is lost on a restart (the
// restarted node then sends snapshots to such followers, as before).
import type { LogEntry, Storage } from '@synod/core'

export class TrailingLog {
  /** Contiguous committed entries, ending at the last compaction point. */
  private entries: LogEntry[] = []
  private bytes = 0

  constructor(
    private readonly maxEntries: number,
    /** 0: no byte limit. */
    private readonly maxBytes: number,
  ) {}

  /**
   * `storage` is about to be compacted through `upto` (a snapshot at `upto`): keep the
   * last entries up to it. Called before saveSnapshot, while the entries are still there.
   */
  retain(storage: Storage, upto: number): void {
    if (this.maxEntries === 0) return
    const storageFirst = storage.firstIndex()
    const from = Math.max(storageFirst, upto - this.maxEntries + 1)
    // The kept entries must run on into the new ones without a gap.
    if (from !== storageFirst || (this.entries.length > 0 && this.lastIndex() !== storageFirst - 1)) this.clear()
    if (from <= upto) {
      for (const entry of storage.entries(from, upto + 1)) {
        this.entries.push(entry)
        this.bytes += entry.data.byteLength
      }
    }
    let drop = Math.max(0, this.entries.length - this.maxEntries)
    let bytes = this.bytes
    for (let i = 0; i < drop; i++) bytes -= this.entries[i]!.data.byteLength
    while (this.maxBytes > 0 && bytes > this.maxBytes && drop < this.entries.length) bytes -= this.entries[drop++]!.data.byteLength
    if (drop > 0) this.entries = this.entries.slice(drop)
    this.bytes = bytes
  }

  /** The log was replaced (a snapshot installed over it): the window no longer joins it. */
  clear(): void {
    this.entries = []
    this.bytes = 0
  }

  /** First index held, or undefined when empty. */
  firstIndex(): number | undefined {
    return this.entries[0]?.index
  }

  lastIndex(): number {
    return this.entries.length === 0 ? 0 : this.entries[this.entries.length - 1]!.index
  }

  get size(): number {
    return this.entries.length
  }

  term(index: number): number | undefined {
    const first = this.entries[0]?.index
    if (first === undefined || index < first || index > this.lastIndex()) return undefined
    return this.entries[index - first]!.term
  }

  /** Entries in [from, to) that the window holds, stopping once `maxBytes` is reached (at least one). */
  slice(from: number, to: number, maxBytes: number): LogEntry[] {
    const first = this.entries[0]?.index
    if (first === undefined || from < first) return []
    const out: LogEntry[] = []
    let bytes = 0
    for (let i = from; i < to && i <= this.lastIndex(); i++) {
      const entry = this.entries[i - first]!
      if (out.length > 0 && bytes + entry.data.byteLength > maxBytes) break
      out.push(entry)
      bytes += entry.data.byteLength
    }
    return out
  }
}
