/**
 * A zero-latency network for benchmarks that run a whole cluster in one
 * process: messages sent in one turn of the event loop are delivered
 * together on the next (setImmediate), so a replica's batch of sends goes out
 * as one batch, as it would over sockets. Structurally a @synod/core
 * Transport (no dependency on core: bench-kit stays a leaf).
 */
type Handler = (from: string, message: Uint8Array) => void

export interface InProcessTransport {
  readonly self: string
  send(to: string, message: Uint8Array): void
  onMessage(handler: Handler): void
  start(): Promise<void>
  stop(): Promise<void>
}

export class InProcessNetwork {
  private readonly handlers = new Map<string, Handler>()
  private queue: Array<{ from: string; to: string; message: Uint8Array }> = []
  private scheduled = false

  transport(self: string): InProcessTransport {
    return {
      self,
      send: (to, message) => {
        this.queue.push({ from: self, to, message })
        if (!this.scheduled) {
          this.scheduled = true
          setImmediate(() => this.flush())
        }
      },
      onMessage: (handler) => void this.handlers.set(self, handler),
      start: async () => {},
      stop: async () => {},
    }
  }

  private flush(): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    for (const { from, to, message } of batch) this.handlers.get(to)?.(from, message)
  }
}
