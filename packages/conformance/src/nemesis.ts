import {
  isMember,
  NotLeaderError,
  type Membership,
  type MembershipChange,
  type NodeId,
  type Replica,
  type SingleMembershipChange,
} from '@synod/core'
import { bridgePairs, partitionPairs, ringPairs, type SeededRandom } from '@synod/transport-memory'
import { raceAttempt } from './attempt.js'
import type { Cluster } from './cluster.js'
import type { FaultStep, MemberChangeSpec, NodeSelector, PartitionShape, ReconfigureSpec } from './scenario.js'

/** One attempt at a membership change is abandoned after this (its outcome is then checked and it is retried). */
const RECONFIGURE_ATTEMPT_MS = 1000

/**
 * Carries out a scenario's fault schedule on a cluster, resolving 'leader'
 * and 'follower' when each step runs, and heals everything at the end of
 * the chaos phase.
 */
export class Nemesis<Options = unknown> {
  private readonly refs = new Map<string, NodeId>()
  private readonly random: SeededRandom
  /** Membership changes run one after another: each waits for the previous one. */
  private reconfigureChain: Promise<void> = Promise.resolve()
  private pendingReconfigures = 0
  /** Membership changes are given up after this virtual time (the end of the run). */
  reconfigureDeadline = Infinity

  constructor(private readonly cluster: Cluster<Options>) {
    this.random = cluster.simulation.random('nemesis')
  }

  /** No membership change is waiting or in progress. */
  get idle(): boolean {
    return this.pendingReconfigures === 0
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
      case 'reconfigure': {
        this.pendingReconfigures++
        this.reconfigureChain = this.reconfigureChain
          .then(() => this.reconfigure(step.change))
          .catch((error: unknown) => cluster.note('membership', `reconfigure failed: ${String(error)}`))
          .finally(() => this.pendingReconfigures--)
        return
      }
    }
  }

  /**
   * Ask the leader for one membership change until it is committed (or found
   * in effect), retrying at the hint on NotLeaderError and later on
   * ProposalDroppedError, timeouts and crashes; recorded on the timeline.
   */
  private async reconfigure(spec: ReconfigureSpec): Promise<void> {
    const cluster = this.cluster
    const sim = cluster.simulation
    const change = this.resolveChange(spec)
    const label = describeChange(change)
    cluster.note('membership', `reconfigure ${label} requested`)
    const ids = cluster.ids
    let target = cluster.leader() ?? ids[0]!
    const next = () => ids[(ids.indexOf(target) + 1) % ids.length]!
    let attempts = 0
    const refusals = new Map<string, number>()
    const refused = (code: string) => refusals.set(code, (refusals.get(code) ?? 0) + 1)
    const tally = () => (refusals.size === 0 ? '' : `; refused ${[...refusals].map(([code, n]) => `${code}×${n}`).join(', ')}`)
    while (sim.now() < this.reconfigureDeadline) {
      const current = this.latestMembership()
      if (current !== undefined && inEffect(change, current)) {
        cluster.note('membership', `reconfigure ${label} in effect (epoch ${current.epoch}) after ${attempts} attempt(s)${tally()}`)
        return
      }
      const replica = cluster.hosts.find((h) => h.address === target && !h.byzantine)?.node.replica as Replica<unknown> | undefined
      if (replica === undefined || !replica.running) {
        target = next()
        await this.sleep(20)
        continue
      }
      attempts++
      const outcome = await raceAttempt(this.cluster.simulation, replica.reconfigure(change), RECONFIGURE_ATTEMPT_MS)
      if (outcome.kind === 'ok') {
        cluster.note('membership', `reconfigure ${label} committed at index ${outcome.result.index} via ${target} after ${attempts} attempt(s)${tally()}`)
        return
      }
      if (outcome.kind === 'timeout') {
        refused('timeout')
        target = next()
        continue
      }
      const error = outcome.error
      const code = (error as { code?: string }).code ?? String(error)
      refused(code)
      if (code === 'UNSUPPORTED') {
        cluster.note('membership', `reconfigure ${label} not supported by ${target}: ${(error as Error).message}`)
        return
      }
      if (error instanceof NotLeaderError) {
        const hint = error.leaderHint
        target = hint !== undefined && hint !== target && ids.includes(hint) ? hint : next()
        await this.sleep(10)
      } else if (code === 'PROPOSAL_DROPPED') {
        await this.sleep(50)
      } else {
        // TIMEOUT, STOPPED, a ConfigError after an earlier attempt took effect, ...: look again, elsewhere.
        target = next()
        await this.sleep(50)
      }
    }
    cluster.note('membership', `reconfigure ${label} abandoned at the end of the run after ${attempts} attempt(s)${tally()}`)
  }

  /** The committed membership with the highest epoch among the running correct nodes. */
  private latestMembership(): Membership | undefined {
    let best: Membership | undefined
    for (const host of this.cluster.hosts) {
      if (host.byzantine) continue
      const replica = host.node.replica
      if (replica === undefined || !replica.running) continue
      const m = replica.status().membership
      if (best === undefined || m.epoch > best.epoch) best = m
    }
    return best
  }

  private resolveChange(spec: ReconfigureSpec): MembershipChange {
    if (spec.type !== 'joint') return this.resolveSingle(spec, [])
    const picked: NodeId[] = []
    return { type: 'joint', changes: spec.changes.map((c) => this.resolveSingle(c, picked)) }
  }

  private resolveSingle(spec: MemberChangeSpec, picked: NodeId[]): SingleMembershipChange {
    const id = this.resolve(spec.target, spec.as, picked)
    picked.push(id)
    return spec.type === 'remove' ? { type: 'remove', id } : { type: spec.type, member: this.cluster.member(id) }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.cluster.simulation.schedule(ms, resolve))
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

  private resolve(selector: NodeSelector, as?: string, exclude: readonly NodeId[] = []): NodeId {
    const ids = this.cluster.ids
    let id: NodeId
    if (selector === 'leader') id = this.cluster.leader() ?? ids[0]!
    else if (selector === 'follower') {
      const leader = this.cluster.leader() ?? ids[0]!
      id = this.random.pick(ids.filter((i) => i !== leader && !exclude.includes(i)))
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

/** Whether the configuration already is what the change asks for (the last change of each member wins; not joint). */
function inEffect(change: MembershipChange, m: Membership): boolean {
  const singles = change.type === 'joint' ? change.changes : [change]
  if (change.type === 'joint' && m.outgoing !== undefined) return false
  const last = new Map<NodeId, SingleMembershipChange>()
  for (const single of singles) last.set(single.type === 'remove' ? single.id : single.member.id, single)
  return [...last.values()].every((single) => {
    if (single.type === 'remove') return !isMember(m, single.id)
    const list = single.type === 'add-voter' ? m.voters : m.learners
    return list.some((member) => member.id === single.member.id)
  })
}

/** `remove n2`, `add-learner n2`, `joint(remove n2, remove n3)`. */
export function describeChange(change: MembershipChange): string {
  if (change.type === 'joint') return `joint(${change.changes.map(describeChange).join(', ')})`
  return change.type === 'remove' ? `remove ${change.id}` : `${change.type} ${change.member.id}`
}
