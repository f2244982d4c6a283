// Read-only requests (Castro & Liskov, TOCS'02 §5.1.3). A proxy sends its
// clients' reads to every replica; each answers from the state it has
// executed, without ordering, and signs one Merkle root over its answers to
// the batch. A read whose answer at 2f+1 replicas (the proxy included)
// matches the proxy's own is answered with a read certificate; any other read
// falls back to ordering, as do reads that wait longer than
// `readTimeoutMs`. Linearizable because, with this option on, writes
// are acknowledged only after 2f+1 matching replies as well: any read quorum
// meets any acknowledged write's executors in a correct replica, whose newer
// answer breaks a stale match (docs/adr/0008-pbft-read-only-requests.md).
import {
  bytesEqual,
  decodeSignedClientRequest,
  InvalidMessageError,
  OverloadedError,
  ProposalDroppedError,
  SynodError,
  type ClientRef,
  type NodeId,
  type ProtocolContext,
  type TimerId,
} from '@synod/core'
import type { ClientRequestChecker } from '@synod/core'
import { merkleTree, treeRoot } from '@synod/crypto'
import { encodeReadReply, encodeReadRequest, type Digest, type ReadReply, type ReadRequest, type Signature, type Vote } from './messages.js'
import type { PbftOptions } from './options.js'
import { buildReadCertificate, readLeaf, readReplyStatement } from './read-certificate.js'
import { encodeReplies } from '@synod/crypto'

/**
 * Test-only switch (not exported from the package): acknowledge writes with
 * f+1 replies even with read-only requests on, to show the stale read that
 * the 2f+1 write threshold prevents.
 */
export const readOnlyTesting = { weakWriteQuorum: false }

/** What the read path needs from its PbftNode. */
export interface ReadOnlyHost {
  readonly ctx: ProtocolContext
  readonly options: PbftOptions
  readonly self: NodeId
  readonly peers: readonly NodeId[]
  /** 2f+1 (⌈(n+f+1)/2⌉ in general): matching answers a read needs. */
  readonly quorum: number
  readonly clientRequests: ClientRequestChecker | undefined
  /** This replica is in an installed view and not fetching state: its reads may go out. */
  canServeReads(): boolean
  /** The Synod index of the state this replica has executed. */
  lastIndex(): number
  /** Order `request` like a command and answer `client` with its ordered result. */
  order(request: Uint8Array, client: ClientRef): void
  verifyFrom(id: NodeId, message: Uint8Array, sig: Signature): boolean
  drop(reason: string): void
}

interface ValidReply {
  readonly sig: Signature
  /** This replica's tree: ours when it sent no diffs. */
  readonly levels: Uint8Array[][]
}

interface ReadBatch {
  readonly id: number
  readonly requests: Uint8Array[]
  readonly clients: ClientRef[]
  readonly results: Array<Uint8Array | undefined>
  readonly leaves: Uint8Array[]
  readonly levels: Uint8Array[][]
  readonly ownSig: Signature
  /** The Synod index of our state when we answered (reported to clients; not certified). */
  readonly index: number
  readonly replies: Map<NodeId, ValidReply>
  /** Peers that answered (validly or not): a read still short of a quorum once all have answered falls back. */
  readonly answered: Set<NodeId>
  readonly done: boolean[]
  /** Encoded `[[id, sig]...]` lists by their signers: most reads of a batch share them. */
  readonly encodedReplies: Map<string, Uint8Array>
  remaining: number
  timer: TimerId | undefined
}

export class ReadOnlyRequests {
  private queue: Array<{ request: Uint8Array; client: ClientRef }> = []
  private inFlight: ReadBatch | undefined
  private nextId = 1
  private stopped = false
  /**
   * Doubles (up to 8×) per batch that timed out and halves (down to 1) per batch that completed in
   * time: a timed-out batch is ordered whole, and on an overloaded machine a fixed timeout turns
   * every read into an ordered one.
   */
  private timeoutFactor = 1
  private servedCount = 0
  private fallbackCount = 0

  constructor(private readonly host: ReadOnlyHost) {}

  /** Reads answered by a read certificate / reads that fell back to ordering (status detail). */
  get served(): number {
    return this.servedCount
  }

  get fallbacks(): number {
    return this.fallbackCount
  }

  read(request: Uint8Array, client: ClientRef): void {
    const host = this.host
    if (host.clientRequests !== undefined && !host.clientRequests.check(request))
      throw new InvalidMessageError(`not a client request signed for cluster '${host.options.cluster}' (clientAuthentication 'signed')`)
    if (!host.canServeReads()) return this.fallBack(request, client)
    if (this.queue.length >= host.options.maxQueuedRequests) throw new OverloadedError(`pbft read queue is full (${host.options.maxQueuedRequests} reads)`)
    this.queue.push({ request, client })
    this.sendNextBatch()
  }

  stop(): void {
    this.stopped = true
    if (this.inFlight?.timer !== undefined) this.host.ctx.clearTimer(this.inFlight.timer)
  }

  /** One batch in flight, like the proxy's bundles: reads that arrive meanwhile go out together next. */
  private sendNextBatch(): void {
    if (this.inFlight !== undefined || this.queue.length === 0 || this.stopped) return
    const host = this.host
    if (!host.canServeReads()) {
      const all = this.queue
      this.queue = []
      for (const r of all) this.fallBack(r.request, r.client)
      return
    }
    const taken = this.queue.splice(0, host.options.maxBundleRequests)
    const requests = taken.map((r) => r.request)
    const results = requests.map((r) => this.query(r))
    const leaves = requests.map((r, i) => readLeaf(r, results[i]))
    const levels = merkleTree(leaves)
    const ownSig = host.ctx.signer!.sign(readReplyStatement(treeRoot(levels)))
    const batch: ReadBatch = {
      id: this.nextId++,
      requests,
      clients: taken.map((r) => r.client),
      results,
      leaves,
      levels,
      ownSig,
      index: host.lastIndex(),
      replies: new Map(),
      answered: new Set(),
      done: requests.map(() => false),
      encodedReplies: new Map(),
      remaining: requests.length,
      timer: undefined,
    }
    this.inFlight = batch
    // A read whose own query failed cannot match anyone: order it now.
    results.forEach((result, i) => {
      if (result === undefined) this.finish(batch, i, false)
    })
    if (batch.remaining === 0) return this.complete(batch)
    const message = encodeReadRequest(batch.id, requests, leaves)
    for (const peer of host.peers) host.ctx.send(peer, message)
    batch.timer = host.ctx.setTimer(host.options.readTimeoutMs * this.timeoutFactor, () => {
      batch.timer = undefined
      if (this.inFlight !== batch) return
      this.timeoutFactor = Math.min(this.timeoutFactor * 2, 8)
      for (let i = 0; i < batch.done.length; i++) if (!batch.done[i]) this.finish(batch, i, false)
      this.complete(batch)
    })
  }

  /** The state machine's answer to `request` (its operation in 'signed' mode), or undefined when the query throws. */
  private query(request: Uint8Array): Uint8Array | undefined {
    try {
      const operation = this.host.clientRequests === undefined ? request : decodeSignedClientRequest(request).operation
      return this.host.ctx.query!(operation)
    } catch {
      return undefined
    }
  }

  // ---------------------------------------------------------------- replica side

  /** Answer a proxy's read batch from the state this replica has executed: one signature over the root of our leaves. */
  onRequest(from: NodeId, message: ReadRequest): void {
    if (from === this.host.self) return
    if (message.requests.length > this.host.options.maxBundleRequests) return this.host.drop('read-batch-too-large')
    const leaves = message.requests.map((r) => readLeaf(r, this.query(r)))
    const sig = this.host.ctx.signer!.sign(readReplyStatement(treeRoot(merkleTree(leaves))))
    const diffs: Array<[number, Digest]> = []
    leaves.forEach((leaf, i) => {
      if (!bytesEqual(leaf, message.leaves[i]!)) diffs.push([i, leaf])
    })
    this.host.ctx.send(from, encodeReadReply(message.id, sig, diffs))
  }

  // ---------------------------------------------------------------- proxy side

  onReply(from: NodeId, reply: ReadReply): void {
    const batch = this.inFlight
    // Replies to an earlier batch are normal: it completed with a quorum before they arrived.
    if (reply.id < this.nextId - (batch === undefined ? 0 : 1)) return
    if (batch === undefined || reply.id !== batch.id || from === this.host.self) return this.host.drop('read-reply-unexpected')
    if (batch.answered.has(from)) return this.host.drop('read-reply-duplicate')
    batch.answered.add(from)
    let levels = batch.levels
    if (reply.diffs.length > 0) {
      const leaves = [...batch.leaves]
      for (const [position, leaf] of reply.diffs) {
        if (position >= leaves.length) {
          this.host.drop('read-reply-bad-diff')
          return this.progress(batch)
        }
        leaves[position] = leaf
      }
      levels = merkleTree(leaves)
    }
    if (!this.host.verifyFrom(from, readReplyStatement(treeRoot(levels)), reply.sig)) this.host.drop('bad-signature')
    else batch.replies.set(from, { sig: reply.sig, levels })
    this.progress(batch)
  }

  /** Answer every read that has a quorum of matching answers; order those that can no longer get one. */
  private progress(batch: ReadBatch): void {
    const quorum = this.host.quorum
    const unanswered = this.host.peers.length - batch.answered.size
    for (let i = 0; i < batch.done.length; i++) {
      if (batch.done[i]) continue
      const own = batch.leaves[i]!
      const trees: Array<{ levels: Uint8Array[][]; replies: Vote[] }> = [{ levels: batch.levels, replies: [{ id: this.host.self, sig: batch.ownSig }] }]
      let matching = 1
      for (const [id, reply] of batch.replies) {
        if (matching >= quorum) break
        // A reply without diffs has our leaves: it matches every read of the batch.
        if (reply.levels !== batch.levels && !bytesEqual(reply.levels[0]![i]!, own)) continue
        matching++
        const tree = trees.find((t) => t.levels === reply.levels)
        if (tree !== undefined) tree.replies.push({ id, sig: reply.sig })
        else trees.push({ levels: reply.levels, replies: [{ id, sig: reply.sig }] })
      }
      if (matching >= quorum) {
        const proof = buildReadCertificate(
          i,
          trees.map((t) => ({ levels: t.levels, encodedReplies: this.encodedReplies(batch, t.replies) })),
        )
        this.finish(batch, i, true)
        this.host.ctx.respond(batch.clients[i]!, { index: batch.index, result: batch.results[i]!, proof })
      } else if (matching + unanswered < quorum) this.finish(batch, i, false)
    }
    if (batch.remaining === 0) this.complete(batch)
  }

  private encodedReplies(batch: ReadBatch, replies: readonly Vote[]): Uint8Array {
    const key = replies.map((r) => r.id).join('\u0000')
    let encoded = batch.encodedReplies.get(key)
    if (encoded === undefined) batch.encodedReplies.set(key, (encoded = encodeReplies(replies)))
    return encoded
  }

  /** Mark read `i` done; a read that did not get its quorum is ordered. */
  private finish(batch: ReadBatch, i: number, served: boolean): void {
    batch.done[i] = true
    batch.remaining--
    if (served) this.servedCount++
    else this.fallBack(batch.requests[i]!, batch.clients[i]!)
  }

  private complete(batch: ReadBatch): void {
    if (batch.timer !== undefined) {
      this.host.ctx.clearTimer(batch.timer)
      this.timeoutFactor = Math.max(1, this.timeoutFactor / 2)
    }
    batch.timer = undefined
    if (this.inFlight === batch) this.inFlight = undefined
    this.sendNextBatch()
  }

  private fallBack(request: Uint8Array, client: ClientRef): void {
    this.fallbackCount++
    try {
      this.host.order(request, client)
    } catch (error) {
      this.host.ctx.reject(client, error instanceof SynodError ? error : new ProposalDroppedError(String(error)))
    }
  }
}
