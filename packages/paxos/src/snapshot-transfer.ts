// Chunked snapshot catch-up for a replica that needs slots the sender has
// truncated (the scheme of Raft's InstallSnapshot in packages/raft, after
// etcd-io/raft): the sender pins the snapshot a transfer started with and
// sends it to the end even when it takes newer ones meanwhile (starting over
// with each newer snapshot never finishes under steady writes); chunks of at
// most `snapshotChunkBytes` are pipelined within a window; each carries the
// running CRC-32C of the snapshot up to its end, so corruption is caught per
// chunk and the last one verifies the whole; a loss or a stall resumes at the
// offset the receiver acknowledged, never at 0 unless the receiver lost what
// it had (a restart). The receiver takes chunks in order only and answers
// each with the offset it needs next.
import type { NodeId, Snapshot } from '@synod/core'

/**
 * Test-only switches that restore the old behaviour, so tests can show what
 * each rule prevents. Never set outside tests; not exported from the package entry.
 */
export const snapshotTesting = {
  /** A transfer starts over with the sender's newest snapshot whenever it has a newer one (and nothing holds truncation back). */
  restartWithNewest: false,
  /** The receiver installs what it assembled without checking the chunks' checksums. */
  skipChecksum: false,
  /** Take this node's own snapshots in one call (`ctx.takeSnapshot`) even when the runtime can take them in slices. */
  oneShotSnapshots: false,
}

/** Chunks in flight per transfer. */
export const SNAPSHOT_WINDOW_CHUNKS = 4

const TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** CRC-32C (Castagnoli) of `bytes`, continuing from `previous` (the CRC of the bytes before them; 0 for none). */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

export interface SnapshotChunk {
  readonly offset: number
  readonly chunk: Uint8Array
  /** CRC-32C of the snapshot's data before the chunk's end. */
  readonly checksum: number
}

/** One snapshot being sent to one replica. */
export class OutgoingSnapshot {
  /** Bytes sent, and acknowledged, from the start of the data. */
  sent = 0
  acked = 0
  /** The offset a loss was last resent from (each loss is resent once). */
  private rewoundAt = -1
  /** CRC-32C of the data at each chunk end sent so far: each byte is checksummed once per transfer. */
  private readonly checksums = new Map<number, number>([[0, 0]])

  /** When something was last resent after a stall (a resend is not progress). */
  resumedAt: number

  constructor(
    readonly snapshot: Snapshot,
    /** When the receiver last acknowledged new bytes (or the transfer started). */
    public lastProgressAt: number,
  ) {
    this.resumedAt = lastProgressAt
  }

  /** Nothing acknowledged or resent for `ms`. */
  stalled(now: number, ms: number): boolean {
    return now - Math.max(this.lastProgressAt, this.resumedAt) >= ms
  }

  get done(): boolean {
    return this.acked >= Math.max(1, this.snapshot.data.byteLength)
  }

  /** The chunks to send now: from `sent` while fewer than the window are unacknowledged. */
  next(chunkBytes: number): SnapshotChunk[] {
    const data = this.snapshot.data
    const total = data.byteLength
    const out: SnapshotChunk[] = []
    if (total === 0) {
      // An empty snapshot is one empty chunk.
      if (this.sent === 0) out.push({ offset: 0, chunk: data, checksum: 0 })
      this.sent = 1
      return out
    }
    while (this.sent < total && this.sent - this.acked < chunkBytes * SNAPSHOT_WINDOW_CHUNKS) {
      const offset = this.sent
      const end = Math.min(total, offset + chunkBytes)
      let checksum = this.checksums.get(end)
      if (checksum === undefined) {
        const base = this.checksums.get(offset) ?? crc32c(data.subarray(0, offset))
        checksum = crc32c(data.subarray(offset, end), base)
        this.checksums.set(end, checksum)
      }
      out.push({ offset, chunk: data.subarray(offset, end), checksum })
      this.sent = end
    }
    return out
  }

  /**
   * The receiver holds the data up to `nextOffset`. Progress; the same offset again while more was
   * sent (a chunk was lost or corrupt: resend from there, once); 0 after progress (it lost what it
   * had: start over); anything else is a late acknowledgement.
   */
  acknowledged(nextOffset: number, now: number): 'progress' | 'rewind' | 'restart' | 'ignore' {
    const total = this.snapshot.data.byteLength
    const offset = Math.min(nextOffset, Math.max(total, 1))
    if (offset > this.acked) {
      this.acked = offset
      if (this.sent < offset) this.sent = offset
      this.lastProgressAt = now
      return 'progress'
    }
    if (offset === this.acked) {
      if (this.sent <= offset || this.rewoundAt === offset) return 'ignore'
      this.rewoundAt = offset
      this.sent = offset
      return 'rewind'
    }
    if (offset === 0) {
      this.acked = this.sent = 0
      this.rewoundAt = 0
      this.lastProgressAt = now
      return 'restart'
    }
    return 'ignore'
  }

  /** Nothing acknowledged for a while: resend from the acknowledged offset. */
  resume(now: number): void {
    this.sent = this.acked
    this.rewoundAt = this.acked
    this.resumedAt = now
  }
}

/** A snapshot being received, assembled in the one buffer that is then installed. */
export interface IncomingSnapshot {
  readonly from: NodeId
  readonly index: number
  readonly term: number
  readonly meta: Uint8Array
  readonly data: Uint8Array
  received: number
  checksum: number
}
