import type { SimulatedNetwork } from '@synod/transport-memory'

/** Messages and bytes handed to the network. */
export interface Traffic {
  readonly messages: number
  readonly bytes: number
}

export const NO_TRAFFIC: Traffic = { messages: 0, bytes: 0 }

export function minus(a: Traffic, b: Traffic): Traffic {
  return { messages: a.messages - b.messages, bytes: a.bytes - b.bytes }
}

/**
 * Counts every message a node hands to the simulated network (before any
 * fault can drop it), in total and per directed link. It sits in the
 * network's outbound filter of each address, passing every message through
 * unchanged, so what it counts is exactly what the protocols sent — the same
 * count as the network's own `stats.sent`, plus the bytes.
 */
export class NetworkMeter {
  private messages = 0
  private bytes = 0
  private readonly links = new Map<string, { messages: number; bytes: number }>()
  private readonly slowest = new Map<string, number>()

  constructor(network: SimulatedNetwork, addresses: readonly string[]) {
    for (const address of addresses)
      network.setOutboundFilter(address, (out) => {
        this.count(address, out.to, out.message.byteLength)
        return [out]
      })
    network.observeDeliveries(({ from, to, sentAt, deliveredAt }) => {
      const key = `${from}\u0000${to}`
      this.slowest.set(key, Math.max(this.slowest.get(key) ?? 0, deliveredAt - sentAt))
    })
  }

  /** The longest a message took on the directed link from → to, in virtual ms (0: none delivered). */
  slowestDelivery(from: string, to: string): number {
    return this.slowest.get(`${from}\u0000${to}`) ?? 0
  }

  private count(from: string, to: string, bytes: number): void {
    this.messages++
    this.bytes += bytes
    const key = `${from}\u0000${to}`
    const link = this.links.get(key)
    if (link === undefined) this.links.set(key, { messages: 1, bytes })
    else {
      link.messages++
      link.bytes += bytes
    }
  }

  /** Everything sent so far. */
  total(): Traffic {
    return { messages: this.messages, bytes: this.bytes }
  }

  /** Everything sent so far on the directed link from → to. */
  link(from: string, to: string): Traffic {
    return this.links.get(`${from}\u0000${to}`) ?? NO_TRAFFIC
  }
}
