import type { NodeId } from '@synod/core'

/** Why a message was dropped. Every drop is counted under one of these. */
export type DropReason =
  /** The peer's send queue was full: the oldest queued messages made room for newer ones. */
  | 'queue-full'
  /** An outbound message over `maxFrameBytes`; refused at `send`. */
  | 'oversized-outbound'
  /** An inbound frame header announced more than `maxFrameBytes`; the stream was aborted. */
  | 'oversized-inbound'
  /** An inbound stream ended in the middle of a frame. */
  | 'truncated-inbound'
  /** `send` to a NodeId outside the current membership. */
  | 'unknown-peer'
  /** A message arrived from (or was queued for) a peer that is no longer a member. */
  | 'non-member'
  /** `send` while the transport is stopped, or messages still queued when it stopped. */
  | 'not-running'
  /** The stream closed under a write; the batch being written was lost. */
  | 'stream-closed'
  /** A message arrived before `onMessage` registered a handler. */
  | 'no-handler'
  /** The registered handler threw; the message counts as delivered and dropped. */
  | 'handler-error'

/** Per-peer figures. Message and byte counts are payload, without framing. */
export interface PeerMetrics {
  /** True while an outbound stream to the peer is open. */
  readonly connected: boolean
  readonly messagesSent: number
  readonly bytesSent: number
  readonly messagesReceived: number
  readonly bytesReceived: number
  readonly queuedMessages: number
  readonly queuedBytes: number
  /** Outbound streams opened after the first one (each one a recovery from a lost stream or failed dial). */
  readonly reconnects: number
  readonly dialFailures: number
  readonly drops: Readonly<Partial<Record<DropReason, number>>>
}

export interface Libp2pTransportMetrics {
  readonly self: NodeId
  readonly messagesSent: number
  readonly bytesSent: number
  readonly messagesReceived: number
  readonly bytesReceived: number
  readonly reconnects: number
  readonly dialFailures: number
  /** Every drop by reason, over all peers (drops not tied to a member, such as 'unknown-peer', appear only here). */
  readonly drops: Readonly<Partial<Record<DropReason, number>>>
  readonly connections: {
    /** Inbound raw connections accepted by the listener (before the handshake). */
    readonly inboundAttempts: number
    /** Authenticated peers refused because they are not members (inbound and outbound). */
    readonly rejectedNonMember: number
    /** Inbound connections that closed before authenticating: garbage, wrong protocol, handshake timeout. */
    readonly failedHandshake: number
  }
  /** Members (except self), also those never contacted. */
  readonly peers: Readonly<Record<NodeId, PeerMetrics>>
}

/** Mutable per-peer counters; survives stop/start and link rebuilds. */
export class PeerStats {
  messagesSent = 0
  bytesSent = 0
  messagesReceived = 0
  bytesReceived = 0
  reconnects = 0
  dialFailures = 0
  readonly drops = new Map<DropReason, number>()

  drop(reason: DropReason, count: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + count)
  }
}

export function dropRecord(drops: ReadonlyMap<DropReason, number>): Partial<Record<DropReason, number>> {
  return Object.fromEntries([...drops.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
