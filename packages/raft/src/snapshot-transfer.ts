// Leader side of a chunked InstallSnapshot (§7) to one follower, after
// etcd-io/raft's PendingSnapshot: a transfer sends the snapshot it started
// with to the end, even when the leader takes a newer one meanwhile (starting
// over whenever the leader compacts again never finishes under steady writes);
// chunks are pipelined within a byte window; a loss or a stall resumes at the
// last offset the follower acknowledged, not at 0.
import type { StoredSnapshot } from '@synod/core'
import { crc32c } from './checksum.js'
import type { Progress } from './progress.js'

/**
 * Test-only switch restoring the old transfer, so a test can show what the
 * fix changes: one chunk per round trip, starting over at offset 0 whenever
 * the leader has a newer snapshot, and no compaction held back for a follower
 * being caught up. Never set outside tests; not exported from the package entry.
 */
export const snapshotTesting = {
  oldTransfer: false,
  /** A follower in snapshot state leaves it only once it acknowledges the snapshot, even when the log covers the gap. */
  stayInSnapshotUntilInstalled: false,
  /** A follower installs what it received without checking the chunks' checksums. */
  skipChecksum: false,
  /** The leader sends the whole snapshot as one message, whatever `snapshotChunkBytes` says. */
  unchunked: false,
  /** Take this node's own snapshots in one call (`ctx.takeSnapshot`) even when the runtime can take them in slices. */
  oneShotSnapshots: false,
}

export interface SnapshotChunk {
  readonly offset: number
  readonly chunk: Uint8Array
  /** CRC-32C of the snapshot's bytes before the chunk's end. */
  readonly checksum: number
}

/**
 * Running checksums of a snapshot's data at the chunk ends computed so far, per
 * stored snapshot: each byte is checksummed once per snapshot, when its chunk is
 * first sent, even with several followers and resent chunks.
 */
const prefixChecksums = new WeakMap<StoredSnapshot, Map<number, number>>()

/** Bytes read back from storage at a time when a checksum must start from 0 (a test switch's odd offsets). */
const REREAD_BYTES = 1024 * 1024

/** CRC-32C of the snapshot's data [0, offset + chunk length), extending the value known at `offset` (a chunk boundary). */
function checksumThrough(snapshot: StoredSnapshot, offset: number, chunk: Uint8Array): number {
  let known = prefixChecksums.get(snapshot)
  if (known === undefined) {
    known = new Map([[0, 0]])
    prefixChecksums.set(snapshot, known)
  }
  const end = offset + chunk.byteLength
  const cached = known.get(end)
  if (cached !== undefined) return cached
  // A resumed offset is a chunk end sent before, so it is known; anything else is checksummed from 0.
  let base = known.get(offset)
  if (base === undefined) {
    base = 0
    for (let at = 0; at < offset; at += REREAD_BYTES) base = crc32c(snapshot.read(at, Math.min(REREAD_BYTES, offset - at)), base)
  }
  const value = crc32c(chunk, base)
  known.set(end, value)
  return value
}

/** The chunks to send now: from `snapshotSent` while fewer than `windowBytes` (≥ one chunk) are unacknowledged. */
export function nextSnapshotChunks(pr: Progress, chunkBytes: number, windowBytes: number): SnapshotChunk[] {
  const snapshot = pr.snapshot
  if (snapshot === undefined) return []
  const total = snapshot.size
  const out: SnapshotChunk[] = []
  // An empty snapshot is one empty chunk, sent whenever nothing of it is acknowledged yet.
  if (total === 0) {
    if (pr.snapshotSent === 0) {
      out.push({ offset: 0, chunk: new Uint8Array(0), checksum: 0 })
      pr.snapshotSent = 1
    }
    return out
  }
  while (pr.snapshotSent < total && pr.snapshotSent - pr.snapshotAcked < windowBytes) {
    const offset = pr.snapshotSent
    const end = Math.min(total, offset + chunkBytes)
    // Read back from storage a chunk at a time (ADR 0027): a durable store reads only these bytes from its file.
    const chunk = snapshot.read(offset, end - offset)
    out.push({ offset, chunk, checksum: checksumThrough(snapshot, offset, chunk) })
    pr.snapshotSent = end
  }
  return out
}

export type SnapshotAckOutcome = 'progress' | 'rewind' | 'restart' | 'ignore'

/**
 * The follower says it holds the snapshot's bytes up to `nextOffset`.
 * - beyond what it acknowledged before: progress;
 * - the same again while more was sent: a chunk was lost (the follower only
 *   takes chunks in order and repeats its offset): go back once to that offset;
 * - 0 after more was acknowledged: the follower lost what it had (a restart):
 *   start over (counted by the caller);
 * - otherwise a late, reordered acknowledgement: ignored.
 */
export function snapshotAcknowledged(pr: Progress, nextOffset: number): SnapshotAckOutcome {
  const total = pr.snapshot?.size ?? 0
  const offset = Math.min(nextOffset, total)
  if (offset > pr.snapshotAcked) {
    pr.snapshotAcked = offset
    if (pr.snapshotSent < offset) pr.snapshotSent = offset
    return 'progress'
  }
  if (offset === pr.snapshotAcked) {
    if (pr.snapshotSent <= offset || pr.snapshotRewoundAt === offset) return 'ignore'
    pr.snapshotRewoundAt = offset
    pr.snapshotSent = offset
    return 'rewind'
  }
  if (offset === 0) {
    pr.snapshotAcked = pr.snapshotSent = 0
    pr.snapshotRewoundAt = 0
    return 'restart'
  }
  return 'ignore'
}

/** Nothing acknowledged for a while (a lost chunk or acknowledgement, a healed partition): resend from the acknowledged offset. */
export function resumeSnapshot(pr: Progress): void {
  pr.snapshotSent = pr.snapshotAcked
  pr.snapshotRewoundAt = pr.snapshotAcked
}
