import type { OutboundMessage } from '@synod/transport-memory'
import type { Cluster } from './cluster.js'
import type { AdversarySpec } from './scenario.js'

/**
 * Installs the generic, protocol-agnostic adversaries as outbound filters on
 * the network: silence, replay of old messages and byte corruption. Twins
 * and protocol-aware adversaries are wired by the Cluster itself.
 */
export function installNetworkAdversaries<Options>(cluster: Cluster<Options>, adversaries: readonly AdversarySpec[]): void {
  const sim = cluster.simulation
  for (const spec of adversaries) {
    const address = cluster.ids[spec.index]
    if (address === undefined) throw new RangeError(`adversary index ${spec.index} is outside the cluster`)
    const random = sim.random(`adversary:${address}`)
    switch (spec.behaviour) {
      case 'silent':
        sim.network.setOutboundFilter(address, () => [])
        break
      case 'replay': {
        const sent: OutboundMessage[] = []
        sim.network.setOutboundFilter(address, (out) => {
          if (sent.length < 512) sent.push(out)
          else sent[random.int(0, sent.length - 1)] = out
          const extra: OutboundMessage[] = []
          // Old messages of its own, to any member: stale votes, proposals of past views.
          if (random.chance(0.3)) extra.push({ to: random.pick(cluster.ids), message: random.pick(sent).message })
          return [out, ...extra]
        })
        break
      }
      case 'corrupt':
        sim.network.setOutboundFilter(address, (out) => {
          if (!random.chance(0.5)) return [out]
          const bytes = out.message.slice()
          // Half the flips hit the tail, where signatures and digests usually sit.
          const flips = random.int(1, 3)
          for (let i = 0; i < flips && bytes.length > 0; i++) {
            const position = random.chance(0.5) ? random.int(Math.max(0, bytes.length - 64), bytes.length - 1) : random.int(0, bytes.length - 1)
            bytes[position] = bytes[position]! ^ (1 << random.int(0, 7))
          }
          return [{ to: out.to, message: bytes }]
        })
        break
      case 'twin':
      case 'protocol':
        break
    }
  }
}
