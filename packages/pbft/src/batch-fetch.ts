import { bytesEqual, type NodeId, type TimerId } from '@synod/core'
import { encodeBatchFetch, type Digest } from './messages.js'

export interface BatchFetchHost {
  send(to: NodeId, bytes: Uint8Array): void
  setTimer(afterMs: number, onFire: () => void): TimerId
  clearTimer(id: TimerId): void
}

/**
 * Fetches batch bodies a replica knows only by digest (TOCS'02 §4.4, §6: after a view change the
 * O set names batches by digest, and a replica that never received one asks its peers for it).
 * One entry per sequence number of the window, so memory is bounded by the log window; a body is
 * never buffered here: the node checks an answer against the wanted digest and logs it at once.
 * Every replica that holds the body can answer; without an answer the next peer is asked.
 */
export class BatchFetcher {
  private readonly wantedBySeq = new Map<number, { digest: Digest; attempt: number }>()
  private timer: TimerId | undefined

  constructor(
    private readonly host: BatchFetchHost,
    private readonly peers: readonly NodeId[],
    private readonly retryMs: number,
  ) {}

  get size(): number {
    return this.wantedBySeq.size
  }

  /** Ask for the body of `digest` at `seq` (at once, then again elsewhere every retry interval). */
  want(seq: number, digest: Digest): void {
    const known = this.wantedBySeq.get(seq)
    if (known !== undefined && bytesEqual(known.digest, digest)) return
    const entry = { digest, attempt: 0 }
    this.wantedBySeq.set(seq, entry)
    this.ask(seq, entry)
    this.arm()
  }

  /** The digest we asked for at `seq`, if any: only an answer hashing to it is taken. */
  wanted(seq: number): Digest | undefined {
    return this.wantedBySeq.get(seq)?.digest
  }

  done(seq: number): void {
    this.wantedBySeq.delete(seq)
    if (this.wantedBySeq.size === 0) this.disarm()
  }

  /** Forget what the low watermark left behind. */
  prune(low: number): void {
    for (const seq of [...this.wantedBySeq.keys()]) if (seq <= low) this.wantedBySeq.delete(seq)
    if (this.wantedBySeq.size === 0) this.disarm()
  }

  stop(): void {
    this.wantedBySeq.clear()
    this.disarm()
  }

  private ask(seq: number, entry: { digest: Digest; attempt: number }): void {
    if (this.peers.length === 0) return
    // Spread sequence numbers over peers, and move to the next peer on each retry.
    const peer = this.peers[(seq + entry.attempt) % this.peers.length]!
    this.host.send(peer, encodeBatchFetch(seq, entry.digest))
  }

  private arm(): void {
    if (this.timer !== undefined) return
    this.timer = this.host.setTimer(this.retryMs, () => {
      this.timer = undefined
      for (const [seq, entry] of this.wantedBySeq) {
        entry.attempt++
        this.ask(seq, entry)
      }
      if (this.wantedBySeq.size > 0) this.arm()
    })
  }

  private disarm(): void {
    if (this.timer !== undefined) this.host.clearTimer(this.timer)
    this.timer = undefined
  }
}
