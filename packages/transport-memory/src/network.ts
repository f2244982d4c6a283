import type { MessageHandler, NodeId, Transport } from '@synod/core'
import type { SeededRandom } from './prng.js'
import type { Simulation } from './simulation.js'

/** How long a message spends on a link. */
export type DelayDistribution =
  | { readonly kind: 'uniform'; readonly minMs: number; readonly maxMs: number }
  | { readonly kind: 'exponential'; readonly minMs: number; readonly meanMs: number }

/** Faults of one directed link (or the default for all links). Unset fields mean "none". */
export interface LinkFaults {
  /** Probability that a message is lost. */
  readonly dropRate?: number
  /** Probability that a message is delivered twice. */
  readonly duplicateRate?: number
  readonly delay?: DelayDistribution
  /**
   * Probability that a message leaves the link's FIFO order and gets an
   * extra delay up to `reorderMaxMs`. Without it a link behaves like a
   * stream: messages arrive in the order they were sent.
   */
  readonly reorderRate?: number
  readonly reorderMaxMs?: number
}

export const DEFAULT_DELAY: DelayDistribution = { kind: 'uniform', minMs: 1, maxMs: 3 }

export interface OutboundMessage {
  readonly to: NodeId
  readonly message: Uint8Array
}

/**
 * Rewrites what an address sends before the network sees it: return `[]`
 * to drop, several entries to duplicate, equivocate or replay, changed bytes
 * to corrupt. This is where byzantine adversaries plug in.
 */
export type OutboundFilter = (outbound: OutboundMessage) => readonly OutboundMessage[]

export interface NetworkStats {
  sent: number
  delivered: number
  dropped: number
  duplicated: number
  blocked: number
  /** Messages to an address with no endpoint, or whose endpoint crashed while they were in flight. */
  undeliverable: number
}

/** Sees each message as it is delivered: the addresses, the bytes, when it was sent and when delivered (virtual ms). */
export type DeliveryObserver = (delivery: { readonly from: string; readonly to: string; readonly message: Uint8Array; readonly sentAt: number; readonly deliveredAt: number }) => void

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`
}

/**
 * The simulated network: endpoints by address, per-link faults, partitions
 * (symmetric or one-way blocks) and outbound filters. An address is usually
 * the NodeId; twins are two addresses with the same NodeId, and messages to
 * that NodeId reach both.
 */
export class SimulatedNetwork {
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, blocked: 0, undeliverable: 0 }
  private readonly endpoints = new Map<string, SimulatedTransport>()
  private readonly blocked = new Set<string>()
  private readonly linkFaults = new Map<string, LinkFaults>()
  private defaultFaults: LinkFaults = {}
  private readonly fifoTail = new Map<string, number>()
  private readonly filters = new Map<string, OutboundFilter>()
  private deliveryObserver: DeliveryObserver | undefined
  private readonly random: SeededRandom

  constructor(private readonly simulation: Simulation) {
    this.random = simulation.random('network')
  }

  /** Attach a new endpoint for `self` at `address` (default: the id). An older endpoint at that address is detached. */
  endpoint(self: NodeId, address: string = self): SimulatedTransport {
    this.endpoints.get(address)?.close()
    const endpoint = new SimulatedTransport(this, self, address)
    this.endpoints.set(address, endpoint)
    return endpoint
  }

  /** Addresses with an attached endpoint, in attach order. */
  addresses(): string[] {
    return [...this.endpoints.keys()]
  }

  /** @internal Re-attach an endpoint that was stopped, replacing whatever holds its address now. */
  reattach(endpoint: SimulatedTransport): void {
    const current = this.endpoints.get(endpoint.address)
    if (current !== undefined && current !== endpoint) current.close()
    this.endpoints.set(endpoint.address, endpoint)
  }

  /** @internal */
  detach(endpoint: SimulatedTransport): void {
    if (this.endpoints.get(endpoint.address) === endpoint) this.endpoints.delete(endpoint.address)
  }

  // ---- faults ----

  setDefaultFaults(faults: LinkFaults): void {
    this.defaultFaults = faults
  }

  /** Faults of the directed link from → to, overriding the default. */
  setLinkFaults(from: string, to: string, faults: LinkFaults): void {
    this.linkFaults.set(linkKey(from, to), faults)
  }

  /** Back to a clean network: no link faults, default delays. Partitions are separate (see `heal`). */
  clearFaults(): void {
    this.linkFaults.clear()
    this.defaultFaults = {}
  }

  faultsOf(from: string, to: string): LinkFaults {
    return this.linkFaults.get(linkKey(from, to)) ?? this.defaultFaults
  }

  // ---- partitions ----

  /** One-way block: `from` can no longer reach `to` (asymmetric partition). */
  block(from: string, to: string): void {
    if (from !== to) this.blocked.add(linkKey(from, to))
  }

  unblock(from: string, to: string): void {
    this.blocked.delete(linkKey(from, to))
  }

  blockPairs(pairs: ReadonlyArray<readonly [string, string]>): void {
    for (const [from, to] of pairs) this.block(from, to)
  }

  /** Symmetric partition: nodes reach only the members of their own group. */
  partition(groups: ReadonlyArray<readonly string[]>): void {
    this.blockPairs(partitionPairs(groups))
  }

  /** Cut `address` off from every other address, both ways. */
  isolate(address: string, among: readonly string[] = this.addresses()): void {
    this.partition([[address], among.filter((a) => a !== address)])
  }

  /** Remove every block. */
  heal(): void {
    this.blocked.clear()
  }

  isBlocked(from: string, to: string): boolean {
    return this.blocked.has(linkKey(from, to))
  }

  get blockedLinks(): number {
    return this.blocked.size
  }

  // ---- outbound filters (adversaries) ----

  setOutboundFilter(address: string, filter: OutboundFilter | undefined): void {
    if (filter === undefined) this.filters.delete(address)
    else this.filters.set(address, filter)
  }

  // ---- observing ----

  /** Watch every delivery (meters, benchmarks, tests); undefined stops watching. Draws nothing from the seed. */
  observeDeliveries(observer: DeliveryObserver | undefined): void {
    this.deliveryObserver = observer
  }

  // ---- moving messages ----

  /** @internal */
  send(from: SimulatedTransport, to: NodeId, message: Uint8Array): void {
    this.stats.sent++
    const filter = this.filters.get(from.address)
    // Copy: the sender may reuse its buffer, and a receiver must never see the sender's later writes.
    const outgoing = filter === undefined ? [{ to, message: message.slice() }] : filter({ to, message: message.slice() })
    for (const out of outgoing) {
      let reached = false
      for (const target of this.endpoints.values()) {
        if (target.self !== out.to) continue
        reached = true
        this.transmit(from, target, out.message)
      }
      if (!reached) this.stats.undeliverable++
    }
  }

  private transmit(from: SimulatedTransport, target: SimulatedTransport, message: Uint8Array): void {
    const key = linkKey(from.address, target.address)
    if (this.blocked.has(key)) {
      this.stats.blocked++
      return
    }
    const faults = this.linkFaults.get(key) ?? this.defaultFaults
    if (this.random.chance(faults.dropRate ?? 0)) {
      this.stats.dropped++
      return
    }
    const copies = this.random.chance(faults.duplicateRate ?? 0) ? 2 : 1
    if (copies === 2) this.stats.duplicated++
    const now = this.simulation.now()
    for (let i = 0; i < copies; i++) {
      let at = now + this.sampleDelay(faults.delay ?? DEFAULT_DELAY)
      if (this.random.chance(faults.reorderRate ?? 0)) {
        at += this.random.between(0, faults.reorderMaxMs ?? 20)
      } else {
        at = Math.max(at, this.fifoTail.get(key) ?? 0)
        this.fifoTail.set(key, at)
      }
      const fromId = from.self
      const fromAddress = from.address
      this.simulation.schedule(
        at - now,
        () => {
          // A node that crashed (or restarted: a new endpoint) while this was in flight never sees it, as with a broken connection.
          if (this.endpoints.get(target.address) !== target || target.closed) {
            this.stats.undeliverable++
            return
          }
          this.stats.delivered++
          this.simulation.trace('deliver', fromAddress, target.address, message)
          this.deliveryObserver?.({ from: fromAddress, to: target.address, message, sentAt: now, deliveredAt: this.simulation.now() })
          target.receive(fromId, message)
        },
        target.address,
      )
    }
  }

  private sampleDelay(delay: DelayDistribution): number {
    if (delay.kind === 'uniform') return this.random.between(delay.minMs, delay.maxMs)
    return delay.minMs + this.random.exponential(delay.meanMs)
  }
}

/** core's Transport for one simulated endpoint. A Replica cannot tell it from the real network. */
export class SimulatedTransport implements Transport {
  private handler: MessageHandler | undefined
  private isClosed = false

  constructor(
    private readonly network: SimulatedNetwork,
    readonly self: NodeId,
    readonly address: string,
  ) {}

  send(to: NodeId, message: Uint8Array): void {
    if (this.isClosed) return
    this.network.send(this, to, message)
  }

  onMessage(handler: MessageHandler): void {
    this.handler = handler
  }

  /** Start, or restart after stop(): the endpoint takes its address on the network again. */
  async start(): Promise<void> {
    if (!this.isClosed) return
    this.isClosed = false
    this.network.reattach(this)
  }

  async stop(): Promise<void> {
    this.close()
  }

  /** Detach at once (a crash): nothing more is sent or received. */
  close(): void {
    this.isClosed = true
    this.network.detach(this)
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** @internal */
  receive(from: NodeId, message: Uint8Array): void {
    this.handler?.(from, message)
  }
}

// ---- partition shapes: pure functions returning the directed links to block ----

/** Every link between different groups, both ways. */
export function partitionPairs(groups: ReadonlyArray<readonly string[]>): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < groups.length; i++)
    for (let j = 0; j < groups.length; j++) {
      if (i === j) continue
      for (const from of groups[i]!) for (const to of groups[j]!) pairs.push([from, to])
    }
  return pairs
}

/** `node` alone against the rest. */
export function isolatePairs(node: string, all: readonly string[]): Array<[string, string]> {
  return partitionPairs([[node], all.filter((a) => a !== node)])
}

/** The first ⌊(n−1)/2⌋ nodes (a minority) against the rest (a majority). */
export function majorityMinorityGroups(all: readonly string[]): [minority: string[], majority: string[]] {
  const minoritySize = Math.floor((all.length - 1) / 2)
  return [all.slice(0, minoritySize), all.slice(minoritySize)]
}

/** Each node reaches only its two neighbours in a ring. */
export function ringPairs(all: readonly string[]): Array<[string, string]> {
  const n = all.length
  const pairs: Array<[string, string]> = []
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const distance = Math.min((i - j + n) % n, (j - i + n) % n)
      if (distance > 1) pairs.push([all[i]!, all[j]!])
    }
  return pairs
}

/** Two halves that cannot reach each other, joined only through the middle node (the bridge). */
export function bridgePairs(all: readonly string[]): Array<[string, string]> {
  const middle = Math.floor(all.length / 2)
  const left = all.slice(0, middle)
  const right = all.slice(middle + 1)
  return partitionPairs([left, right])
}
