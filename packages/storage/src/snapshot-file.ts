import { closeSync, openSync, readFileSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { StorageCorruptionError } from '@synod/core'
import type { Snapshot } from '@synod/core'
import { FILE_MODE, fsyncAsync, fsyncDirectory, writeAllAt } from './files.js'

// Snapshot file: magic "SYNS", u8 version, f64 id, f64 index, f64 term,
// u32 metaLength, f64 dataLength, meta, data, u32 crc32 of everything before.

const MAGIC = 0x534e5953 // "SYNS" read as u32 LE
const VERSION = 1
const HEADER_BYTES = 4 + 1 + 8 + 8 + 8 + 4 + 8

export const snapshotFileName = (id: number) => `snapshot-${String(id).padStart(12, '0')}.snap`
export const SNAPSHOT_FILE_PATTERN = /^snapshot-(\d{12})\.snap$/

/** Write atomically: temp file, fsync, rename, fsync the directory. */
export async function writeSnapshotFile(dir: string, id: number, snapshot: Snapshot): Promise<void> {
  const header = Buffer.allocUnsafe(HEADER_BYTES)
  header.writeUInt32LE(MAGIC, 0)
  header[4] = VERSION
  header.writeDoubleLE(id, 5)
  header.writeDoubleLE(snapshot.index, 13)
  header.writeDoubleLE(snapshot.term, 21)
  header.writeUInt32LE(snapshot.meta.byteLength, 29)
  header.writeDoubleLE(snapshot.data.byteLength, 33)
  let crc = crc32(header)
  crc = crc32(snapshot.meta, crc)
  crc = crc32(snapshot.data, crc)
  const trailer = Buffer.allocUnsafe(4)
  trailer.writeUInt32LE(crc, 0)
  const name = snapshotFileName(id)
  const temp = join(dir, `${name}.tmp`)
  const fd = openSync(temp, 'w', FILE_MODE)
  try {
    await writeAllAt(fd, [header, snapshot.meta, snapshot.data, trailer], 0)
    await fsyncAsync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, join(dir, name))
  fsyncDirectory(dir)
}

/** Read and verify; any mismatch is corruption, since the WAL says this snapshot is current. */
export function readSnapshotFile(dir: string, id: number, expected: { index: number; term: number }): Snapshot {
  const name = snapshotFileName(id)
  const path = join(dir, name)
  let file: Buffer
  try {
    file = readFileSync(path)
  } catch (error) {
    throw new StorageCorruptionError(
      `the write-ahead log names snapshot ${id} (index ${expected.index}) as current but its file cannot be read (${(error as Error).message}); restore the data directory from a backup or rejoin the node with an empty one`,
      { file: path },
    )
  }
  const fail = (what: string, offset: number) =>
    new StorageCorruptionError(`snapshot file is damaged: ${what}; restore the data directory from a backup or rejoin the node with an empty one`, {
      file: path,
      offset,
    })
  if (file.length < HEADER_BYTES + 4) throw fail(`only ${file.length} bytes`, 0)
  if (file.readUInt32LE(0) !== MAGIC || file[4] !== VERSION) throw fail('bad magic or version', 0)
  const metaLength = file.readUInt32LE(29)
  const dataLength = file.readDoubleLE(33)
  const end = HEADER_BYTES + metaLength + dataLength
  if (end + 4 !== file.length) throw fail(`length fields say ${end + 4} bytes, file has ${file.length}`, 29)
  if (crc32(file.subarray(0, end)) !== file.readUInt32LE(end)) throw fail('checksum mismatch', end)
  const index = file.readDoubleLE(13)
  const term = file.readDoubleLE(21)
  if (file.readDoubleLE(5) !== id || index !== expected.index || term !== expected.term) {
    throw fail(`holds id ${file.readDoubleLE(5)} index ${index} term ${term}, the log expects id ${id} index ${expected.index} term ${expected.term}`, 5)
  }
  return {
    index,
    term,
    meta: new Uint8Array(file.buffer, file.byteOffset + HEADER_BYTES, metaLength),
    data: new Uint8Array(file.buffer, file.byteOffset + HEADER_BYTES + metaLength, dataLength),
  }
}

