import { toHex, type ClientRef } from '@synod/core'
import { sha256 } from '@synod/crypto'

/** The key of a command: hex sha256 of its bytes. */
export function commandKey(command: Uint8Array): string {
  return toHex(sha256(command))
}

interface Entry {
  readonly command: Uint8Array
  /** When this replica last broadcast it (proxies only), for retransmission. */
  sentAt: number
  local: boolean
}

/**
 * Commands waiting to be ordered. A proxy (the replica a client called)
 * broadcasts its clients' commands to every replica, so whichever replica
 * leads a view can include them: leaders rotate every view, so forwarding to
 * one leader would chase a moving target. Each replica holds them here until
 * they commit; the proxy also remembers which local clients wait for which
 * command and re-broadcasts what stays uncommitted.
 */
export class Mempool {
  private readonly entries = new Map<string, Entry>()
  private readonly clients = new Map<string, ClientRef[]>()
  /** Commands of this proxy's clients to broadcast at the end of the batch. */
  private outgoing: Uint8Array[] = []

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size
  }

  /** A command from a peer proxy. False when full (dropped). */
  add(key: string, command: Uint8Array): boolean {
    if (this.entries.has(key)) return true
    if (this.entries.size >= this.capacity) return false
    this.entries.set(key, { command, sentAt: 0, local: false })
    return true
  }

  /** A local client's command. False when full. */
  addLocal(key: string, command: Uint8Array, client: ClientRef, now: number): boolean {
    const entry = this.entries.get(key)
    if (entry === undefined && this.entries.size >= this.capacity) return false
    if (entry === undefined) {
      this.entries.set(key, { command, sentAt: now, local: true })
      this.outgoing.push(command)
    } else if (!entry.local) entry.local = true
    const waiting = this.clients.get(key)
    if (waiting === undefined) this.clients.set(key, [client])
    else waiting.push(client)
    return true
  }

  takeOutgoing(): Uint8Array[] {
    const out = this.outgoing
    this.outgoing = []
    return out
  }

  /** Up to `limit` commands in arrival order, skipping those in `exclude` (already in an uncommitted ancestor). */
  select(limit: number, exclude: ReadonlySet<string>): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const [key, entry] of this.entries) {
      if (out.length >= limit) break
      if (!exclude.has(key)) out.push(entry.command)
    }
    return out
  }

  /** The command committed: forget it and hand back the local clients waiting for it. */
  committed(key: string): ClientRef[] | undefined {
    this.entries.delete(key)
    const waiting = this.clients.get(key)
    if (waiting !== undefined) this.clients.delete(key)
    return waiting
  }

  /** Local commands not committed `afterMs` after they were last broadcast: send again. */
  due(now: number, afterMs: number): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const entry of this.entries.values()) {
      if (!entry.local || now - entry.sentAt < afterMs) continue
      entry.sentAt = now
      out.push(entry.command)
    }
    return out
  }

  /** Every waiting client, e.g. to fail them when the node stops. */
  waitingClients(): ClientRef[] {
    return [...this.clients.values()].flat()
  }
}
