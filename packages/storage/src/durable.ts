import { closeSync, ftruncateSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError, StoppedError, StorageCorruptionError, SynodError } from '@synod/core'
import type { BeginSnapshotOptions, LogEntry, SaveSnapshotOptions, Snapshot, SnapshotWriter, Storage, StoredSnapshot } from '@synod/core'
import { DIR_MODE, FILE_MODE, fdatasyncAsync, fsyncDirectory, restrictPermissions, writeAllAt } from './files.js'
import { acquireLock } from './lock.js'
import { checkAppend, checkCompact, checkIndex, checkSnapshot, checkSnapshotPlace, checkTruncate } from './log-rules.js'
import { InMemoryLogReads } from './log-reads.js'
import { closeFd, FileSnapshot, openSnapshotFile, SNAPSHOT_FILE_PATTERN, snapshotFileName, SnapshotFileWriter, writeSnapshotFile } from './snapshot-file.js'
import type { SnapshotFd } from './snapshot-file.js'
import { SnapshotWriterBase } from './stored-snapshot.js'
import {
  encodeCheckpoint,
  encodeCommit,
  encodeCompact,
  encodeEntries,
  encodeHardState,
  encodeSnapshotMarker,
  encodeTruncate,
  findIntactFrameAfter,
  FORMAT_VERSION,
  readFrame,
  RecordType,
} from './wal-format.js'
import type { SnapshotMarker, WalRecord } from './wal-format.js'

export interface DurableStorageOptions {
  /** Start a new write-ahead-log segment once the current one reaches this many bytes. Default 64 MiB. */
  readonly segmentBytes?: number
  /**
   * Told after every sync that wrote a batch (metrics: fsync latency, bytes, snapshot files). Called
   * synchronously; whatever it throws is ignored (an observer never fails a write).
   */
  readonly onSync?: (sync: DurableSync) => void
}

/** One completed sync: the batch's bytes, and the time of its writev + fdatasync (and of a snapshot file it wrote). */
export interface DurableSync {
  readonly bytes: number
  readonly seconds: number
  readonly snapshot?: { readonly bytes: number; readonly seconds: number }
}

export interface DurableStorageStats {
  /** Completed syncs that wrote a batch (each: one writev + one fdatasync). */
  readonly syncs: number
  /** Bytes appended to the write-ahead log since open (framing included). */
  readonly walBytesWritten: number
  readonly snapshotsWritten: number
  /** Write-ahead-log segment files on disk now. */
  readonly segments: number
  readonly segmentsDeleted: number
  /** Bytes of an unfinished last batch cut off by recovery at open. */
  readonly tornBytesDiscarded: number
}

/** The daemon's Storage: a segmented write-ahead log with group commit, plus snapshot files. */
export interface DurableStorage extends Storage {
  /** Absolute path of the data directory. */
  readonly dir: string
  stats(): DurableStorageStats
  /**
   * Drop unsynced writes and release the directory without writing
   * anything, as a crash would (for tests and simulations in one process).
   */
  abandon(): void
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
const SEGMENT_FILE_PATTERN = /^wal-(\d{12})\.log$/
const segmentFileName = (seq: number) => `wal-${String(seq).padStart(12, '0')}.log`

/**
 * Open (creating if needed) the data directory `dir`, recover it, and lock
 * it against other processes.
 *
 * Recovery replays the log, cuts an unfinished last batch (a torn tail from
 * a crash mid-sync) and refuses to start with StorageCorruptionError when a
 * record before the tail is damaged.
 */
export async function openDurableStorage(dir: string, options: DurableStorageOptions = {}): Promise<DurableStorage> {
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 4096) {
    throw new ConfigError(`must be an integer of at least 4096 bytes, got ${segmentBytes}`, 'segmentBytes')
  }
  const root = resolve(dir)
  // New directories' entries must be durable too, or a crash could lose them.
  const created = mkdirSync(root, { recursive: true, mode: DIR_MODE })
  if (created !== undefined) {
    for (let made = root; ; made = dirname(made)) {
      fsyncDirectory(dirname(made))
      if (made === created) break
    }
  }
  // The log holds every client's data: only the node's user may read it (also a directory made by an older version).
  restrictPermissions(root)
  const release = acquireLock(root)
  try {
    const store = new DurableStore(root, segmentBytes, release, options.onSync)
    await store.recover()
    return store
  } catch (error) {
    release()
    throw error
  }
}

/** Placeholder for entries known to exist but held by a deleted segment; never visible after recovery. */
const UNKNOWN_ENTRY: LogEntry = Object.freeze({ index: -1, term: -1, data: new Uint8Array(0) })

interface Segment {
  readonly seq: number
  readonly path: string
  /** lastIndex() when the segment was started (its checkpoint). */
  checkpointLast: number
}

/** Writes since the last sync; written by the next sync as one batch. */
interface Batch {
  readonly frames: Uint8Array[]
  records: number
  bytes: number
  /** Start a new segment for this batch (its first frame is the checkpoint). */
  readonly roll: boolean
  readonly checkpointLast: number
  /** The last snapshot saved in this batch: its file is written (or, streamed, finished) before the log. */
  snapshot: PendingSnapshotFile | undefined
}

/** A snapshot saved whole (its file is written at the sync) or streamed (its file is finished at the sync). */
type PendingSnapshotFile =
  | { readonly marker: SnapshotMarker; readonly stored: FileSnapshot; readonly snapshot: Snapshot; readonly writer?: undefined }
  | { readonly marker: SnapshotMarker; readonly stored: FileSnapshot; readonly writer: SnapshotFileWriter; readonly snapshot?: undefined }

/** `Storage.beginSnapshot` on the durable store: every chunk goes to the snapshot's file at once (ADR 0027). */
class DurableSnapshotWriter extends SnapshotWriterBase {
  constructor(
    private readonly target: DurableStore,
    readonly file: SnapshotFileWriter,
    index: number,
    term: number,
    readonly meta: Uint8Array,
    size: number | undefined,
  ) {
    super(index, term, size)
  }

  protected take(chunk: Uint8Array): void {
    this.target.writeSnapshotChunk(this.file, chunk)
  }

  protected store(): void {
    this.target.commitStreamedSnapshot(this)
  }

  protected discard(): void {
    this.target.discardSnapshotFile(this.file)
  }
}

class DurableStore extends InMemoryLogReads implements DurableStorage {
  declare protected snap: FileSnapshot | undefined
  private marker: SnapshotMarker | undefined
  /** Descriptors of snapshot files open for reading or writing, closed with the store. */
  private readonly snapshotFds = new Set<SnapshotFd>()
  /** Streamed snapshot files not yet committed or aborted. */
  private readonly writing = new Set<SnapshotFileWriter>()
  private readonly hard = new Map<string, Uint8Array>()

  private segments: Segment[] = []
  private fd = -1
  /** Bytes written to the current segment. */
  private position = 0
  /** Bytes the current segment will hold once every batch so far is written; decides rolls. */
  private plannedBytes = 0
  private batch: Batch | undefined
  private syncChain: Promise<void> = Promise.resolve()
  private durableMarker: SnapshotMarker | undefined
  private nextSnapshotId = 1
  private closed = false
  private failure: Error | undefined

  private syncs = 0
  private walBytesWritten = 0
  private snapshotsWritten = 0
  private segmentsDeleted = 0
  private tornBytesDiscarded = 0

  constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
    private readonly releaseLock: () => void,
    private readonly onSync?: (sync: DurableSync) => void,
  ) {
    super()
  }

  // ---- reads (from memory; the contract's reads are synchronous) ----

  getHardState(key: string): Uint8Array | undefined {
    this.checkOpen()
    return this.hard.get(key)
  }

  snapshot(): StoredSnapshot | undefined {
    this.checkOpen()
    return this.snap
  }

  // ---- writes (applied in memory now, framed into the pending batch) ----

  setHardState(key: string, value: Uint8Array): void {
    this.checkWritable()
    if (typeof key !== 'string') throw new TypeError('hard-state key must be a string')
    if (!(value instanceof Uint8Array)) throw new TypeError(`hard-state value for ${key} must be a Uint8Array`)
    const { frame, stored } = encodeHardState(key, value)
    this.add(frame)
    this.hard.set(key, stored)
  }

  append(entries: readonly LogEntry[]): void {
    this.checkWritable()
    if (entries.length === 0) return
    checkAppend(entries, this.lastIndex() + 1)
    const { frames, stored } = encodeEntries(entries)
    this.add(frames, entries.length)
    for (const entry of stored) this.log.push(entry)
  }

  truncateSuffix(fromIndex: number): void {
    this.checkWritable()
    checkTruncate(fromIndex, this.first - 1)
    if (fromIndex > this.lastIndex()) return
    this.add(encodeTruncate(fromIndex))
    this.log.length = fromIndex - this.first
  }

  compactPrefix(uptoIndex: number): void {
    this.checkWritable()
    checkCompact(uptoIndex, this.marker?.index ?? 0)
    if (uptoIndex < this.first) return
    this.add(encodeCompact(uptoIndex))
    this.log = this.log.slice(uptoIndex - this.first + 1)
    this.first = uptoIndex + 1
  }

  saveSnapshot(snapshot: Snapshot, options?: SaveSnapshotOptions): void {
    this.checkWritable()
    checkSnapshot(snapshot, this.snap)
    const keptSuffix = this.term(snapshot.index) === snapshot.term && snapshot.index <= this.lastIndex()
    const marker: SnapshotMarker = { id: this.nextSnapshotId++, index: snapshot.index, term: snapshot.term }
    // A handed-over buffer (a follower's assembled snapshot) is kept as it is: one copy in memory until its file is written.
    const data = options?.handOver === true ? snapshot.data : snapshot.data.slice()
    const meta = snapshot.meta.slice()
    const copy: Snapshot = Object.freeze({ index: snapshot.index, term: snapshot.term, data, meta })
    const stored = new FileSnapshot(snapshot.index, snapshot.term, meta, data.byteLength, { buffer: data })
    this.pendSnapshot({ marker, stored, snapshot: copy }, keptSuffix)
  }

  /**
   * Streamed (ADR 0027): a `.tmp` file is written chunk by chunk as the writer is fed; commit puts the
   * marker in the batch and the next sync fsyncs the file, renames it and then writes the log.
   */
  beginSnapshot(index: number, term: number, meta: Uint8Array, options?: BeginSnapshotOptions): SnapshotWriter {
    this.checkWritable()
    checkSnapshotPlace({ index, term, meta }, this.snap)
    if (options?.size !== undefined) checkIndex('beginSnapshot size', options.size)
    const kept = meta.slice()
    const file = new SnapshotFileWriter(this.dir, this.nextSnapshotId++, index, term, kept, this.snapshotFds)
    this.writing.add(file)
    return new DurableSnapshotWriter(this, file, index, term, kept, options?.size)
  }

  /** A writer's chunk: to the file at once. A failed write fails the store, as a failed sync does. */
  writeSnapshotChunk(file: SnapshotFileWriter, chunk: Uint8Array): void {
    this.checkWritable()
    try {
      file.append(chunk)
    } catch (error) {
      this.failure = new SynodError(
        'STORAGE_FAILED',
        `snapshot file write failed in ${this.dir}: ${(error as Error).message}; restart the node — recovery keeps every write synced before the failure`,
        { cause: error },
      )
      throw this.failure
    }
  }

  commitStreamedSnapshot(writer: DurableSnapshotWriter): void {
    this.checkWritable()
    checkSnapshotPlace(writer, this.snap)
    const keptSuffix = this.term(writer.index) === writer.term && writer.index <= this.lastIndex()
    const marker: SnapshotMarker = { id: writer.file.id, index: writer.index, term: writer.term }
    const stored = new FileSnapshot(writer.index, writer.term, writer.meta, writer.bytesWritten, { file: writer.file.file, dataOffset: writer.file.dataOffset })
    this.writing.delete(writer.file)
    this.pendSnapshot({ marker, stored, writer: writer.file }, keptSuffix)
  }

  discardSnapshotFile(file: SnapshotFileWriter): void {
    this.writing.delete(file)
    file.discard()
  }

  private pendSnapshot(pending: PendingSnapshotFile, keptSuffix: boolean): void {
    this.add(encodeSnapshotMarker(pending.marker, keptSuffix))
    // A snapshot saved earlier in this batch is superseded before it was ever durable: its file is not needed.
    // (Its descriptor stays open while that snapshot is still read, e.g. by a transfer.)
    this.batch!.snapshot?.writer?.unlink()
    this.batch!.snapshot = pending
    this.applySnapshotMarker(pending.marker, keptSuffix)
    this.snap = pending.stored
  }

  hasPendingWrites(): boolean {
    return this.batch !== undefined
  }

  sync(): Promise<void> {
    if (this.closed) return Promise.reject(new StoppedError('durable storage (closed)'))
    const run = this.syncChain.then(() => this.flush())
    this.syncChain = run.catch(() => undefined)
    return run
  }

  /** Sync what was written, then release the files and the lock. */
  async close(): Promise<void> {
    if (this.closed) return
    try {
      if (this.failure === undefined) await this.sync()
      await this.syncChain
    } finally {
      this.closed = true
      this.batch = undefined
      this.closeFile()
      this.closeSnapshotFiles()
      this.releaseLock()
    }
  }

  abandon(): void {
    if (this.closed) return
    this.closed = true
    this.batch = undefined
    this.closeFile()
    this.closeSnapshotFiles()
    this.releaseLock()
  }

  /** Unfinished `.tmp` files are left for recovery to delete, as a crash would leave them. */
  private closeSnapshotFiles(): void {
    this.writing.clear()
    for (const file of [...this.snapshotFds]) closeFd(file)
  }

  stats(): DurableStorageStats {
    return {
      syncs: this.syncs,
      walBytesWritten: this.walBytesWritten,
      snapshotsWritten: this.snapshotsWritten,
      segments: this.segments.length,
      segmentsDeleted: this.segmentsDeleted,
      tornBytesDiscarded: this.tornBytesDiscarded,
    }
  }

  // ---- group commit ----

  private add(frame: Uint8Array, records = 1): void {
    let batch = this.batch
    if (batch === undefined) {
      // The first write after a sync decides whether this batch starts a new
      // segment; the checkpoint records the state every earlier batch left.
      const roll = this.plannedBytes >= this.segmentBytes
      batch = { frames: [], records: 0, bytes: 0, roll, checkpointLast: this.lastIndex(), snapshot: undefined }
      this.batch = batch
      if (roll) {
        this.plannedBytes = 0
        const checkpoint = encodeCheckpoint(this.lastIndex(), this.marker, this.hard)
        batch.frames.push(checkpoint)
        batch.records++
        batch.bytes += checkpoint.byteLength
        this.plannedBytes += checkpoint.byteLength
      }
    }
    batch.frames.push(frame)
    batch.records += records
    batch.bytes += frame.byteLength
    this.plannedBytes += frame.byteLength
  }

  /** Write the pending batch: snapshot file first, then one writev and one fdatasync. */
  private async flush(): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    if (this.closed) throw new StoppedError('durable storage (closed)')
    const batch = this.batch
    if (batch === undefined) return
    this.batch = undefined
    const commit = encodeCommit(batch.records)
    batch.frames.push(commit)
    batch.bytes += commit.byteLength
    this.plannedBytes += commit.byteLength
    let snapshotTimed: { bytes: number; seconds: number } | undefined
    let started = 0
    try {
      const pendingSnapshot = batch.snapshot
      if (pendingSnapshot !== undefined) {
        // Durable before the log names it, so a committed marker always has its file.
        const snapshotStarted = performance.now()
        if (pendingSnapshot.writer !== undefined) await pendingSnapshot.writer.finish()
        else {
          const written = await writeSnapshotFile(this.dir, pendingSnapshot.marker.id, pendingSnapshot.snapshot, this.snapshotFds)
          // From now on it is read from the file; the buffer lives on only while its owner keeps it.
          pendingSnapshot.stored.inFile(written.file, written.dataOffset)
        }
        snapshotTimed = { bytes: pendingSnapshot.stored.size + pendingSnapshot.stored.meta.byteLength, seconds: (performance.now() - snapshotStarted) / 1000 }
        this.snapshotsWritten++
      }
      if (batch.roll) this.startSegment(batch.checkpointLast)
      started = performance.now()
      await writeAllAt(this.fd, batch.frames, this.position)
      this.position += batch.bytes
      await fdatasyncAsync(this.fd)
      if (batch.roll) fsyncDirectory(this.dir)
    } catch (error) {
      // After a failed write or fsync the file's state is unknown (the kernel
      // may have dropped dirty pages): stop accepting writes for good.
      this.failure = new SynodError(
        'STORAGE_FAILED',
        `write-ahead log write failed in ${this.dir}: ${(error as Error).message}; restart the node — recovery keeps every write synced before the failure`,
        { cause: error },
      )
      throw this.failure
    }
    this.syncs++
    this.walBytesWritten += batch.bytes
    if (this.onSync !== undefined) {
      try {
        this.onSync({ bytes: batch.bytes, seconds: (performance.now() - started) / 1000, ...(snapshotTimed === undefined ? {} : { snapshot: snapshotTimed }) })
      } catch {
        // An observer never fails a write.
      }
    }
    if (batch.snapshot !== undefined) {
      const previous = this.durableMarker
      this.durableMarker = batch.snapshot.marker
      if (previous !== undefined) this.unlinkQuietly(join(this.dir, snapshotFileName(previous.id)))
      this.deleteCoveredSegments()
    }
  }

  private startSegment(checkpointLast: number): void {
    const seq = (this.segments.at(-1)?.seq ?? 0) + 1
    const path = join(this.dir, segmentFileName(seq))
    const fd = openSync(path, 'wx', FILE_MODE)
    this.closeFile()
    this.fd = fd
    this.position = 0
    this.segments.push({ seq, path, checkpointLast })
  }

  /**
   * Prefix compaction without rewriting: the oldest segment can go once the
   * next one's checkpoint starts at or below the durable snapshot, because
   * replay from that checkpoint then needs nothing older.
   */
  private deleteCoveredSegments(): void {
    const covered = this.durableMarker?.index ?? 0
    let deleted = 0
    while (this.segments.length >= 2 && this.segments[1]!.checkpointLast <= covered) {
      this.unlinkQuietly(this.segments.shift()!.path)
      deleted++
    }
    if (deleted > 0) {
      this.segmentsDeleted += deleted
      fsyncDirectory(this.dir)
    }
  }

  // ---- recovery ----

  async recover(): Promise<void> {
    const names = readdirSync(this.dir)
    const snapshotIds: number[] = []
    for (const name of names) {
      const segment = SEGMENT_FILE_PATTERN.exec(name)
      if (segment !== null) this.segments.push({ seq: Number(segment[1]), path: join(this.dir, name), checkpointLast: 0 })
      const snapshot = SNAPSHOT_FILE_PATTERN.exec(name)
      if (snapshot !== null) snapshotIds.push(Number(snapshot[1]))
      // A snapshot whose rename never happened was never named by the log.
      if (name.endsWith('.tmp')) this.unlinkQuietly(join(this.dir, name))
    }
    this.segments.sort((a, b) => a.seq - b.seq)
    for (let i = 1; i < this.segments.length; i++) {
      if (this.segments[i]!.seq !== this.segments[i - 1]!.seq + 1) {
        throw new StorageCorruptionError(
          `write-ahead log segment ${segmentFileName(this.segments[i - 1]!.seq + 1)} is missing; restore the data directory from a backup or rejoin the node with an empty one`,
          { file: this.segments[i]!.path },
        )
      }
    }
    for (let i = 0; i < this.segments.length; i++) {
      this.replaySegment(this.segments[i]!, i === 0, i === this.segments.length - 1)
    }
    // A crash while starting a segment can leave it without one whole batch.
    const last = this.segments.at(-1)
    if (last !== undefined && this.position === 0) {
      this.unlinkQuietly(last.path)
      this.segments.pop()
      fsyncDirectory(this.dir)
      const previous = this.segments.at(-1)
      if (previous !== undefined) this.position = statSync(previous.path).size
    }
    const unknown = this.log.indexOf(UNKNOWN_ENTRY)
    if (unknown >= 0) {
      throw new StorageCorruptionError(
        `log entry ${this.first + unknown} is needed but the segment holding it is missing; restore the data directory from a backup or rejoin the node with an empty one`,
        { file: this.segments[0]?.path },
      )
    }
    if (this.marker !== undefined) this.snap = openSnapshotFile(this.dir, this.marker.id, this.marker, this.snapshotFds)
    this.durableMarker = this.marker
    this.nextSnapshotId = Math.max(this.marker?.id ?? 0, ...snapshotIds) + 1
    for (const id of snapshotIds) {
      if (id !== this.marker?.id) this.unlinkQuietly(join(this.dir, snapshotFileName(id)))
    }

    if (this.segments.length === 0) {
      // A fresh directory: segment 1 starts with an empty checkpoint.
      const checkpoint = encodeCheckpoint(0, undefined, this.hard)
      this.batch = { frames: [checkpoint], records: 1, bytes: checkpoint.byteLength, roll: true, checkpointLast: 0, snapshot: undefined }
      this.plannedBytes = checkpoint.byteLength
      await this.flush()
      return
    }
    const current = this.segments.at(-1)!
    this.fd = openSync(current.path, 'r+')
    this.plannedBytes = this.position
  }

  private replaySegment(segment: Segment, isFirst: boolean, isLast: boolean): void {
    const file = readFileSync(segment.path)
    let offset = 0
    let committedEnd = 0
    let batch: WalRecord[] = []
    while (offset < file.length) {
      const read = readFrame(file, offset)
      if (!read.ok) {
        if (isLast && findIntactFrameAfter(file, offset) === undefined) break
        throw new StorageCorruptionError(
          `write-ahead log record is damaged (${read.reason}) and intact records follow it, so this is not a torn tail; refusing to start rather than drop committed data — restore the data directory from a backup or rejoin the node with an empty one`,
          { file: segment.path, offset },
        )
      }
      const { record } = read
      if (offset === 0 && record.type !== RecordType.checkpoint) {
        throw new StorageCorruptionError('write-ahead log segment does not start with a checkpoint record', { file: segment.path, offset })
      }
      if (record.type === RecordType.commit) {
        if (record.records !== batch.length) {
          throw new StorageCorruptionError(`batch has ${batch.length} records but its commit record counts ${record.records}`, {
            file: segment.path,
            offset,
          })
        }
        for (const r of batch) this.replayRecord(r, segment, isFirst, offset)
        batch = []
        committedEnd = read.next
      } else {
        batch.push(record)
      }
      offset = read.next
    }
    if (committedEnd < file.length) {
      if (!isLast) {
        throw new StorageCorruptionError('write-ahead log segment ends with an unfinished batch but a newer segment follows it', {
          file: segment.path,
          offset: committedEnd,
        })
      }
      // Torn tail: the last sync never completed, so nothing in it was promised.
      const fd = openSync(segment.path, 'r+')
      try {
        ftruncateSync(fd, committedEnd)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      this.tornBytesDiscarded += file.length - committedEnd
    }
    if (isLast) this.position = committedEnd
  }

  private replayRecord(record: WalRecord, segment: Segment, isFirst: boolean, offset: number): void {
    const corrupt = (what: string) => new StorageCorruptionError(`write-ahead log replay: ${what}`, { file: segment.path, offset })
    switch (record.type) {
      case RecordType.checkpoint:
        if (record.version !== FORMAT_VERSION) {
          throw corrupt(`format version ${record.version} is not supported (this build reads ${FORMAT_VERSION}); use a matching @synod/storage`)
        }
        segment.checkpointLast = record.lastIndex
        if (isFirst) {
          // Older segments were deleted: entries up to lastIndex are known to
          // exist; a snapshot later in the log must cover them.
          this.marker = record.snapshot
          this.first = (record.snapshot?.index ?? 0) + 1
          this.log = new Array<LogEntry>(Math.max(0, record.lastIndex - this.first + 1)).fill(UNKNOWN_ENTRY)
          this.hard.clear()
          for (const [key, value] of record.hardState) this.hard.set(key, value)
        } else if (record.lastIndex !== this.first + this.log.length - 1) {
          throw corrupt(`checkpoint says the log ends at ${record.lastIndex}, replay reached ${this.first + this.log.length - 1}`)
        }
        return
      case RecordType.entry:
        if (record.entry.index !== this.first + this.log.length) {
          throw corrupt(`entry ${record.entry.index} does not follow the log end ${this.first + this.log.length - 1}`)
        }
        this.log.push(record.entry)
        return
      case RecordType.truncate:
        if (record.fromIndex < this.first) throw corrupt(`truncation at ${record.fromIndex} reaches into the snapshot`)
        if (record.fromIndex - this.first < this.log.length) this.log.length = record.fromIndex - this.first
        return
      case RecordType.compact:
        if (record.uptoIndex >= this.first) {
          this.log = this.log.slice(record.uptoIndex - this.first + 1)
          this.first = record.uptoIndex + 1
        }
        return
      case RecordType.snapshot:
        this.applySnapshotMarker(record.marker, record.keptSuffix)
        return
      case RecordType.hardState:
        this.hard.set(record.key, record.value)
        return
      case RecordType.commit:
        return
    }
  }

  /** Shared by saveSnapshot and replay: the kept-suffix decision is recorded, so replay needs no terms. */
  private applySnapshotMarker(marker: SnapshotMarker, keptSuffix: boolean): void {
    this.log = keptSuffix ? this.log.slice(marker.index - this.first + 1) : []
    this.first = marker.index + 1
    this.marker = marker
  }

  // ---- housekeeping ----

  private unlinkQuietly(path: string): void {
    try {
      unlinkSync(path)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }

  private closeFile(): void {
    if (this.fd < 0) return
    try {
      closeSync(this.fd)
    } catch {
      // Closing is best effort; the data was already synced or is being abandoned.
    }
    this.fd = -1
  }

  protected checkOpen(): void {
    if (this.closed) throw new StoppedError('durable storage (closed; open the directory again)')
  }

  private checkWritable(): void {
    this.checkOpen()
    if (this.failure !== undefined) throw this.failure
  }
}
