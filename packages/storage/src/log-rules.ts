import type { LogEntry, Snapshot } from '@synod/core'

// Argument checks shared by every Storage implementation here, so that the
// memory and durable stores reject the same protocol bugs with the same words.

/** Throws unless `entries` start at `expectedFirst` and are contiguous with valid fields. */
export function checkAppend(entries: readonly LogEntry[], expectedFirst: number): void {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!
    if (entry.index !== expectedFirst + i) {
      throw new RangeError(
        i === 0
          ? `append must start at lastIndex()+1 = ${expectedFirst}, got index ${entry.index}; truncateSuffix() a conflicting suffix first`
          : `append entries must be contiguous: expected index ${expectedFirst + i} at position ${i}, got ${entry.index}`,
      )
    }
    if (!Number.isSafeInteger(entry.term) || entry.term < 0) {
      throw new RangeError(`entry ${entry.index} has an invalid term ${entry.term}; terms are non-negative integers`)
    }
    if (!(entry.data instanceof Uint8Array)) {
      throw new TypeError(`entry ${entry.index} data must be a Uint8Array`)
    }
  }
}

export function checkIndex(what: string, index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${index}`)
  }
}

export function checkSnapshot(snapshot: Snapshot, current: { readonly index: number } | undefined): void {
  if (!(snapshot.data instanceof Uint8Array)) throw new TypeError('snapshot.data and snapshot.meta must be Uint8Arrays')
  checkSnapshotPlace(snapshot, current)
}

/** The checks of `checkSnapshot` that do not need the data: a streamed snapshot's, at begin and again at commit. */
export function checkSnapshotPlace(snapshot: Omit<Snapshot, 'data'>, current: { readonly index: number } | undefined): void {
  checkIndex('snapshot.index', snapshot.index)
  checkIndex('snapshot.term', snapshot.term)
  if (!(snapshot.meta instanceof Uint8Array)) {
    throw new TypeError('snapshot.data and snapshot.meta must be Uint8Arrays')
  }
  if (current !== undefined && snapshot.index < current.index) {
    throw new RangeError(
      `snapshot at index ${snapshot.index} is older than the stored one at ${current.index}; check snapshot() before saving`,
    )
  }
}

export function checkTruncate(fromIndex: number, snapshotIndex: number): void {
  checkIndex('truncateSuffix(fromIndex)', fromIndex)
  if (fromIndex <= snapshotIndex) {
    throw new RangeError(
      `truncateSuffix(${fromIndex}) would remove entries covered by the snapshot at ${snapshotIndex}; snapshotted entries are committed and cannot be truncated`,
    )
  }
}

export function checkCompact(uptoIndex: number, snapshotIndex: number): void {
  checkIndex('compactPrefix(uptoIndex)', uptoIndex)
  if (uptoIndex > snapshotIndex) {
    throw new RangeError(
      `compactPrefix(${uptoIndex}) goes past the snapshot index ${snapshotIndex}; save a snapshot covering those entries first`,
    )
  }
}

export function checkRange(from: number, to: number, firstIndex: number): void {
  checkIndex('entries(from)', from)
  checkIndex('entries(to)', to)
  if (from < firstIndex && from < to) {
    throw new RangeError(`entries(${from}, ${to}): entries before ${firstIndex} were compacted into the snapshot; send the snapshot instead`)
  }
}

/**
 * Pick entries from `log` (whose first element has index `first`) in
 * [from, to), stopping before the total data size would exceed `maxBytes`;
 * the first entry is always included so that progress is possible.
 */
export function sliceByBytes(log: readonly LogEntry[], first: number, from: number, to: number, maxBytes: number | undefined): LogEntry[] {
  const start = from - first
  const end = Math.min(to - first, log.length)
  if (start >= end) return []
  if (maxBytes === undefined) return log.slice(start, end)
  const out: LogEntry[] = []
  let total = 0
  for (let i = start; i < end; i++) {
    const entry = log[i]!
    total += entry.data.byteLength
    if (out.length > 0 && total > maxBytes) break
    out.push(entry)
  }
  return out
}
