// A trailing log (etcd's SnapshotCatchUpEntries), shared by the log-based protocols (Raft, Multi-Paxos):
// when a node compacts its log into a snapshot, the last entries the snapshot covers stay available, so a
// peer only a little behind the compaction point (it restarted, was cut off briefly, or fell back to
// probing) is caught up from entries instead of with a whole snapshot. Storage drops every covered entry
// on saveSnapshot, so the window is kept here, in memory, bounded in entries and bytes: it is lost on a
// restart (the restarted node then sends snapshots to such peers, as before). Paxos stores slot = index,
// ballot = term, chosen value = data.
import type { LogEntry, Storage } from './storage.js'

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
   * Read newest first, so no more than the window is ever read (entries may be megabytes).
   */
  retain(storage: Storage, upto: number): void {
    if (this.maxEntries === 0) return
    const storageFirst = storage.firstIndex()
    const fresh: LogEntry[] = []
    let bytes = 0
    for (let i = upto; i >= storageFirst && fresh.length < this.maxEntries; i--) {
      const entry = storage.entry(i)
      if (entry === undefined || (this.maxBytes > 0 && bytes + entry.data.byteLength > this.maxBytes)) break
      fresh.push(entry)
      bytes += entry.data.byteLength
    }
    fresh.reverse()
    // The kept entries stay only if they run on into the new ones without a gap and there is room.
    const joins = fresh.length > 0 && fresh[0]!.index === storageFirst && this.entries.length > 0 && this.lastIndex() === storageFirst - 1
    if (!joins) {
      this.entries = fresh
      this.bytes = bytes
      return
    }
    let keep = Math.min(this.entries.length, this.maxEntries - fresh.length)
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

  /** Bytes of the entries' data the window holds. */
  get byteLength(): number {
    return this.bytes
  }

  /** Term of `index` if the window holds it. */
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
