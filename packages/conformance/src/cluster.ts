import {
  byzantineQuorum,
  majority,
  membership,
  type Member,
  type Membership,
  type NodeId,
  type ProtocolFactory,
  type Random,
  type Signer,
  type Verifier,
} from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { Simulation, type SimulatedNode } from '@synod/transport-memory'
import { commandDigest } from './digest.js'
import { nodeKeys } from './keys.js'
import type { KvWorkloadCodec } from './kv-codec.js'
import type { AdversarySpec } from './scenario.js'
import type { CommitRecord, LeaderRecord, TimelineEvent } from './types.js'

/** What a protocol-aware adversary gets to build its wrapper. */
export interface AdversaryContext<Options = unknown> {
  /** The honest factory to wrap. */
  readonly factory: ProtocolFactory<Options>
  readonly node: NodeId
  /** Seeded: adversaries must be as reproducible as everything else. */
  readonly random: Random
  /** The scenario's `attack` for this node (AdversarySpec.attack); undefined = the adversary's default. */
  readonly attack: string | undefined
}

/** A protocol package's own attacks: returns a factory whose nodes misbehave (equivocate, double-vote, ...). */
export type ProtocolAdversary<Options = unknown> = (context: AdversaryContext<Options>) => ProtocolFactory<Options>

export interface ClusterOptions<Options = unknown> {
  readonly factory: ProtocolFactory<Options>
  readonly protocolOptions?: Partial<Options>
  readonly nodes: number
  readonly seed: number
  readonly kv: KvWorkloadCodec
  readonly syncLatencyMs?: number
  /** The Replica's own request timeout. */
  readonly requestTimeoutMs?: number
  readonly adversaries?: readonly AdversarySpec[]
  readonly adversary?: ProtocolAdversary<Options>
}

/** One host in the cluster: a member, or a twin sharing a member's id. */
export interface ClusterHost<Options = unknown> {
  readonly id: NodeId
  readonly address: string
  readonly node: SimulatedNode<Options>
  readonly byzantine: boolean
}

/**
 * n replicas of one protocol on the simulator, each with its own memory
 * storage and KV state machine (ed25519 keys for byzantine protocols,
 * derived from the seed), recording commits, leaders and a timeline.
 */
export class Cluster<Options = unknown> {
  readonly simulation: Simulation
  readonly ids: readonly NodeId[]
  readonly membership: Membership
  /** Members first (in id order), then twins. */
  readonly hosts: ReadonlyArray<ClusterHost<Options>>
  readonly commits: CommitRecord[] = []
  readonly leaders: LeaderRecord[] = []
  readonly timeline: TimelineEvent[] = []
  readonly errors: Array<{ address: string; error: unknown }> = []
  /** Latest term each address announced itself leader of, by address. */
  private readonly claimedLeadership = new Map<string, number>()
  readonly options: ClusterOptions<Options>

  constructor(options: ClusterOptions<Options>) {
    this.options = options
    const maxFaulty = options.factory.maxFaulty(options.nodes)
    const adversaries = options.adversaries ?? []
    if (new Set(adversaries.map((a) => a.index)).size > maxFaulty)
      throw new RangeError(
        `${adversaries.length} adversaries exceed the ${maxFaulty} faults ${options.factory.name} tolerates with ${options.nodes} nodes`,
      )
    this.simulation = new Simulation({ seed: options.seed })
    const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`)
    this.ids = ids
    const byzantine = options.factory.faultModel === 'byzantine'
    const keys = byzantine ? nodeKeys(options.seed, ids) : undefined
    const members: Member[] = ids.map((id, i) => ({ id, publicKey: keys?.[i]?.publicKey ?? new Uint8Array(0) }))
    this.membership = membership(members)
    const hosts: Array<ClusterHost<Options>> = []
    const behaviourOf = (index: number) => adversaries.filter((a) => a.index === index).map((a) => a.behaviour)
    const attackOf = (index: number) => adversaries.find((a) => a.index === index && a.behaviour === 'protocol')?.attack
    const addHost = (index: number, address: string, isTwin: boolean) => {
      const id = ids[index]!
      const behaviours = behaviourOf(index)
      const key = keys?.[index]
      const node = this.simulation.addNode<Options>({
        id,
        address,
        factory: options.factory,
        ...(options.protocolOptions === undefined ? {} : { protocolOptions: options.protocolOptions }),
        membership: this.membership,
        storage: memoryStorage(),
        createStateMachine: () => options.kv.createStateMachine(),
        ...(key === undefined ? {} : { signer: key.signer as Signer, verifier: key.verifier as Verifier }),
        syncLatencyMs: options.syncLatencyMs ?? 1,
        ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
        ...(behaviours.includes('protocol') && options.adversary !== undefined
          ? {
              wrapFactory: (factory: ProtocolFactory<Options>, incarnation: number) =>
                options.adversary!({ factory, node: id, random: this.simulation.random(`adversary:${address}#${incarnation}`), attack: attackOf(index) }),
            }
          : {}),
        onCommit: (entry, incarnation) =>
          this.commits.push({ node: address, incarnation, index: entry.index, digest: commandDigest(entry.command), at: this.simulation.now() }),
        onEvent: (event) => {
          const at = this.simulation.now()
          if (event.type === 'leader' && event.leader === id) {
            if (this.claimedLeadership.get(address) !== event.term) {
              this.claimedLeadership.set(address, event.term)
              this.leaders.push({ node: address, term: event.term, at })
              this.timeline.push({ at, node: address, kind: 'leader', detail: `leader of term ${event.term}` })
            }
          } else if (event.type === 'role') {
            this.timeline.push({ at, node: address, kind: 'role', detail: `${event.role} in term ${event.term}` })
          } else if (event.type === 'snapshot') {
            this.timeline.push({ at, node: address, kind: 'note', detail: `snapshot at index ${event.index}` })
          } else if (event.type === 'membership') {
            this.timeline.push({ at, node: address, kind: 'membership', detail: describeMembership(event.membership) })
          } else if (event.type === 'custom') {
            this.timeline.push({ at, node: address, kind: 'note', detail: `${event.name} ${JSON.stringify(event.detail)}` })
          }
        },
        onError: (error) => this.errors.push({ address, error }),
      })
      hosts.push({ id, address, node, byzantine: behaviours.length > 0 || isTwin })
    }
    ids.forEach((id, index) => addHost(index, id, false))
    adversaries.filter((a) => a.behaviour === 'twin').forEach((a) => addHost(a.index, `${ids[a.index]!}~twin`, true))
    this.hosts = hosts
  }

  /** The member with this id as in the initial membership (its key included). */
  member(id: NodeId): Member {
    const member = this.membership.voters.find((m) => m.id === id)
    if (member === undefined) throw new RangeError(`no member ${id}`)
    return member
  }

  /** Addresses of every host (members and twins). */
  get addresses(): string[] {
    return this.hosts.map((h) => h.address)
  }

  /** Addresses of hosts that are not adversaries. */
  get correctAddresses(): string[] {
    return this.hosts.filter((h) => !h.byzantine).map((h) => h.address)
  }

  host(address: string): ClusterHost<Options> {
    const host = this.hosts.find((h) => h.address === address)
    if (host === undefined) throw new RangeError(`no host ${address}`)
    return host
  }

  /** Votes needed for progress: a majority for crash protocols, ⌈(n+f+1)/2⌉ for byzantine ones. */
  get quorum(): number {
    return this.options.factory.faultModel === 'byzantine' ? byzantineQuorum(this.ids.length) : majority(this.ids.length)
  }

  async start(): Promise<void> {
    for (const host of this.hosts) await host.node.start()
  }

  /** The member that currently leads, judged by the nodes' own status (highest term wins); undefined when none. */
  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined
    for (const host of this.hosts) {
      if (host.byzantine) continue
      const status = host.node.replica?.status()
      if (status === undefined) continue
      if (status.leader === host.id && (best === undefined || status.term > best.term)) best = { id: host.id, term: status.term }
    }
    if (best !== undefined) return best.id
    const latest = this.leaders.at(-1)
    return latest === undefined ? undefined : this.host(latest.node).id
  }

  /** Every correct host is running and all report the same commit index. */
  converged(): boolean {
    let commitIndex: number | undefined
    for (const host of this.hosts) {
      if (host.byzantine) continue
      const replica = host.node.replica
      if (replica === undefined) return false
      const index = replica.status().commitIndex
      if (commitIndex === undefined) commitIndex = index
      else if (index !== commitIndex) return false
    }
    return true
  }

  note(kind: TimelineEvent['kind'], detail: string, node?: string): void {
    this.timeline.push(node === undefined ? { at: this.simulation.now(), kind, detail } : { at: this.simulation.now(), node, kind, detail })
  }

  crash(address: string): void {
    const node = this.host(address).node
    if (!node.running) return
    node.crash()
    this.note('crash', `${address} crashed`, address)
  }

  restart(address: string): void {
    const node = this.host(address).node
    if (node.running) return
    void node.start().catch((error: unknown) => this.errors.push({ address, error }))
    this.note('restart', `${address} restarted (incarnation ${node.incarnation})`, address)
  }

  async stop(): Promise<void> {
    for (const host of this.hosts) await host.node.stop()
  }
}

/** `epoch 3 voters n1,n2 learners n3` (and `outgoing n1,n2,n3` while joint): how membership appears on the timeline. */
export function describeMembership(m: Membership): string {
  const ids = (members: readonly Member[]) => (members.length === 0 ? '-' : members.map((x) => x.id).join(','))
  return `epoch ${m.epoch} voters ${ids(m.voters)} learners ${ids(m.learners)}${m.outgoing === undefined ? '' : ` outgoing ${ids(m.outgoing)}`}`
}
