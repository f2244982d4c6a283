import type { NodeId } from '@synod/core'
import { bridgePairs, partitionPairs, ringPairs, type SeededRandom } from '@synod/transport-memory'
import type { Cluster } from './cluster.js'
import type { FaultStep, NodeSelector, PartitionShape } from './scenario.js'

/**
 * Carries out a scenario's fault schedule on a cluster, resolving 'leader'
 * and 'follower' when each step runs, and heals everything at the end of
 * the chaos phase.
 */
export class Nemesis<Options = unknown> {
  private readonly refs = new Map<string, NodeId>()
  private readonly random: SeededRandom

  constructor(private readonly cluster: Cluster<Options>) {
    this.random = cluster.simulation.random('nemesis')
  }

  schedule(steps: readonly FaultStep[]): void {
    const sim = this.cluster.simulation
    for (const step of [...steps].sort((a, b) => a.at - b.at))
      sim.schedule(Math.max(0, step.at - sim.now()), () => this.apply(step))
  }

  apply(step: FaultStep): void {
    const cluster = this.cluster
    const sim = cluster.simulation
    const network = sim.network
    switch (step.kind) {
      case 'crash': {
        const id = this.resolve(step.target, step.as)
        for (const address of this.addressesOf(id)) cluster.crash(address)
        return
      }
      case 'restart': {
        const id = this.resolve(step.target)
        for (const address of this.addressesOf(id)) cluster.restart(address)
        return
      }
      case 'crash-all':
        for (const address of cluster.addresses) cluster.crash(address)
        return
      case 'restart-all':
        for (const address of cluster.addresses) cluster.restart(address)
        return
      case 'partition': {
        const pairs = this.partitionPairs(step.shape, step.as)
        network.blockPairs(pairs)
        cluster.note('fault', `partition ${describeShape(step.shape)} (${pairs.length} links blocked)`)
        return
      }
      case 'heal':
        network.heal()
        cluster.note('heal', 'network healed')
        return
      case 'link-faults':
        network.setDefaultFaults(step.faults)
        cluster.note('fault', `link faults ${JSON.stringify(step.faults)}`)
        return
      case 'clear-link-faults':
        network.clearFaults()
        cluster.note('heal', 'link faults cleared')
        return
      case 'pause': {
        const id = this.resolve(step.target, step.as)
        for (const address of this.addressesOf(id)) sim.pause(address)
        cluster.note('fault', `${id} paused`, id)
        return
      }
      case 'resume': {
        const id = this.resolve(step.target)
        for (const address of this.addressesOf(id)) sim.resume(address)
        cluster.note('heal', `${id} resumed`, id)
        return
      }
      case 'clock-skew': {
        const id = this.resolve(step.target, step.as)
        const skew = { ...(step.rate === undefined ? {} : { rate: step.rate }), ...(step.jumpMs === undefined ? {} : { jumpMs: step.jumpMs }) }
        for (const address of this.addressesOf(id)) sim.setClockSkew(address, skew)
        cluster.note('fault', `${id} clock skew ${JSON.stringify(skew)}`, id)
        return
      }
    }
  }

  /** End of chaos: heal the network, clear link faults, resume paused nodes and restart crashed ones. */
  healAll(): void {
    const cluster = this.cluster
    const sim = cluster.simulation
    sim.network.heal()
    sim.network.clearFaults()
    for (const address of cluster.addresses) {
      sim.resume(address)
      cluster.restart(address)
    }
    cluster.note('heal', 'all faults healed; liveness phase begins')
  }

  private resolve(selector: NodeSelector, as?: string): NodeId {
    const ids = this.cluster.ids
    let id: NodeId
    if (selector === 'leader') id = this.cluster.leader() ?? ids[0]!
    else if (selector === 'follower') {
      const leader = this.cluster.leader() ?? ids[0]!
      id = this.random.pick(ids.filter((i) => i !== leader))
    } else if (selector === 'random') id = this.random.pick(ids)
    else if ('index' in selector) id = ids[selector.index % ids.length]!
    else {
      const named = this.refs.get(selector.ref)
      if (named === undefined) throw new Error(`fault step refers to '${selector.ref}' before any step named it`)
      id = named
    }
    if (as !== undefined) this.refs.set(as, id)
    return id
  }

  /** The id's own host and its twins. */
  private addressesOf(id: NodeId): string[] {
    return this.cluster.hosts.filter((h) => h.id === id).map((h) => h.address)
  }

  private partitionPairs(shape: PartitionShape, as?: string): Array<[string, string]> {
    const ids = this.cluster.ids
    const expand = (group: readonly NodeId[]) => group.flatMap((id) => this.addressesOf(id))
    const faulty = Math.max(1, this.cluster.options.factory.maxFaulty(ids.length))
    switch (shape.kind) {
      case 'isolate': {
        const id = this.resolve(shape.target, as)
        return partitionPairs([expand([id]), expand(ids.filter((i) => i !== id))])
      }
      case 'minority': {
        const leader = this.cluster.leader() ?? ids[0]!
        const others = ids.filter((i) => i !== leader)
        const minority = shape.leaderSide === 'minority' ? [leader, ...others.slice(0, faulty - 1)] : others.slice(0, faulty)
        return partitionPairs([expand(minority), expand(ids.filter((i) => !minority.includes(i)))])
      }
      case 'no-quorum': {
        const size = Math.max(1, this.cluster.quorum - 1)
        const groups: NodeId[][] = []
        for (let i = 0; i < ids.length; i += size) groups.push(ids.slice(i, i + size))
        return partitionPairs(groups.map(expand))
      }
      case 'ring':
        return expandPairs(ringPairs(ids), (id) => this.addressesOf(id))
      case 'bridge':
        return expandPairs(bridgePairs(ids), (id) => this.addressesOf(id))
      case 'one-way': {
        const from = this.resolve(shape.from)
        const to = this.resolve(shape.to)
        return expandPairs([[from, to]], (id) => this.addressesOf(id))
      }
    }
  }
}

function expandPairs(pairs: ReadonlyArray<readonly [string, string]>, addresses: (id: NodeId) => string[]): Array<[string, string]> {
  return pairs.flatMap(([from, to]) => addresses(from).flatMap((a) => addresses(to).map((b): [string, string] => [a, b])))
}

function describeShape(shape: PartitionShape): string {
  switch (shape.kind) {
    case 'isolate':
      return `isolate ${typeof shape.target === 'string' ? shape.target : JSON.stringify(shape.target)}`
    case 'minority':
      return `minority (leader in ${shape.leaderSide})`
    case 'one-way':
      return 'one-way'
    default:
      return shape.kind
  }
}
