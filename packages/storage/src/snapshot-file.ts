import { closeSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { StorageCorruptionError, StoppedError } from '@synod/core'
import type { Snapshot, StoredSnapshot } from '@synod/core'
import { FILE_MODE, fsyncAsync, fsyncDirectory, writeAllAt } from './files.js'
import { clampRange, ownDataProperty } from './stored-snapshot.js'

// Snapshot file, version 2 (ADR 0027), written front to back as the data is produced:
//   magic "SYNS", u8 version, f64 id, f64 index, f64 term, u32 metaLength, meta, data,
//   f64 dataLength, u32 crc32 of everything before it.
// The data's length is only known at the end, hence the footer. Version 1 (still read) had
// f64 dataLength in the header, after metaLength, and the crc32 right after the data.

const MAGIC = 0x534e5953 // "SYNS" read as u32 LE
const VERSION = 2
const HEADER_BYTES = 4 + 1 + 8 + 8 + 8 + 4
const V1_HEADER_BYTES = HEADER_BYTES + 8
const FOOTER_BYTES = 8 + 4
/** Recovery verifies the checksum reading this much at a time, never the whole file at once. */
const VERIFY_BYTES = 1024 * 1024

export const snapshotFileName = (id: number) => `snapshot-${String(id).padStart(12, '0')}.snap`
export const SNAPSHOT_FILE_PATTERN = /^snapshot-(\d{12})\.snap$/

/**
 * An open snapshot file's descriptor, shared by the stored snapshot that reads from it. Closed when
 * the store closes or when nothing refers to that snapshot any more (`closeWhenCollected`); `closed`
 * guards against closing a descriptor number the OS has since handed to another file.
 */
export interface SnapshotFd {
  readonly fd: number
  closed: boolean
  /** The store's set of open descriptors, closed with the store. */
  readonly owner: Set<SnapshotFd>
}

export function openFd(fd: number, owner: Set<SnapshotFd>): SnapshotFd {
  const file: SnapshotFd = { fd, closed: false, owner }
  owner.add(file)
  return file
}

export function closeFd(file: SnapshotFd): void {
  if (file.closed) return
  file.closed = true
  file.owner.delete(file)
  try {
    closeSync(file.fd)
  } catch {
    // Best effort: the file was read-only to us by now, or is being abandoned.
  }
}

// A superseded snapshot (its file already unlinked) stays readable while a transfer still holds it;
// its descriptor is closed once that snapshot is collected.
const closeWhenCollected = new FinalizationRegistry<SnapshotFd>(closeFd)

/**
 * The durable store's stored snapshot: the data stays in the file and is read a range at a time
 * (`read`), or whole on demand (`data`: one buffer, kept only while someone else holds it). Until
 * its file is written a snapshot saved whole (`saveSnapshot`) reads from that buffer.
 */
export class FileSnapshot implements StoredSnapshot {
  #file: SnapshotFd | undefined
  #dataOffset = 0
  #buffer: Uint8Array | undefined
  #cached: WeakRef<Uint8Array> | undefined

  constructor(
    readonly index: number,
    readonly term: number,
    readonly meta: Uint8Array,
    readonly size: number,
    source: { readonly buffer: Uint8Array } | { readonly file: SnapshotFd; readonly dataOffset: number },
  ) {
    if ('buffer' in source) this.#buffer = source.buffer
    else this.inFile(source.file, source.dataOffset)
    ownDataProperty(this, () => this.whole())
  }

  declare readonly data: Uint8Array

  /** The data is now in `file` at `dataOffset`: read from there; the buffer is kept only while others hold it. */
  inFile(file: SnapshotFd, dataOffset: number): void {
    this.#file = file
    this.#dataOffset = dataOffset
    if (this.#buffer !== undefined) this.#cached = new WeakRef(this.#buffer)
    this.#buffer = undefined
    closeWhenCollected.register(this, file)
  }

  private whole(): Uint8Array {
    if (this.#buffer !== undefined) return this.#buffer
    const cached = this.#cached?.deref()
    if (cached !== undefined) return cached
    const whole = this.readFile(0, this.size)
    this.#cached = new WeakRef(whole)
    return whole
  }

  read(offset: number, length: number): Uint8Array {
    const [from, to] = clampRange(offset, length, this.size)
    if (this.#buffer !== undefined) return this.#buffer.subarray(from, to)
    const cached = this.#cached?.deref()
    if (cached !== undefined) return cached.subarray(from, to)
    return this.readFile(from, to - from)
  }

  private readFile(from: number, length: number): Uint8Array {
    const file = this.#file!
    if (file.closed) throw new StoppedError(`snapshot ${this.index} (its storage is closed)`)
    const out = new Uint8Array(length)
    readFully(file.fd, out, this.#dataOffset + from)
    return out
  }
}

function readFully(fd: number, into: Uint8Array, position: number): void {
  let done = 0
  while (done < into.byteLength) {
    const read = readSync(fd, into, done, into.byteLength - done, position + done)
    if (read === 0) throw new Error(`snapshot file ended ${into.byteLength - done} bytes early`)
    done += read
  }
}

function header(id: number, index: number, term: number, meta: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(HEADER_BYTES)
  head.writeUInt32LE(MAGIC, 0)
  head[4] = VERSION
  head.writeDoubleLE(id, 5)
  head.writeDoubleLE(index, 13)
  head.writeDoubleLE(term, 21)
  head.writeUInt32LE(meta.byteLength, 29)
  return head
}

function footer(dataLength: number, crcBefore: number): Buffer {
  const foot = Buffer.allocUnsafe(FOOTER_BYTES)
  foot.writeDoubleLE(dataLength, 0)
  foot.writeUInt32LE(crc32(foot.subarray(0, 8), crcBefore), 8)
  return foot
}

const tempName = (id: number) => `${snapshotFileName(id)}.tmp`

/**
 * A snapshot file being written front to back (`Storage.beginSnapshot`): each chunk goes to the
 * page cache at once (a blocking write of one chunk; the fsync is at `finish`, off the event loop),
 * so the snapshot never has to be one buffer in memory. `finish` makes it durable and gives it its
 * name; until then it is a `.tmp` file that recovery deletes.
 */
export class SnapshotFileWriter {
  readonly file: SnapshotFd
  readonly dataOffset: number
  private position: number
  private crc: number
  private dataLength = 0

  constructor(
    private readonly dir: string,
    readonly id: number,
    index: number,
    term: number,
    meta: Uint8Array,
    owner: Set<SnapshotFd>,
  ) {
    const fd = openSync(join(dir, tempName(id)), 'w+', FILE_MODE)
    this.file = openFd(fd, owner)
    const head = header(id, index, term, meta)
    this.crc = crc32(meta, crc32(head))
    this.dataOffset = HEADER_BYTES + meta.byteLength
    this.position = 0
    try {
      this.writeSync(head)
      this.writeSync(meta)
    } catch (error) {
      this.discard()
      throw error
    }
  }

  append(chunk: Uint8Array): void {
    this.writeSync(chunk)
    this.crc = crc32(chunk, this.crc)
    this.dataLength += chunk.byteLength
  }

  /** Footer, fsync, rename to its final name, fsync the directory. The descriptor stays open for reads. */
  async finish(): Promise<void> {
    const foot = footer(this.dataLength, this.crc)
    await writeAllAt(this.file.fd, [foot], this.position)
    this.position += foot.byteLength
    await fsyncAsync(this.file.fd)
    renameSync(join(this.dir, tempName(this.id)), join(this.dir, snapshotFileName(this.id)))
    fsyncDirectory(this.dir)
  }

  /** Remove the unfinished file. Its descriptor stays open while a stored snapshot reads from it. */
  unlink(): void {
    try {
      unlinkSync(join(this.dir, tempName(this.id)))
    } catch {
      // Gone already, or recovery deletes it.
    }
  }

  /** Abort: close and remove. */
  discard(): void {
    closeFd(this.file)
    this.unlink()
  }

  private writeSync(bytes: Uint8Array): void {
    let done = 0
    while (done < bytes.byteLength) {
      done += writeSync(this.file.fd, bytes, done, bytes.byteLength - done, this.position + done)
    }
    this.position += bytes.byteLength
  }
}

/** Write a snapshot held as one buffer (`saveSnapshot`) as a version 2 file: atomic like the streamed one. Returns its descriptor. */
export async function writeSnapshotFile(dir: string, id: number, snapshot: Snapshot, owner: Set<SnapshotFd>): Promise<{ file: SnapshotFd; dataOffset: number }> {
  const head = header(id, snapshot.index, snapshot.term, snapshot.meta)
  const crc = crc32(snapshot.data, crc32(snapshot.meta, crc32(head)))
  const fd = openSync(join(dir, tempName(id)), 'w+', FILE_MODE)
  const file = openFd(fd, owner)
  try {
    await writeAllAt(fd, [head, snapshot.meta, snapshot.data, footer(snapshot.data.byteLength, crc)], 0)
    await fsyncAsync(fd)
    renameSync(join(dir, tempName(id)), join(dir, snapshotFileName(id)))
  } catch (error) {
    closeFd(file)
    throw error
  }
  fsyncDirectory(dir)
  return { file, dataOffset: HEADER_BYTES + snapshot.meta.byteLength }
}

/**
 * Open and verify the snapshot file the log names (the checksum over the whole file, read a
 * megabyte at a time); any mismatch is corruption. The data stays in the file.
 */
export function openSnapshotFile(dir: string, id: number, expected: { index: number; term: number }, owner: Set<SnapshotFd>): FileSnapshot {
  const path = join(dir, snapshotFileName(id))
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    throw new StorageCorruptionError(
      `the write-ahead log names snapshot ${id} (index ${expected.index}) as current but its file cannot be read (${(error as Error).message}); restore the data directory from a backup or rejoin the node with an empty one`,
      { file: path },
    )
  }
  const file = openFd(fd, owner)
  try {
    return verify(fd, path, id, expected, file)
  } catch (error) {
    closeFd(file)
    throw error
  }
}

function verify(fd: number, path: string, id: number, expected: { index: number; term: number }, file: SnapshotFd): FileSnapshot {
  const fail = (what: string, offset: number) =>
    new StorageCorruptionError(`snapshot file is damaged: ${what}; restore the data directory from a backup or rejoin the node with an empty one`, {
      file: path,
      offset,
    })
  const fileBytes = fstatSync(fd).size
  if (fileBytes < HEADER_BYTES + 4) throw fail(`only ${fileBytes} bytes`, 0)
  const head = Buffer.alloc(V1_HEADER_BYTES)
  readFully(fd, head.subarray(0, Math.min(V1_HEADER_BYTES, fileBytes)), 0)
  const version = head[4]
  if (head.readUInt32LE(0) !== MAGIC || (version !== 1 && version !== VERSION)) throw fail('bad magic or version', 0)
  const metaLength = head.readUInt32LE(29)
  let dataOffset: number
  let dataLength: number
  let checkedEnd: number // the checksum covers [0, checkedEnd) and is stored right after
  if (version === 1) {
    dataLength = head.readDoubleLE(33)
    dataOffset = V1_HEADER_BYTES + metaLength
    checkedEnd = dataOffset + dataLength
    if (checkedEnd + 4 !== fileBytes) throw fail(`length fields say ${checkedEnd + 4} bytes, file has ${fileBytes}`, 29)
  } else {
    if (fileBytes < HEADER_BYTES + FOOTER_BYTES) throw fail(`only ${fileBytes} bytes`, 0)
    const foot = Buffer.alloc(FOOTER_BYTES)
    readFully(fd, foot, fileBytes - FOOTER_BYTES)
    dataLength = foot.readDoubleLE(0)
    dataOffset = HEADER_BYTES + metaLength
    checkedEnd = fileBytes - 4
    if (dataOffset + dataLength + FOOTER_BYTES !== fileBytes) throw fail(`length fields say ${dataOffset + dataLength + FOOTER_BYTES} bytes, file has ${fileBytes}`, fileBytes - FOOTER_BYTES)
  }
  let crc = 0
  const piece = Buffer.allocUnsafe(Math.min(VERIFY_BYTES, checkedEnd))
  for (let at = 0; at < checkedEnd; ) {
    const view = piece.subarray(0, Math.min(piece.byteLength, checkedEnd - at))
    readFully(fd, view, at)
    crc = crc32(view, crc)
    at += view.byteLength
  }
  const stored = Buffer.alloc(4)
  readFully(fd, stored, checkedEnd)
  if (crc !== stored.readUInt32LE(0)) throw fail('checksum mismatch', checkedEnd)
  const index = head.readDoubleLE(13)
  const term = head.readDoubleLE(21)
  if (head.readDoubleLE(5) !== id || index !== expected.index || term !== expected.term) {
    throw fail(`holds id ${head.readDoubleLE(5)} index ${index} term ${term}, the log expects id ${id} index ${expected.index} term ${expected.term}`, 5)
  }
  const meta = new Uint8Array(metaLength)
  readFully(fd, meta, dataOffset - metaLength)
  return new FileSnapshot(index, term, meta, dataLength, { file, dataOffset })
}
