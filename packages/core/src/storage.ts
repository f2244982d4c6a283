/**
 * One log record. `term` is the protocol's epoch number for the entry
 * (Raft term, Paxos ballot, PBFT view); `data` is protocol-encoded.
 */
export interface LogEntry {
  readonly index: number
  readonly term: number
  readonly data: Uint8Array
}

export interface Snapshot {
  /** Last log index the snapshot covers. */
  readonly index: number
  /** Term of that entry. */
  readonly term: number
  /** The state machine's snapshot. */
  readonly data: Uint8Array
  /** Protocol metadata (e.g. the membership at `index`). */
  readonly meta: Uint8Array
}

/**
 * The stored snapshot, as `Storage.snapshot()` returns it. `data` is the whole state-machine
 * snapshot; a durable store may keep it only in its file and read it back when `data` is asked
 * for (one copy, each time nobody holds the last one), so protocols that send it in pieces use
 * `size` and `read` instead (ADR 0027). The handle stays readable after a newer snapshot
 * replaces it, for as long as it is referenced (a transfer that started with it finishes it).
 */
export interface StoredSnapshot extends Snapshot {
  /** `data.byteLength`, without reading the data. */
  readonly size: number
  /**
   * Bytes [offset, offset + length) of `data` (clamped to `size`): only those are read. The
   * result may be a view of a buffer the store keeps: treat it as read-only.
   */
  read(offset: number, length: number): Uint8Array
}

/** Takes a snapshot's bytes in order, a chunk at a time. */
export interface SnapshotSink {
  /** The next bytes. The callee copies or writes them out: the caller may reuse the buffer. */
  write(chunk: Uint8Array): void
}

/**
 * A snapshot being written into storage a chunk at a time (`Storage.beginSnapshot`), so that it
 * never has to exist as one buffer: a durable store writes each chunk to a new file at once. Until
 * `commit()` nothing changes what the store shows; `commit()` does what `saveSnapshot` does with the
 * bytes written (same index and term rules, same compaction), durable at the next `sync()`. A crash
 * before that sync leaves the previous snapshot. `abort()` throws the bytes away. Several writers
 * may be open at once; each is committed or aborted at most once.
 */
export interface SnapshotWriter extends SnapshotSink {
  readonly index: number
  readonly term: number
  /** Bytes written so far. */
  readonly bytesWritten: number
  /** Store the snapshot (see `saveSnapshot`). Throws, leaving the store as it was, when the rules refuse it. */
  commit(): void
  /** Drop what was written. Harmless after commit or abort. */
  abort(): void
}

export interface BeginSnapshotOptions {
  /**
   * The data's length when known up front (a received snapshot): a store may size its buffer once,
   * and `commit()` throws unless exactly this many bytes were written.
   */
  readonly size?: number
}

/** How `Storage.saveSnapshot` may treat the snapshot it is given. */
export interface SaveSnapshotOptions {
  /**
   * The caller hands `data` over: the store may keep that buffer instead of a
   * copy, and the caller never writes to it again. A follower that assembles a
   * received snapshot in one buffer passes it, so the snapshot is in memory
   * once (a store may ignore it and copy); `beginSnapshot` avoids that buffer.
   */
  readonly handOver?: boolean
}

/**
 * Persistent state of one node: small hard-state values, an append-only log
 * and the latest snapshot. Reads and writes are synchronous and see every
 * write at once; writes become durable only when `sync()` resolves. The
 * Replica calls `sync()` once per batch, before it sends that batch's
 * messages — this is group commit and what makes promises safe.
 *
 * Indexes start at 1. With no snapshot `firstIndex()` is 1 and an empty log
 * has `lastIndex()` 0.
 */
export interface Storage {
  getHardState(key: string): Uint8Array | undefined
  setHardState(key: string, value: Uint8Array): void

  /** Index of the first entry still in the log (snapshot index + 1 after compaction). */
  firstIndex(): number
  /** Index of the last entry, or the snapshot index when the log is empty. */
  lastIndex(): number
  /** Term of entry `index`; also answers for the snapshot's index. `undefined` when unknown. */
  term(index: number): number | undefined
  entry(index: number): LogEntry | undefined
  /** Entries in [from, to), stopping early once `maxBytes` of data is reached (at least one entry is returned). */
  entries(from: number, to: number, maxBytes?: number): LogEntry[]

  /** Append entries; the first must be `lastIndex() + 1` and indexes must be contiguous. */
  append(entries: readonly LogEntry[]): void
  /** Remove every entry with index ≥ `fromIndex` (conflicting suffix). */
  truncateSuffix(fromIndex: number): void
  /** Remove every entry with index ≤ `uptoIndex`; only up to the snapshot index. */
  compactPrefix(uptoIndex: number): void

  snapshot(): StoredSnapshot | undefined
  /**
   * Store a snapshot. Log entries it covers are dropped; if the log holds the
   * entry at `snapshot.index` with the same term the suffix after it is kept,
   * otherwise the whole log is discarded (the snapshot wins). The store copies
   * `data` unless `options.handOver` says it may keep it.
   */
  saveSnapshot(snapshot: Snapshot, options?: SaveSnapshotOptions): void
  /**
   * Start writing the snapshot at `index`/`term` with protocol metadata `meta` a chunk at a time
   * (see SnapshotWriter): the streaming form of `saveSnapshot`, for a snapshot too large to hold
   * as one buffer.
   */
  beginSnapshot(index: number, term: number, meta: Uint8Array, options?: BeginSnapshotOptions): SnapshotWriter

  /** True when there are writes not yet durable. */
  hasPendingWrites(): boolean
  /** Make every write so far durable. */
  sync(): Promise<void>
  close(): Promise<void>
}
