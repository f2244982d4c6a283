// The trailing log (etcd's SnapshotCatchUpEntries, as packages/raft's): when
// a replica truncates its log after a snapshot, the last chosen slots the
// snapshot covers stay available, so a replica only a little behind the
// truncation point (it restarted, was cut off briefly, or fell behind the
// leader's flow control) learns the slots it missed (Learn) instead of
// receiving the whole snapshot. Core's Storage drops every covered entry on
// saveSnapshot, so the window is kept here, in memory, bounded in slots and
// bytes: it is lost on a restart (the restarted node then sends snapshots to
// such replicas, as before). Entries are the storage log's: index = slot,
// term = ballot, data = the chosen value.
import type { LogEntry, Storage } from '@synod/core'

export class TrailingLog {
  /** Contiguous chosen slots, ending at the last truncation point. */
  private entries: LogEntry[] = []
  private bytes = 0

  constructor(
    private readonly maxSlots: number,
    /** 0: no byte limit. */
    private readonly maxBytes: number,
  ) {}

  /**
   * `storage` is about to be truncated through `upto` (a snapshot at `upto`): keep the last slots
   * up to it. Called before saveSnapshot, while they are still there. Read newest first, so no
   * more than the window is ever read (values may be megabytes).
   */
  retain(storage: Storage, upto: number): void {
    if (this.maxSlots === 0) return
    const storageFirst = storage.firstIndex()
    const fresh: LogEntry[] = []
    let bytes = 0
    for (let i = upto; i >= storageFirst && fresh.length < this.maxSlots; i--) {
      const entry = storage.entry(i)
      if (entry === undefined || (this.maxBytes > 0 && bytes + entry.data.byteLength > this.maxBytes)) break
      fresh.push(entry)
      bytes += entry.data.byteLength
    }
    fresh.reverse()
    // What is kept stays only if it runs on into the fresh slots without a gap, within the bounds.
    const joins = fresh.length > 0 && fresh[0]!.index === storageFirst && this.entries.length > 0 && this.lastIndex() === storageFirst - 1
    if (!joins) {
      this.entries = fresh
      this.bytes = bytes
      return
    }
    let keep = Math.min(this.entries.length, this.maxSlots - fresh.length)
    let keptBytes = 0
    for (let i = this.entries.length - keep; i < this.entries.length; i++) keptBytes += this.entries[i]!.data.byteLength
    while (keep > 0 && this.maxBytes > 0 && keptBytes + bytes > this.maxBytes) keptBytes -= this.entries[this.entries.length - keep--]!.data.byteLength
    this.entries = keep === 0 ? fresh : this.entries.slice(this.entries.length - keep).concat(fresh)
    this.bytes = keptBytes + bytes
  }

  /** The log was replaced (a snapshot installed over it): the window no longer joins it. */
  clear(): void {
    this.entries = []
    this.bytes = 0
  }

  /** First slot held, or undefined when empty. */
  firstIndex(): number | undefined {
    return this.entries[0]?.index
  }

  lastIndex(): number {
    return this.entries.length === 0 ? 0 : this.entries[this.entries.length - 1]!.index
  }

  get size(): number {
    return this.entries.length
  }

  get byteLength(): number {
    return this.bytes
  }

  /** Slots in [from, to) that the window holds, stopping once `maxBytes` is reached (at least one). */
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
