import { StoppedError } from '@synod/core'
import type { BeginSnapshotOptions, LogEntry, SaveSnapshotOptions, Snapshot, SnapshotWriter, Storage, StoredSnapshot } from '@synod/core'
import { checkAppend, checkCompact, checkIndex, checkSnapshot, checkSnapshotPlace, checkTruncate } from './log-rules.js'
import { InMemoryLogReads } from './log-reads.js'
import { InMemorySnapshot, SnapshotWriterBase } from './stored-snapshot.js'

/** What a MemoryStorage has done, for simulator metrics and tests. */
export interface MemoryStorageStats {
  /** Calls to sync() that had something to make durable. */
  readonly syncs: number
  /** Payload bytes (entry data, hard-state values, snapshot data + meta) made durable by syncs. */
  readonly bytesWritten: number
  /** Write operations made durable by syncs. */
  readonly operationsSynced: number
  /** Write operations thrown away by crash(). */
  readonly operationsLost: number
  readonly crashes: number
}

export interface CrashOptions {
  /**
   * How many of the oldest unsynced operations survive the crash, as if the
   * disk had already written a prefix of them. Default 0: only synced state
   * survives. A write-ahead log persists writes in order, so a prefix is the
   * only shape a real crash can leave.
   */
  readonly keepUnsynced?: number
}

/**
 * In-memory Storage with crash semantics, for tests and the simulator.
 * Everything the contract says about visibility holds; durability is
 * modelled: `crash()` returns the store to exactly what was synced.
 */
export interface MemoryStorage extends Storage {
  /**
   * Lose every write not yet synced (or all but the first `keepUnsynced`),
   * as a power loss would. The store stays open: a node restarted on the
   * same object sees only the surviving state. Also reopens a closed store.
   */
  crash(options?: CrashOptions): void
  /** Reopen after close(); state is kept (close() synced it). */
  reopen(): void
  /** Number of write operations not yet synced. */
  pendingOperations(): number
  stats(): MemoryStorageStats
}

/**
 * Create an empty in-memory store.
 *
 * Copying: written bytes (entry data, hard-state values, snapshot data and
 * meta, chunks given to a snapshot writer) are copied on write, so callers may
 * reuse their buffers — except snapshot data saved with `handOver`, which is
 * kept as given. A snapshot written through `beginSnapshot` is kept as the
 * chunks it was written in (one buffer when its size was given), joined only if
 * its whole `data` is asked for (ADR 0027). Reads return
 * the stored objects without copying (replication reads are hot); treat them
 * as read-only.
 */
export function memoryStorage(): MemoryStorage {
  return new MemoryStore()
}

/** Undoes one unsynced write; `bytes` is its payload size, counted when it becomes durable. */
interface PendingOperation {
  readonly undo: () => void
  readonly bytes: number
}

const emptyBytes = new Uint8Array(0)

const copyMeta = (meta: Uint8Array): Uint8Array => (meta.byteLength === 0 ? emptyBytes : meta.slice())

/** Keeps a copy of each chunk, or fills one buffer when the size was given (a received snapshot). */
class MemorySnapshotWriter extends SnapshotWriterBase {
  private parts: Uint8Array[] = []
  private readonly buffer: Uint8Array | undefined

  constructor(
    private readonly target: MemoryStore,
    index: number,
    term: number,
    private readonly meta: Uint8Array,
    size: number | undefined,
  ) {
    if (size !== undefined) checkIndex('beginSnapshot size', size)
    super(index, term, size)
    this.buffer = size === undefined || size === 0 ? undefined : new Uint8Array(size)
  }

  protected take(chunk: Uint8Array): void {
    if (this.buffer !== undefined) this.buffer.set(chunk, this.bytesWritten)
    else if (chunk.byteLength > 0) this.parts.push(chunk.slice())
  }

  protected store(): void {
    const parts = this.buffer !== undefined ? [this.buffer] : this.parts
    this.target.install(new InMemorySnapshot(this.index, this.term, this.meta, parts, this.bytesWritten))
    this.parts = []
  }

  protected discard(): void {
    this.parts = []
  }
}

class MemoryStore extends InMemoryLogReads implements MemoryStorage {
  // The log is `log[i]` = entry `first + i`. `first` is always snapshotIndex+1
  // or more, so an empty log still knows where it starts.
  private readonly hard = new Map<string, Uint8Array>()

  // Durability without copying the log per sync: the current state is the
  // truth, and each unsynced write leaves an undo record. sync() forgets the
  // records (O(1)); crash() replays them backwards.
  private pending: PendingOperation[] = []
  private closed = false

  private syncs = 0
  private bytesWritten = 0
  private operationsSynced = 0
  private operationsLost = 0
  private crashes = 0

  getHardState(key: string): Uint8Array | undefined {
    this.checkOpen()
    return this.hard.get(key)
  }

  setHardState(key: string, value: Uint8Array): void {
    this.checkOpen()
    if (typeof key !== 'string') throw new TypeError('hard-state key must be a string')
    if (!(value instanceof Uint8Array)) throw new TypeError(`hard-state value for ${key} must be a Uint8Array`)
    const previous = this.hard.get(key)
    this.hard.set(key, value.slice())
    this.pending.push({
      bytes: value.byteLength,
      undo: () => {
        if (previous === undefined) this.hard.delete(key)
        else this.hard.set(key, previous)
      },
    })
  }

  append(entries: readonly LogEntry[]): void {
    this.checkOpen()
    if (entries.length === 0) return
    checkAppend(entries, this.lastIndex() + 1)
    const log = this.log
    const before = log.length
    let bytes = 0
    for (let i = 0; i < entries.length; i++) bytes += entries[i]!.data.byteLength
    // The caller keeps its buffers: copy the batch's data into one arena (one allocation per
    // append, not one per entry, which dominated the profile) and keep views into it.
    const arena = new Uint8Array(bytes)
    let offset = 0
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      const size = entry.data.byteLength
      arena.set(entry.data, offset)
      log.push({ index: entry.index, term: entry.term, data: arena.subarray(offset, offset + size) })
      offset += size
    }
    this.pending.push({ bytes, undo: () => void (this.log.length = before) })
  }

  truncateSuffix(fromIndex: number): void {
    this.checkOpen()
    checkTruncate(fromIndex, this.first - 1)
    if (fromIndex > this.lastIndex()) return
    const removed = this.log.splice(fromIndex - this.first)
    this.pending.push({
      bytes: 0,
      undo: () => {
        for (const entry of removed) this.log.push(entry)
      },
    })
  }

  compactPrefix(uptoIndex: number): void {
    this.checkOpen()
    checkCompact(uptoIndex, this.snap?.index ?? 0)
    if (uptoIndex < this.first) return
    // saveSnapshot already drops covered entries, so this only matters for
    // stores whose first index lags the snapshot; kept for the contract.
    const previousLog = this.log
    const previousFirst = this.first
    this.log = previousLog.slice(uptoIndex - previousFirst + 1)
    this.first = uptoIndex + 1
    this.pending.push({
      bytes: 0,
      undo: () => {
        this.log = previousLog
        this.first = previousFirst
      },
    })
  }

  snapshot(): StoredSnapshot | undefined {
    this.checkOpen()
    return this.snap
  }

  saveSnapshot(snapshot: Snapshot, options?: SaveSnapshotOptions): void {
    this.checkOpen()
    checkSnapshot(snapshot, this.snap)
    const data = snapshot.data.byteLength === 0 ? emptyBytes : options?.handOver === true ? snapshot.data : snapshot.data.slice()
    this.install(new InMemorySnapshot(snapshot.index, snapshot.term, copyMeta(snapshot.meta), [data], data.byteLength))
  }

  beginSnapshot(index: number, term: number, meta: Uint8Array, options?: BeginSnapshotOptions): SnapshotWriter {
    this.checkOpen()
    checkSnapshotPlace({ index, term, meta }, this.snap)
    return new MemorySnapshotWriter(this, index, term, copyMeta(meta), options?.size)
  }

  /** saveSnapshot's second half, also a writer's commit: the snapshot replaces the stored one (undone by a crash until synced). */
  install(snapshot: InMemorySnapshot): void {
    this.checkOpen()
    checkSnapshotPlace(snapshot, this.snap)
    const previousSnap = this.snap
    const previousLog = this.log
    const previousFirst = this.first
    const keepSuffix = this.term(snapshot.index) === snapshot.term && snapshot.index <= this.lastIndex()
    this.snap = snapshot
    this.log = keepSuffix ? previousLog.slice(snapshot.index - previousFirst + 1) : []
    this.first = snapshot.index + 1
    this.pending.push({
      bytes: snapshot.size + snapshot.meta.byteLength,
      undo: () => {
        this.snap = previousSnap
        this.log = previousLog
        this.first = previousFirst
      },
    })
  }

  hasPendingWrites(): boolean {
    return this.pending.length > 0
  }

  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new StoppedError('memory storage (closed)'))
    this.markDurable()
    return Promise.resolve()
  }

  /** Graceful close: what was written is kept, as a clean shutdown flushes. */
  close(): Promise<void> {
    if (!this.closed) this.markDurable()
    this.closed = true
    return Promise.resolve()
  }

  crash(options?: CrashOptions): void {
    const keep = Math.max(0, Math.min(this.pending.length, Math.floor(options?.keepUnsynced ?? 0)))
    for (let i = this.pending.length - 1; i >= keep; i--) this.pending[i]!.undo()
    this.operationsLost += this.pending.length - keep
    this.pending.length = keep
    this.markDurable(false)
    this.crashes++
    this.closed = false
  }

  reopen(): void {
    this.closed = false
  }

  pendingOperations(): number {
    return this.pending.length
  }

  stats(): MemoryStorageStats {
    return {
      syncs: this.syncs,
      bytesWritten: this.bytesWritten,
      operationsSynced: this.operationsSynced,
      operationsLost: this.operationsLost,
      crashes: this.crashes,
    }
  }

  private markDurable(countAsSync = true): void {
    if (this.pending.length === 0) return
    for (const operation of this.pending) this.bytesWritten += operation.bytes
    this.operationsSynced += this.pending.length
    if (countAsSync) this.syncs++
    this.pending = []
  }

  protected checkOpen(): void {
    if (this.closed) throw new StoppedError('memory storage (closed; call reopen() or crash() to restart it)')
  }
}
