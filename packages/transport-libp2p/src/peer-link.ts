import type { Stream } from '@libp2p/interface'
import type { NodeId } from '@synod/core'
import { encodeFrames } from './framing.js'
import type { DropReason, PeerStats } from './metrics.js'
import { PeerSendQueue } from './send-queue.js'

/** What a link needs from its transport. */
export interface PeerLinkHost {
  /** True once the libp2p node is started; links only queue before that. */
  readonly running: boolean
  /** Open the long-lived outbound stream to `peer` (reusing a connection when there is one). */
  openStream(peer: NodeId, signal: AbortSignal): Promise<Stream>
  /** A drop not covered by the link's own stats (the transport's totals). */
  countDrop(reason: DropReason, count: number): void
}

export interface PeerLinkOptions {
  readonly maxQueuedMessages: number
  readonly maxQueuedBytes: number
  /** Bounds of the separate queue of urgent (liveness) messages. */
  readonly maxUrgentMessages: number
  readonly maxUrgentBytes: number
  /** Frames are concatenated into writes of about this size. */
  readonly maxWriteBytes: number
  readonly reconnectInitialDelayMs: number
  readonly reconnectMaxDelayMs: number
  /** A stream that lived at least this long counts as healthy: backoff starts over after it. */
  readonly stableStreamMs: number
  readonly random: () => number
}

/**
 * The sending side towards one peer: a bounded queue, one long-lived
 * outbound stream, and dialing with exponential backoff and jitter.
 *
 * Sends queue and are flushed in one batched write per microtask (many small
 * messages per write is what makes libp2p fast). When the stream's buffer is
 * full the link waits for the stream's 'drain' event — not `onDrain()`, which
 * in @libp2p/utils 7.4 stops applying backpressure after the first drain —
 * and in the meantime the queue drops its oldest messages.
 *
 * Urgent messages (heartbeats, votes, acknowledgements: `send(..., { urgent
 * true })`) wait in a queue of their own: each write takes them first, and a
 * flood of bulk messages can never push them out of a full queue.
 */
export class PeerLink {
  readonly id: NodeId
  private readonly host: PeerLinkHost
  private readonly options: PeerLinkOptions
  private readonly stats: PeerStats
  private readonly queue: PeerSendQueue
  private readonly urgent: PeerSendQueue
  private stream: Stream | undefined
  private streamOpenedAt = 0
  private dialing: AbortController | undefined
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  /** Consecutive failed dials or short-lived streams; drives the backoff. */
  private failures = 0
  private everOpened = false
  private flushScheduled = false
  private closed = false

  constructor(id: NodeId, host: PeerLinkHost, options: PeerLinkOptions, stats: PeerStats) {
    this.id = id
    this.host = host
    this.options = options
    this.stats = stats
    this.queue = new PeerSendQueue(options.maxQueuedMessages, options.maxQueuedBytes)
    this.urgent = new PeerSendQueue(options.maxUrgentMessages, options.maxUrgentBytes)
  }

  get connected(): boolean {
    return this.stream !== undefined
  }

  get queuedMessages(): number {
    return this.queue.length + this.urgent.length
  }

  get queuedBytes(): number {
    return this.queue.bytes + this.urgent.bytes
  }

  enqueue(message: Uint8Array, urgent = false): void {
    if (this.closed) return this.drop('non-member', 1)
    const dropped = (urgent ? this.urgent : this.queue).push(message)
    if (dropped > 0) this.drop('queue-full', dropped)
    this.kick()
  }

  /** Make progress: flush when a stream is open, otherwise dial unless a dial or a backoff wait is under way. */
  kick(): void {
    if (this.closed || !this.host.running) return
    if (this.stream !== undefined) return this.scheduleFlush()
    if (this.queuedMessages === 0 || this.dialing !== undefined || this.retryTimer !== undefined) return
    this.connect()
  }

  /**
   * A connection to the peer just opened (it dialed us, or another dial got through): the path works again,
   * so a link waiting out its backoff opens its stream now, over that connection, instead of staying down for
   * up to `reconnectMaxDelayMs` after a partition healed.
   */
  peerConnected(): void {
    if (this.retryTimer !== undefined && this.stream === undefined && this.dialing === undefined) {
      clearTimeout(this.retryTimer)
      this.retryTimer = undefined
    }
    this.kick()
  }

  /**
   * Forget the stream, any dial and backoff, and the queue (whose messages
   * are dropped as `reason`). The link stays usable: the next `kick` dials
   * afresh. Used when the transport stops.
   */
  reset(reason: DropReason): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.dialing?.abort(new Error('link reset'))
    this.dialing = undefined
    const stream = this.stream
    this.stream = undefined
    stream?.abort(new Error('link reset'))
    this.failures = 0
    const discarded = this.queue.clear() + this.urgent.clear()
    if (discarded > 0) this.drop(reason, discarded)
  }

  /** The peer left the membership: reset for good. */
  close(): void {
    this.reset('non-member')
    this.closed = true
  }

  private connect(): void {
    const controller = new AbortController()
    this.dialing = controller
    this.host.openStream(this.id, controller.signal).then(
      (stream) => {
        if (this.dialing !== controller) {
          stream.abort(new Error('link reset while dialing'))
          return
        }
        this.dialing = undefined
        this.attach(stream)
      },
      () => {
        if (this.dialing !== controller) return
        this.dialing = undefined
        this.stats.dialFailures++
        this.failures++
        this.scheduleRetry()
      },
    )
  }

  private attach(stream: Stream): void {
    if (this.everOpened) this.stats.reconnects++
    this.everOpened = true
    this.stream = stream
    this.streamOpenedAt = performance.now()
    stream.addEventListener('drain', () => {
      if (this.stream === stream) this.flush()
    })
    stream.addEventListener('close', () => {
      if (this.stream !== stream) return
      this.stream = undefined
      // A stream that dies at once (peer rejects it, connection flaps) backs off like a failed dial.
      if (performance.now() - this.streamOpenedAt < this.options.stableStreamMs) this.failures++
      else this.failures = 0
      this.scheduleRetry()
    })
    this.scheduleFlush()
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== undefined) return
    const { reconnectInitialDelayMs: initial, reconnectMaxDelayMs: max } = this.options
    // Exponential backoff with "equal jitter": half fixed, half random, so peers restarted together spread out.
    const ceiling = Math.min(max, initial * 2 ** Math.max(0, Math.min(this.failures - 1, 30)))
    const delay = this.failures === 0 ? 0 : ceiling / 2 + this.options.random() * (ceiling / 2)
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.kick()
    }, delay)
    // Never keep the process alive just to reconnect.
    this.retryTimer.unref?.()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    queueMicrotask(() => {
      this.flushScheduled = false
      this.flush()
    })
  }

  private flush(): void {
    const stream = this.stream
    if (stream === undefined || stream.writableNeedsDrain || stream.writeStatus !== 'writable') return
    while (this.queuedMessages > 0) {
      const batch = (this.urgent.length > 0 ? this.urgent : this.queue).takeBatch(this.options.maxWriteBytes)
      let accepted: boolean
      try {
        accepted = stream.send(encodeFrames(batch))
      } catch {
        // Closed under us; its 'close' event schedules the reconnect.
        this.drop('stream-closed', batch.length)
        return
      }
      this.stats.messagesSent += batch.length
      let bytes = 0
      for (const message of batch) bytes += message.byteLength
      this.stats.bytesSent += bytes
      if (!accepted) return // resumes on 'drain'
    }
  }

  private drop(reason: DropReason, count: number): void {
    this.stats.drop(reason, count)
    this.host.countDrop(reason, count)
  }
}

