import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, ConnectionGater, Libp2p, MultiaddrConnection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { ConfigError, DEFAULT_MAX_MESSAGE_BYTES, InvalidMessageError, type MessageHandler, type NodeId, type SendOptions, type Transport } from '@synod/core'
import { createLibp2p, type ConnectionManagerInit, type ConnectionMonitorInit } from 'libp2p'
import { FrameDecoder, MAX_FRAME_LENGTH } from './framing.js'
import { type Ed25519KeyPair, libp2pPrivateKey, peerIdFromPublicKey } from './identity.js'
import { dropRecord, type DropReason, type Libp2pTransportMetrics, type PeerMetrics, PeerStats } from './metrics.js'
import { PeerLink, type PeerLinkHost, type PeerLinkOptions } from './peer-link.js'

/** A member to talk to and where to dial it. `addrs` may be empty: the link then waits for the peer to connect. */
export interface PeerAddress {
  readonly id: NodeId
  readonly addrs: readonly string[]
}

export interface Libp2pTransportOptions {
  /** The node's ed25519 key (32-byte seed + 32-byte public key): its libp2p identity. */
  readonly keyPair: Ed25519KeyPair
  /** Multiaddrs to listen on, e.g. '/ip4/127.0.0.1/tcp/0'. Port 0 binds an ephemeral port, kept across stop/start. */
  readonly listen: readonly string[]
  /** The membership: only these peers may connect or be dialed. An entry for self is ignored. */
  readonly peers: readonly PeerAddress[]
  /** Consensus protocol name, e.g. 'raft'; the wire protocol id is `/synod/<protocol>/<protocolVersion>`. */
  readonly protocol: string
  /** Default '1.0.0'. Bump on incompatible wire changes. */
  readonly protocolVersion?: string
  /** Largest message sent or accepted. Default 16 MiB (core DEFAULT_MAX_MESSAGE_BYTES). */
  readonly maxFrameBytes?: number
  /** Per-peer send queue bound in bytes; the oldest messages are dropped beyond it. Default 64 MiB. */
  readonly maxQueuedBytesPerPeer?: number
  /** Per-peer send queue bound in messages. Default 65 536. */
  readonly maxQueuedMessagesPerPeer?: number
  /** Queued frames are concatenated into writes of about this many bytes. Default 256 KiB. */
  readonly maxWriteBytes?: number
  /** First reconnect delay; doubles per consecutive failure up to `reconnectMaxDelayMs` (half of it jittered). Default 100 ms. */
  readonly reconnectInitialDelayMs?: number
  /**
   * Largest reconnect delay. Default 1000 ms: a link to a peer back from a partition stays down for up to this
   * long (unless the peer dials first), and consensus timeouts are about a second — 5000 ms kept links cut in
   * one fault down through the next seconds of a healed network (issue 20).
   */
  readonly reconnectMaxDelayMs?: number
  /** Budget of one dial (socket, handshake, protocol negotiation). Default 5000 ms. */
  readonly dialTimeoutMs?: number
  /** An inbound connection must authenticate within this. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number
  /**
   * yamux per-stream window. Default 256 KiB: with the 16 MiB yamux default a
   * flooded connection delayed the monitor's pings past their timeout and was
   * aborted (measured on libp2p 3.3).
   */
  readonly streamWindowBytes?: number
  /** Passed to libp2p's connection monitor (pings every 10 s by default). */
  readonly connectionMonitor?: ConnectionMonitorInit
  /** Overrides of libp2p's connection manager settings (merged over the transport's). */
  readonly connectionManager?: ConnectionManagerInit
  /** Also run the WebSockets transport (for '/ip4/.../tcp/N/ws' addresses). Default false. */
  readonly webSockets?: boolean
  /** Randomness for reconnect jitter. Default Math.random. */
  readonly random?: () => number
  /** Unexpected errors (a handler that throws, a failed stop). The transport keeps going. */
  readonly onError?: (error: unknown) => void
}

/** The transport object: a core Transport plus membership updates, addresses and metrics. */
export interface Libp2pTransport extends Transport {
  /** `/synod/<protocol>/<version>`. */
  readonly protocolId: string
  /** Dialable addresses, each ending in `/p2p/<self>`. Empty unless running. */
  listenAddrs(): string[]
  /** Replace the membership. Departed peers are disconnected and their queues dropped; new ones become dialable. */
  setPeers(peers: readonly PeerAddress[]): void
  metrics(): Libp2pTransportMetrics
}

type TransportState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped'

const P2P_CODE = 421

/**
 * Create a Synod transport on js-libp2p 3 (TCP, noise, yamux). Messages are
 * length-prefixed frames on one long-lived stream per peer and direction,
 * under the protocol id `/synod/<protocol>/1.0.0`. A connection gater admits
 * only members, and `from` on delivery is the noise-authenticated PeerId of
 * the connection.
 */
export function createLibp2pTransport(options: Libp2pTransportOptions): Libp2pTransport {
  return new Libp2pSynodTransport(options)
}

class Libp2pSynodTransport implements Libp2pTransport, PeerLinkHost {
  readonly self: NodeId
  readonly protocolId: string
  private readonly options: Libp2pTransportOptions
  private readonly maxFrameBytes: number
  private readonly linkOptions: PeerLinkOptions
  private readonly privateKey
  private state: TransportState = 'new'
  private node: Libp2p | undefined
  private handler: MessageHandler | undefined
  /** Members except self, with their dial addresses. */
  private members = new Map<NodeId, Multiaddr[]>()
  private readonly links = new Map<NodeId, PeerLink>()
  private readonly peerStats = new Map<NodeId, PeerStats>()
  private readonly inboundStreams = new Set<Stream>()
  /** Listen addresses with ephemeral ports replaced by the ports first bound, so a restart keeps its address. */
  private listen: string[]
  private readonly drops = new Map<DropReason, number>()
  private inboundAttempts = 0
  private rejectedNonMember = 0
  private failedHandshake = 0
  private startPromise: Promise<void> | undefined
  private stopPromise: Promise<void> | undefined

  constructor(options: Libp2pTransportOptions) {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(options.protocol))
      throw new ConfigError(`'${options.protocol}' must be a short lowercase name such as 'raft'`, 'protocol')
    const version = options.protocolVersion ?? '1.0.0'
    if (!/^\d+\.\d+\.\d+$/.test(version)) throw new ConfigError(`'${version}' is not a semantic version`, 'protocolVersion')
    this.options = options
    this.privateKey = libp2pPrivateKey(options.keyPair)
    this.self = peerIdFromPublicKey(options.keyPair.publicKey)
    this.protocolId = `/synod/${options.protocol}/${version}`
    this.maxFrameBytes = positiveInteger(options.maxFrameBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxFrameBytes')
    if (this.maxFrameBytes > MAX_FRAME_LENGTH) throw new ConfigError(`at most ${MAX_FRAME_LENGTH}`, 'maxFrameBytes')
    const maxQueuedBytes = positiveInteger(options.maxQueuedBytesPerPeer ?? 64 * 1024 * 1024, 'maxQueuedBytesPerPeer')
    if (maxQueuedBytes < this.maxFrameBytes)
      throw new ConfigError(`must be at least maxFrameBytes (${this.maxFrameBytes}) so that any valid message fits`, 'maxQueuedBytesPerPeer')
    const reconnectInitialDelayMs = positiveInteger(options.reconnectInitialDelayMs ?? 100, 'reconnectInitialDelayMs')
    this.linkOptions = {
      maxQueuedBytes,
      maxQueuedMessages: positiveInteger(options.maxQueuedMessagesPerPeer ?? 65_536, 'maxQueuedMessagesPerPeer'),
      maxWriteBytes: positiveInteger(options.maxWriteBytes ?? 256 * 1024, 'maxWriteBytes'),
      // Liveness messages are tens of bytes: a small queue of their own, out of reach of bulk traffic.
      maxUrgentMessages: 4096,
      maxUrgentBytes: Math.max(1 << 20, this.maxFrameBytes),
      reconnectInitialDelayMs,
      reconnectMaxDelayMs: Math.max(reconnectInitialDelayMs, positiveInteger(options.reconnectMaxDelayMs ?? 1000, 'reconnectMaxDelayMs')),
      stableStreamMs: 1000,
      random: options.random ?? Math.random,
    }
    if (options.listen.length === 0) throw new ConfigError('at least one listen multiaddr is required', 'listen')
    for (const addr of options.listen) parseMultiaddr(addr, 'listen')
    this.listen = [...options.listen]
    this.setPeers(options.peers)
  }

  get running(): boolean {
    return this.state === 'running'
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler
  }

  send(to: NodeId, message: Uint8Array, options?: SendOptions): void {
    if (this.state === 'stopping' || this.state === 'stopped') return this.countDrop('not-running', 1)
    if (message.byteLength > this.maxFrameBytes) {
      this.peerStats.get(to)?.drop('oversized-outbound', 1)
      return this.countDrop('oversized-outbound', 1)
    }
    if (to === this.self) return this.sendToSelf(message)
    const link = this.links.get(to)
    if (link === undefined) return this.countDrop('unknown-peer', 1)
    // Before start, messages queue and leave once the node is up (the Replica may send during its start).
    link.enqueue(message, options?.urgent === true)
  }

  start(): Promise<void> {
    if (this.state === 'running') return Promise.resolve()
    if (this.state === 'starting') return this.startPromise!
    if (this.state === 'stopping')
      return this.stopPromise!.then(() => this.start())
    this.state = 'starting'
    this.startPromise = this.startNode().then(
      () => {
        this.state = 'running'
        for (const link of this.links.values()) link.kick()
      },
      (error: unknown) => {
        this.state = 'stopped'
        throw error
      },
    )
    return this.startPromise
  }

  stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'new') {
      this.state = 'stopped'
      return Promise.resolve()
    }
    if (this.state === 'stopping') return this.stopPromise!
    if (this.state === 'starting') return this.startPromise!.then(() => this.stop(), () => undefined)
    this.state = 'stopping'
    this.stopPromise = this.stopNode().finally(() => {
      this.state = 'stopped'
    })
    return this.stopPromise
  }

  listenAddrs(): string[] {
    if (this.node === undefined || this.state !== 'running') return []
    return this.node.getMultiaddrs().map((ma) => ma.toString())
  }

  setPeers(peers: readonly PeerAddress[]): void {
    const next = new Map<NodeId, Multiaddr[]>()
    for (const peer of peers) {
      if (peer.id === this.self) continue
      const peerId = parsePeerId(peer.id)
      if (next.has(peer.id)) throw new ConfigError(`duplicate peer ${peer.id}`, 'peers')
      next.set(
        peer.id,
        peer.addrs.map((addr) => withPeerId(parseMultiaddr(addr, `peers[${peer.id}].addrs`), peerId)),
      )
    }
    const departed = [...this.members.keys()].filter((id) => !next.has(id))
    this.members = next
    for (const id of departed) {
      this.links.get(id)?.close()
      this.links.delete(id)
      if (this.node !== undefined && this.state === 'running') {
        this.node.hangUp(peerIdFromString(id)).catch((error: unknown) => this.options.onError?.(error))
      }
    }
    for (const id of next.keys()) {
      if (this.links.has(id)) continue
      let stats = this.peerStats.get(id)
      if (stats === undefined) {
        stats = new PeerStats()
        this.peerStats.set(id, stats)
      }
      this.links.set(id, new PeerLink(id, this, this.linkOptions, stats))
    }
  }

  metrics(): Libp2pTransportMetrics {
    const peers: Record<NodeId, PeerMetrics> = {}
    const totals = { messagesSent: 0, bytesSent: 0, messagesReceived: 0, bytesReceived: 0, reconnects: 0, dialFailures: 0 }
    for (const [id, stats] of this.peerStats) {
      totals.messagesSent += stats.messagesSent
      totals.bytesSent += stats.bytesSent
      totals.messagesReceived += stats.messagesReceived
      totals.bytesReceived += stats.bytesReceived
      totals.reconnects += stats.reconnects
      totals.dialFailures += stats.dialFailures
      const link = this.links.get(id)
      if (link === undefined) continue
      peers[id] = {
        connected: link.connected,
        messagesSent: stats.messagesSent,
        bytesSent: stats.bytesSent,
        messagesReceived: stats.messagesReceived,
        bytesReceived: stats.bytesReceived,
        queuedMessages: link.queuedMessages,
        queuedBytes: link.queuedBytes,
        reconnects: stats.reconnects,
        dialFailures: stats.dialFailures,
        drops: dropRecord(stats.drops),
      }
    }
    return {
      self: this.self,
      ...totals,
      drops: dropRecord(this.drops),
      connections: {
        inboundAttempts: this.inboundAttempts,
        rejectedNonMember: this.rejectedNonMember,
        failedHandshake: this.failedHandshake,
      },
      peers,
    }
  }

  // ---- PeerLinkHost ----

  async openStream(peer: NodeId, signal: AbortSignal): Promise<Stream> {
    const node = this.node
    if (node === undefined || this.state !== 'running') throw new Error('transport is not running')
    const peerId = peerIdFromString(peer)
    const addrs = this.members.get(peer) ?? []
    // An existing connection (e.g. the peer dialed us) is reused; otherwise dial the configured addresses.
    const target = addrs.length === 0 || node.getConnections(peerId).length > 0 ? peerId : addrs
    return node.dialProtocol(target, this.protocolId, { signal })
  }

  countDrop(reason: DropReason, count: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + count)
  }

  // ---- internals ----

  private async startNode(): Promise<void> {
    const window = positiveInteger(this.options.streamWindowBytes ?? 256 * 1024, 'streamWindowBytes')
    const node = await createLibp2p({
      privateKey: this.privateKey,
      addresses: { listen: this.listen },
      transports: this.options.webSockets === true ? [tcp(), webSockets()] : [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [
        yamux({
          streamOptions: {
            initialStreamWindowSize: window,
            maxStreamWindowSize: window,
          },
        }),
      ],
      connectionGater: this.gater(),
      connectionManager: {
        dialTimeout: this.options.dialTimeoutMs ?? 5000,
        inboundUpgradeTimeout: this.options.handshakeTimeoutMs ?? 5000,
        ...this.options.connectionManager,
      },
      connectionMonitor: this.options.connectionMonitor ?? {},
      start: false,
    })
    await node.handle(this.protocolId, (stream, connection) => this.acceptStream(stream, connection), {
      maxInboundStreams: 16,
      maxOutboundStreams: 16,
    })
    node.addEventListener('peer:connect', (event) => {
      // A peer we could not dial (no addresses, or backing off after failed dials) connected: send what waits for it.
      this.links.get(event.detail.toString())?.peerConnected()
    })
    try {
      await node.start()
    } catch (error) {
      await Promise.resolve(node.stop()).catch(() => undefined)
      throw error
    }
    this.node = node
    this.listen = pinEphemeralPorts(this.listen, node.getMultiaddrs())
  }

  private async stopNode(): Promise<void> {
    for (const link of this.links.values()) link.reset('not-running')
    for (const stream of this.inboundStreams) stream.abort(new Error('transport stopping'))
    this.inboundStreams.clear()
    const node = this.node
    this.node = undefined
    try {
      await node?.stop()
    } catch (error) {
      this.options.onError?.(error)
    }
  }

  private gater(): ConnectionGater {
    const handshaking = new WeakSet<MultiaddrConnection>()
    const isMember = (peerId: PeerId) => this.members.has(peerId.toString())
    return {
      denyDialPeer: (peerId) => !isMember(peerId),
      denyInboundConnection: (maConn) => {
        this.inboundAttempts++
        handshaking.add(maConn)
        maConn.addEventListener('close', () => {
          // Still unauthenticated when it closed: garbage, a wrong protocol or a handshake timeout.
          if (handshaking.delete(maConn)) this.failedHandshake++
        })
        return false
      },
      denyInboundEncryptedConnection: (peerId, maConn) => {
        handshaking.delete(maConn)
        if (isMember(peerId)) return false
        this.rejectedNonMember++
        return true
      },
      denyOutboundEncryptedConnection: (peerId) => {
        if (isMember(peerId)) return false
        this.rejectedNonMember++
        return true
      },
    }
  }

  private acceptStream(stream: Stream, connection: Connection): void {
    // The noise handshake bound this PeerId to the connection: it is the only trustworthy `from`.
    const from = connection.remotePeer.toString()
    const stats = this.peerStats.get(from)
    if (!this.members.has(from) || stats === undefined || this.state !== 'running') {
      this.countDrop('non-member', 1)
      stream.abort(new Error('not a member'))
      return
    }
    this.inboundStreams.add(stream)
    const decoder = new FrameDecoder(this.maxFrameBytes)
    const onFrame = (frame: Uint8Array) => this.deliver(from, stats, frame)
    stream.addEventListener('message', (event) => {
      const data = event.data
      if (decoder.push(data instanceof Uint8Array ? [data] : data, onFrame) === 'oversized') {
        stats.drop('oversized-inbound', 1)
        this.countDrop('oversized-inbound', 1)
        stream.abort(new InvalidMessageError(`frame larger than maxFrameBytes (${this.maxFrameBytes})`))
      }
    })
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      this.inboundStreams.delete(stream)
      if (decoder.pendingBytes > 0) {
        stats.drop('truncated-inbound', 1)
        this.countDrop('truncated-inbound', 1)
      }
    }
    // 'end': the remote finished writing and every byte it sent has been dispatched to 'message'.
    stream.addEventListener('end', () => {
      end()
      // Nothing is ever written on an inbound stream: finish our side too so the stream is released.
      if (stream.writeStatus === 'writable') stream.close().catch(() => undefined)
    })
    stream.addEventListener('close', end)
  }

  private deliver(from: NodeId, stats: PeerStats, frame: Uint8Array): void {
    stats.messagesReceived++
    stats.bytesReceived += frame.byteLength
    if (this.state !== 'running' || !this.members.has(from)) {
      stats.drop('non-member', 1)
      return this.countDrop('non-member', 1)
    }
    const handler = this.handler
    if (handler === undefined) return this.countDrop('no-handler', 1)
    try {
      handler(from, frame)
    } catch (error) {
      stats.drop('handler-error', 1)
      this.countDrop('handler-error', 1)
      this.options.onError?.(error)
    }
  }

  private sendToSelf(message: Uint8Array): void {
    // Asynchronous like any delivery, and a copy: the sender may reuse its buffer.
    const copy = message.slice()
    queueMicrotask(() => {
      if (this.state !== 'running') return this.countDrop('not-running', 1)
      const handler = this.handler
      if (handler === undefined) return this.countDrop('no-handler', 1)
      try {
        handler(this.self, copy)
      } catch (error) {
        this.countDrop('handler-error', 1)
        this.options.onError?.(error)
      }
    })
  }
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new ConfigError(`must be a positive integer, got ${value}`, field)
  return value
}

function parseMultiaddr(addr: string, field: string): Multiaddr {
  try {
    return multiaddr(addr)
  } catch {
    throw new ConfigError(`'${addr}' is not a multiaddr (e.g. '/ip4/127.0.0.1/tcp/4001')`, field)
  }
}

function parsePeerId(id: NodeId): PeerId {
  try {
    return peerIdFromString(id)
  } catch {
    throw new ConfigError(`'${id}' is not a libp2p PeerId`, 'peers')
  }
}

/** `addr` ending in `/p2p/<peer>`: libp2p then checks the dialed node is that peer. */
function withPeerId(addr: Multiaddr, peerId: PeerId): Multiaddr {
  const named = addr.getComponents().findLast((c) => c.code === P2P_CODE)?.value
  if (named === undefined) return addr.encapsulate(`/p2p/${peerId.toString()}`)
  if (named !== peerId.toString()) throw new ConfigError(`address ${addr.toString()} names another peer than ${peerId.toString()}`, 'peers')
  return addr
}

/**
 * Replace port 0 in the configured listen addresses with the port that was
 * bound, so that a stopped and restarted transport comes back at the address
 * its peers were given.
 */
function pinEphemeralPorts(listen: readonly string[], bound: readonly Multiaddr[]): string[] {
  const boundStrings = bound.map((ma) => {
    const idx = ma.toString().indexOf('/p2p/')
    return idx < 0 ? ma.toString() : ma.toString().slice(0, idx)
  })
  const used = new Set<string>()
  return listen.map((addr) => {
    const match = /^(\/ip[46]\/([^/]+)\/tcp\/)0(\/.*)?$/.exec(addr)
    if (match === null) return addr
    const [, prefix, host, suffix = ''] = match
    const wildcard = host === '0.0.0.0' || host === '::'
    for (const candidate of boundStrings) {
      const parsed = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)(\/.*)?$/.exec(candidate)
      if (parsed === null || used.has(candidate)) continue
      const [, boundHost, port, boundSuffix = ''] = parsed
      if (boundSuffix !== suffix || (!wildcard && boundHost !== host)) continue
      used.add(candidate)
      return `${prefix!}${port!}${suffix}`
    }
    return addr
  })
}
