// For Storage implementations that keep a snapshot as one buffer (test doubles, small stores): the
// streamed parts of the contract (ADR 0027) on top of `saveSnapshot`, so each need not write its own.
import { concatBytes } from './cbor-writer.js'
import type { Snapshot, SnapshotWriter, StoredSnapshot } from './storage.js'

/** A snapshot held whole, as a StoredSnapshot: `read` is a view into `data`. */
export function wholeSnapshot(snapshot: Snapshot): StoredSnapshot {
  const { index, term, data, meta } = snapshot
  return {
    index,
    term,
    data,
    meta,
    size: data.byteLength,
    read: (offset, length) => {
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
        throw new RangeError(`read(${offset}, ${length}): offset and length must be non-negative integers`)
      }
      return data.subarray(offset, offset + length)
    },
  }
}

/**
 * A SnapshotWriter that gathers copies of the chunks and hands the joined snapshot to `save` (the
 * store's `saveSnapshot`, handing the buffer over) at commit: the snapshot is whole in memory then,
 * which a store that streams to disk avoids.
 */
export function bufferedSnapshotWriter(index: number, term: number, meta: Uint8Array, save: (snapshot: Snapshot) => void): SnapshotWriter {
  let parts: Uint8Array[] = []
  let bytesWritten = 0
  let state: 'open' | 'committed' | 'aborted' = 'open'
  const check = (what: string) => {
    if (state !== 'open') throw new Error(`snapshot writer for index ${index}: ${what} after ${state === 'committed' ? 'commit' : 'abort'}`)
  }
  return {
    index,
    term,
    get bytesWritten() {
      return bytesWritten
    },
    write(chunk) {
      check('write')
      parts.push(chunk.slice())
      bytesWritten += chunk.byteLength
    },
    commit() {
      check('commit')
      save({ index, term, data: concatBytes(parts), meta: meta.slice() })
      parts = []
      state = 'committed'
    },
    abort() {
      if (state !== 'open') return
      parts = []
      state = 'aborted'
    },
  }
}
