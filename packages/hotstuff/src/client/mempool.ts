import { bytesEqual, type ClientRef, type NodeId } from '@synod/core'
import type { Command } from '../messages.js'

/** A command's identity: the proxy that took it from a client and that proxy's sequence number for it. */
export const commandTag = (proxy: NodeId, seq: number): string => `${seq}@${proxy}`


interface Entry extends Command {
  readonly tag: string
  /** When this replica last broadcast it (its own clients' commands only), for retransmission. */
  sentAt: number
  resent: number
  /** The signed batch message it came in (or left in), relayed to a replica that misses it. */
  batch?: Uint8Array
  readonly client?: ClientRef
}

/**
 * Commands waiting to be ordered. A proxy (the replica a client called)
 * broadcasts its clients' commands to every replica, tagged (proxy, seq), so
 * whichever replica leads a view can include them: leaders rotate every
 * view, so forwarding to one leader would chase a moving target. Commands
 * are identified by their tag, not their bytes: two clients' identical
 * reads are two executions, and a client is answered only by the execution
 * of its own request (never an earlier identical one). Every replica holds
 * a command until it commits; the proxy re-broadcasts what stays
 * uncommitted.
 */
export class Mempool {
  /** By tag: the first version received (what this replica proposes). */
  private readonly entries = new Map<string, Entry>()
  /**
   * Other signed versions of a tag (a faulty proxy's, or twins'): held too, so holding one never makes a
   * replica refuse a block with the other. Rare; bounded by the capacity.
   */
  private readonly alternates = new Map<string, Uint8Array[]>()
  /** Commands of this proxy's clients to broadcast at the end of the batch. */
  private outgoing: Command[] = []
  /**
   * Tags of recently committed commands: a proxy that commits late still
   * retransmits what others already committed, and without this they would
   * order it again. Local best effort (what is proposed, never how a block
   * executes), so it need not agree across replicas.
   */
  private readonly recent = new Set<string>()
  private nextSeq: number

  /** `firstSeq` is unique per incarnation (see HotstuffNode.start), so tags never repeat across restarts. */
  constructor(
    private readonly self: NodeId,
    private readonly capacity: number,
    firstSeq: number,
  ) {
    this.nextSeq = firstSeq
  }

  /** Continue numbering from `seq` (a new incarnation's range). */
  restartAt(seq: number): void {
    this.nextSeq = seq
  }

  get size(): number {
    return this.entries.size
  }

  /** A command from a peer proxy. False when full (dropped). */
  add(command: Command, batch: Uint8Array): boolean {
    const tag = commandTag(command.proxy, command.seq)
    if (this.recent.has(tag)) return true
    const known = this.entries.get(tag)
    if (known !== undefined) {
      if (bytesEqual(known.bytes, command.bytes)) return true
      const others = this.alternates.get(tag) ?? []
      if (others.some((b) => bytesEqual(b, command.bytes))) return true
      if (this.alternates.size >= this.capacity) return false
      others.push(command.bytes)
      this.alternates.set(tag, others)
      return true
    }
    if (this.entries.size >= this.capacity) return false
    this.entries.set(tag, { ...command, tag, sentAt: 0, resent: 0, batch })
    return true
  }

  /** Remember the signed message a batch of local commands left in. */
  attachBatch(commands: readonly Command[], batch: Uint8Array): void {
    for (const c of commands) {
      const entry = this.entries.get(commandTag(c.proxy, c.seq))
      if (entry !== undefined) entry.batch = batch
    }
  }

  /** The signed batches holding commands with these tags (each batch once). */
  batchesFor(tags: ReadonlySet<string>): Uint8Array[] {
    const out = new Set<Uint8Array>()
    for (const entry of this.entries.values()) if (entry.batch !== undefined && tags.has(entry.tag)) out.add(entry.batch)
    return [...out]
  }

  /** Does this replica hold `command` as its proxy sent it (authenticated at intake)? */
  holds(command: Command): boolean {
    const tag = commandTag(command.proxy, command.seq)
    const entry = this.entries.get(tag)
    if (entry !== undefined && bytesEqual(entry.bytes, command.bytes)) return true
    return this.alternates.get(tag)?.some((b) => bytesEqual(b, command.bytes)) ?? false
  }

  /** A local client's command. False when full. */
  addLocal(bytes: Uint8Array, client: ClientRef, now: number): boolean {
    if (this.entries.size >= this.capacity) return false
    const command: Command = { proxy: this.self, seq: this.nextSeq++, bytes }
    const tag = commandTag(command.proxy, command.seq)
    this.entries.set(tag, { ...command, tag, sentAt: now, resent: 0, client })
    this.outgoing.push(command)
    return true
  }

  takeOutgoing(): Command[] {
    const out = this.outgoing
    this.outgoing = []
    return out
  }

  /** Up to `limit` commands in arrival order, skipping the tags in `exclude` (already in an uncommitted ancestor). */
  select(limit: number, exclude: ReadonlySet<string>): Command[] {
    const out: Command[] = []
    for (const [tag, entry] of this.entries) {
      if (out.length >= limit) break
      if (!exclude.has(tag)) out.push({ proxy: entry.proxy, seq: entry.seq, bytes: entry.bytes })
    }
    return out
  }

  /**
   * The command committed: forget it, and return the local client waiting for
   * it — only if the committed bytes are the ones that client sent (a faulty
   * leader may attach our tag to other bytes).
   */
  committed(command: Command): ClientRef | undefined {
    const tag = commandTag(command.proxy, command.seq)
    const entry = this.entries.get(tag)
    if (this.recent.size >= this.capacity) this.recent.delete(this.recent.values().next().value!)
    this.recent.add(tag)
    // Whichever version of the tag committed, the tag is done: no other version is ever ordered again.
    this.entries.delete(tag)
    this.alternates.delete(tag)
    if (entry === undefined || !bytesEqual(entry.bytes, command.bytes)) return undefined
    return entry.client
  }

  /**
   * Forget every command but the local ones not broadcast yet: after
   * installing a snapshot this replica skipped the blocks that committed some
   * of them and cannot tell which, and proposing a committed command again
   * makes its view fail (the others hold the tag as committed and never vote
   * for it). Other proxies re-broadcast what is still uncommitted; returns the
   * local clients whose command was dropped (their outcome is unknown).
   */
  clear(): ClientRef[] {
    const unsent = new Set(this.outgoing.map((c) => commandTag(c.proxy, c.seq)))
    const dropped: ClientRef[] = []
    for (const [tag, entry] of this.entries) {
      if (unsent.has(tag)) continue
      if (entry.client !== undefined) dropped.push(entry.client)
      this.entries.delete(tag)
    }
    this.alternates.clear()
    return dropped
  }

  /**
   * Forget the other proxies' commands (a local client's stay until it is
   * answered): their proxies re-broadcast whatever is still uncommitted.
   */
  forgetForeign(): void {
    for (const [tag, entry] of this.entries) if (entry.client === undefined) this.entries.delete(tag)
    this.alternates.clear()
  }

  /**
   * Local commands not committed `afterMs` after they were last broadcast and not in an uncommitted
   * block (`inFlight`): send again, each time waiting twice as long (a slow cluster is not flooded).
   */
  due(now: number, afterMs: number, inFlight: ReadonlySet<string>): Command[] {
    const out: Command[] = []
    for (const entry of this.entries.values()) {
      if (entry.client === undefined || now - entry.sentAt < afterMs * 2 ** Math.min(entry.resent, 6) || inFlight.has(entry.tag)) continue
      entry.sentAt = now
      entry.resent++
      out.push({ proxy: entry.proxy, seq: entry.seq, bytes: entry.bytes })
    }
    return out
  }
}
