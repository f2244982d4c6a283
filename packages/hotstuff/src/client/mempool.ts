import { toHex, type ClientRef, type NodeId } from '@synod/core'
import type { Batch, Hash } from '../messages.js'

/** A batch's name: the proxy that signed it and that proxy's sequence number for it. */
export const batchId = (proxy: NodeId, seq: number): string => `${seq}@${proxy}`

interface Pending {
  readonly batch: Batch
  /** This replica's own batch: the local client waiting for each command, by position. */
  readonly clients?: readonly ClientRef[]
  /** When this replica last broadcast it (own batches only), for retransmission. */
  sentAt: number
  resent: number
}

/**
 * Batches waiting to be ordered, and the committed ones still needed. A
 * proxy (the replica a client called) signs its clients' commands of one
 * Replica batch as one batch, names it (proxy, seq), and broadcasts it to
 * every replica, so whichever replica leads a view can order it: leaders
 * rotate every view, so forwarding to one leader would chase a moving
 * target. Blocks order batches by digest; a batch is identified by its
 * digest, not its commands' bytes, so two clients' identical reads are two
 * executions, and a client is answered only by the execution of its own
 * batch. Every replica holds a batch until it commits; the proxy
 * re-broadcasts what stays uncommitted. Committed batches stay (`retain`)
 * while blocks that order them may still be executed by a laggard or fetched.
 *
 * Bookkeeping is per batch, not per command: that is what makes a replica's
 * cost per ordered command small (see the README's performance section).
 */
export class Mempool {
  /** By digest (hex), in arrival order: what a leader proposes. */
  private readonly pending = new Map<string, Pending>()
  /** Digests (hex) pending under each batch name: a faulty proxy (or twins) may sign two versions of one. */
  private readonly versions = new Map<string, string[]>()
  private pendingCommands = 0
  /**
   * Batches kept to execute and relay but never to propose or vote for: committed ones (until `forget`,
   * when the block store pruned their blocks) and those a restarted replica reloads with its blocks.
   */
  private readonly committedBatches = new Map<string, Batch>()
  /**
   * Names of recently committed batches: a proxy that commits late still
   * retransmits what others already committed, and without this they would
   * order it again. Local best effort (what is proposed, never how a block
   * executes), so it need not agree across replicas.
   */
  private readonly recent = new Set<string>()
  /** Commands of this proxy's clients to sign and broadcast at the end of the Replica batch. */
  private outgoing: Uint8Array[] = []
  private outgoingClients: ClientRef[] = []
  private nextSeq: number

  /** `firstSeq` is unique per incarnation (see HotstuffNode.start), so batch names never repeat across restarts. */
  constructor(
    private readonly capacity: number,
    firstSeq: number,
  ) {
    this.nextSeq = firstSeq
  }

  /** Continue numbering from `seq` (a new incarnation's range). */
  restartAt(seq: number): void {
    this.nextSeq = seq
  }

  /** Commands waiting to be ordered (queued local ones included). */
  get size(): number {
    return this.pendingCommands + this.outgoing.length
  }

  /** A local client's command, batched until `takeOutgoing`. False when full. */
  addLocal(bytes: Uint8Array, client: ClientRef): boolean {
    if (this.size >= this.capacity) return false
    this.outgoing.push(bytes)
    this.outgoingClients.push(client)
    return true
  }

  /** The local commands to sign as batches of at most `max` commands, each with its name and clients. */
  takeOutgoing(max: number): Array<{ seq: number; commands: Uint8Array[]; clients: ClientRef[] }> {
    const out: Array<{ seq: number; commands: Uint8Array[]; clients: ClientRef[] }> = []
    for (let i = 0; i < this.outgoing.length; i += max)
      out.push({ seq: this.nextSeq++, commands: this.outgoing.slice(i, i + max), clients: this.outgoingClients.slice(i, i + max) })
    this.outgoing = []
    this.outgoingClients = []
    return out
  }

  /** This proxy's own signed batch (its clients wait for it). */
  addOwn(batch: Batch, clients: readonly ClientRef[], now: number): void {
    this.insert(toHex(batch.digest), { batch, clients, sentAt: now, resent: 0 })
  }

  /**
   * A batch reloaded from this replica's storage with a block: available to execute that block (and to
   * relay), but not proposed again — it may have committed elsewhere while this replica was down.
   */
  addStored(batch: Batch): void {
    const key = toHex(batch.digest)
    if (!this.pending.has(key)) this.committedBatches.set(key, batch)
  }

  /** A batch from a proxy (authenticated by the caller). False when full (dropped). */
  add(batch: Batch): boolean {
    const id = batchId(batch.proxy, batch.seq)
    if (this.recent.has(id)) return true
    const key = toHex(batch.digest)
    if (this.pending.has(key) || this.committedBatches.has(key)) return true
    if (this.pendingCommands + batch.commands.length > this.capacity) return false
    this.insert(key, { batch, sentAt: 0, resent: 0 })
    return true
  }

  private insert(key: string, entry: Pending): void {
    this.pending.set(key, entry)
    this.pendingCommands += entry.batch.commands.length
    const id = batchId(entry.batch.proxy, entry.batch.seq)
    const versions = this.versions.get(id)
    if (versions === undefined) this.versions.set(id, [key])
    else versions.push(key)
  }

  /** Does this replica hold the batch as its proxy signed it, waiting to be ordered? (What a vote vouches for.) */
  holds(digest: Hash): boolean {
    return this.pending.has(toHex(digest))
  }

  /** The batch, pending or committed and still kept: what executing a block needs. */
  get(digest: Hash): Batch | undefined {
    const key = toHex(digest)
    return this.pending.get(key)?.batch ?? this.committedBatches.get(key)
  }

  /** The signed messages of these batches that are here (relayed to a replica that misses them). */
  messagesFor(digests: readonly Hash[]): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const d of digests) {
      const batch = this.get(d)
      if (batch !== undefined) out.push(batch.message)
    }
    return out
  }

  /**
   * Batches in arrival order, skipping the digests in `exclude` (in an
   * uncommitted ancestor), up to `limit` commands (at least one batch).
   */
  select(limit: number, exclude: ReadonlySet<string>): Hash[] {
    const out: Hash[] = []
    let commands = 0
    for (const [key, entry] of this.pending) {
      const size = entry.batch.commands.length
      if (out.length > 0 && commands + size > limit) break
      if (exclude.has(key)) continue
      out.push(entry.batch.digest)
      commands += size
    }
    return out
  }

  /**
   * The batch committed: it leaves the pending set (with any other version of
   * its name — whichever version committed, the name is done), stays
   * retrievable until `forget`, and its local clients are returned (only for
   * this proxy's own batch, which the digest pins to exactly what they sent).
   */
  committed(batch: Batch): readonly ClientRef[] | undefined {
    const key = toHex(batch.digest)
    const entry = this.pending.get(key)
    const id = batchId(batch.proxy, batch.seq)
    if (this.recent.size >= this.capacity) this.recent.delete(this.recent.values().next().value!)
    this.recent.add(id)
    for (const version of this.versions.get(id) ?? []) {
      const other = this.pending.get(version)
      if (other === undefined) continue
      this.pending.delete(version)
      this.pendingCommands -= other.batch.commands.length
    }
    this.versions.delete(id)
    this.committedBatches.set(key, batch)
    return entry?.clients
  }

  /**
   * Forget every pending batch: after installing a snapshot this replica
   * skipped the blocks that committed some of them and cannot tell which,
   * and proposing a committed batch again makes its view fail (the others no
   * longer hold it as pending and never vote for it). Other proxies
   * re-broadcast what is still uncommitted, and a block that needs a batch
   * fetches it. Returns the local clients of this proxy's own dropped
   * batches (their outcome is unknown); local commands not yet signed into
   * a batch stay.
   */
  clear(): ClientRef[] {
    const dropped: ClientRef[] = []
    for (const entry of this.pending.values()) if (entry.clients !== undefined) dropped.push(...entry.clients)
    this.pending.clear()
    this.versions.clear()
    this.pendingCommands = 0
    return dropped
  }

  /**
   * Forget the other proxies' pending batches except those in `keep` (in an
   * uncommitted block): their proxies re-broadcast whatever is still
   * uncommitted. This proxy's own batches stay until they are answered.
   */
  forgetForeign(keep: ReadonlySet<string>): void {
    for (const [key, entry] of this.pending) {
      if (entry.clients !== undefined || keep.has(key)) continue
      this.pending.delete(key)
      this.pendingCommands -= entry.batch.commands.length
      const id = batchId(entry.batch.proxy, entry.batch.seq)
      const versions = this.versions.get(id)?.filter((v) => v !== key) ?? []
      if (versions.length === 0) this.versions.delete(id)
      else this.versions.set(id, versions)
    }
  }

  /** Blocks ordering these batches were pruned: drop the committed copies. */
  forget(digests: readonly Hash[]): void {
    for (const d of digests) this.committedBatches.delete(toHex(d))
  }

  /**
   * This proxy's batches not committed `afterMs` after they were last broadcast and not in an uncommitted
   * block (`inFlight`): their signed messages, to send again, each time waiting twice as long (a slow cluster
   * is not flooded).
   */
  due(now: number, afterMs: number, inFlight: ReadonlySet<string>): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const [key, entry] of this.pending) {
      if (entry.clients === undefined || now - entry.sentAt < afterMs * 2 ** Math.min(entry.resent, 6) || inFlight.has(key)) continue
      entry.sentAt = now
      entry.resent++
      out.push(entry.batch.message)
    }
    return out
  }
}
