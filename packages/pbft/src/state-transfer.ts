import { bytesEqual, type NodeId, type TimerId } from '@synod/core'
import { chunkCount, chunksRoot, STATE_CHUNK_BYTES } from './chunks.js'
import { sha256 } from './digest.js'
import {
  decodeExecutionMeta,
  encodeFetchChunk,
  encodeFetchState,
  stateDigest,
  type CheckpointCertificate,
  type Digest,
  type StateChunk,
  type StateTransfer,
} from './messages.js'
import { unsafeTestSwitches } from './test-switches.js'

/** Chunk requests kept in flight to the peer we fetch from. */
const CHUNK_WINDOW = 4

export interface StateTransferHost {
  send(to: NodeId, bytes: Uint8Array): void
  setTimer(afterMs: number, onFire: () => void): TimerId
  clearTimer(id: TimerId): void
  drop(reason: string): void
  validCertificate(cert: CheckpointCertificate): boolean
  /** Every chunk arrived and matched: install the state (`data` is the whole snapshot). */
  install(cert: CheckpointCertificate, meta: Uint8Array, data: Uint8Array, hashes: readonly Digest[]): void
}

interface Manifest {
  readonly meta: Uint8Array
  readonly size: number
  readonly hashes: readonly Digest[]
}

/**
 * The receiving side of state transfer (TOCS'02 §6.2), in chunks: first the manifest of the
 * stable checkpoint (execution metadata, snapshot size, one sha256 per chunk), which must hash
 * to the digest 2f+1 replicas signed; then the chunks, each checked against its digest on
 * arrival and written straight into one buffer of the snapshot's size (memory: the snapshot
 * plus the chunks in flight). A peer that stops answering is replaced by the next one of the
 * certificate, which is asked for the next missing chunk: nothing received is fetched twice.
 */
export class StateReceiver {
  private target: CheckpointCertificate | undefined
  private manifest: Manifest | undefined
  private buffer: Uint8Array | undefined
  private have: Uint8Array | undefined
  private remaining = 0
  private readonly inFlight = new Set<number>()
  private attempt = 0
  private progressed = false
  private timer: TimerId | undefined

  constructor(
    private readonly host: StateTransferHost,
    private readonly self: NodeId,
    private readonly retryMs: number,
  ) {}

  /** The checkpoint being fetched, if any. */
  get targetSeq(): number | undefined {
    return this.target?.seq
  }

  /** Chunks received of the current manifest (for status). */
  get chunksReceived(): number {
    return this.manifest === undefined ? 0 : this.manifest.hashes.length - this.remaining
  }

  begin(cert: CheckpointCertificate): void {
    if (this.target !== undefined && this.target.seq >= cert.seq) return
    this.reset(cert)
    this.request()
  }

  stop(): void {
    this.reset(undefined)
  }

  onManifest(m: StateTransfer): void {
    const target = this.target
    if (target === undefined || m.checkpoint.seq < target.seq) return this.host.drop('stale-state')
    if (m.checkpoint.seq > target.seq) {
      // The peer moved on to a later stable checkpoint: fetch that one instead.
      if (!this.host.validCertificate(m.checkpoint)) return this.host.drop('bad-checkpoint-certificate')
      this.reset(m.checkpoint)
    } else if (this.manifest !== undefined) return
    const cert = this.target!
    if (!bytesEqual(m.checkpoint.digest, cert.digest)) return this.host.drop('state-digest-mismatch')
    // The manifest must hash to the digest 2f+1 replicas signed.
    if (m.hashes.length !== chunkCount(m.size) || !bytesEqual(stateDigest(chunksRoot(m.size, m.hashes), m.meta), cert.digest))
      return this.host.drop('state-digest-mismatch')
    if (decodeExecutionMeta(m.meta).seq !== cert.seq) return this.host.drop('state-digest-mismatch')
    this.manifest = { meta: m.meta, size: m.size, hashes: m.hashes }
    this.buffer = new Uint8Array(m.size)
    this.have = new Uint8Array(m.hashes.length)
    this.remaining = m.hashes.length
    this.progressed = true
    if (this.remaining === 0) return this.finish()
    this.request()
  }

  onChunk(from: NodeId, c: StateChunk): void {
    const manifest = this.manifest
    if (manifest === undefined || c.seq !== this.target!.seq || c.index >= manifest.hashes.length || this.have![c.index] === 1)
      return this.host.drop('unsolicited-state-chunk')
    if (!unsafeTestSwitches.skipChunkDigestCheck && !bytesEqual(sha256(c.data), manifest.hashes[c.index]!)) return this.host.drop('bad-state-chunk')
    this.buffer!.set(c.data, c.index * STATE_CHUNK_BYTES)
    this.have![c.index] = 1
    this.remaining--
    this.inFlight.delete(c.index)
    this.progressed = true
    if (this.remaining === 0) return this.finish()
    this.requestChunks(from)
  }

  private finish(): void {
    const cert = this.target!
    const manifest = this.manifest!
    const data = this.buffer!
    this.reset(undefined)
    this.host.install(cert, manifest.meta, data, manifest.hashes)
  }

  private reset(target: CheckpointCertificate | undefined): void {
    this.target = target
    this.manifest = undefined
    this.buffer = undefined
    this.have = undefined
    this.remaining = 0
    this.inFlight.clear()
    this.attempt = 0
    this.progressed = false
    if (this.timer !== undefined) this.host.clearTimer(this.timer)
    this.timer = undefined
  }

  /** The replicas that signed the checkpoint held it; ask them in turn. */
  private peer(): NodeId | undefined {
    const peers = this.target!.votes.map((v) => v.id).filter((id) => id !== this.self)
    return peers.length === 0 ? undefined : peers[this.attempt % peers.length]
  }

  private request(): void {
    if (this.target === undefined) return
    const peer = this.peer()
    if (peer !== undefined) {
      if (this.manifest === undefined) this.host.send(peer, encodeFetchState(this.target.seq))
      else this.requestChunks(peer)
    }
    this.progressed = false
    if (this.timer !== undefined) this.host.clearTimer(this.timer)
    this.timer = this.host.setTimer(this.retryMs, () => {
      this.timer = undefined
      if (!this.progressed) {
        // No answer in time: the next peer, from the first chunk still missing.
        this.attempt++
        this.inFlight.clear()
      }
      this.request()
    })
  }

  /** Keep CHUNK_WINDOW requests for the lowest missing chunks in flight to `peer`. */
  private requestChunks(peer: NodeId): void {
    const have = this.have!
    for (let i = 0; i < have.length && this.inFlight.size < CHUNK_WINDOW; i++) {
      if (have[i] === 1 || this.inFlight.has(i)) continue
      this.inFlight.add(i)
      this.host.send(peer, encodeFetchChunk(this.target!.seq, i))
    }
  }
}
