import { Cluster, kvWorkloadCodec, type KvWorkloadCodec } from '@synod/conformance'
import { NotLeaderError, type NodeId, type ProtocolFactory, type Replica } from '@synod/core'
import { NetworkMeter } from './meter.js'

/** The one network every protocol runs on: a fixed one-way delay per message, no loss, FIFO links. */
export interface BenchNetwork {
  /** One-way delay of every link, in virtual ms: one message delay. */
  readonly linkMs: number
}

/** Bytes of the value each write carries (the KV command around it adds key, session and framing). */
export const VALUE_BYTES = 64

/**
 * A cluster of one protocol on the simulator, as the conformance suite builds it
 * (memory storage, @synod/kv state machine, ed25519 keys for byzantine
 * protocols), with storage syncs that take no virtual time — so latency is
 * message delays alone — every link delayed by exactly `linkMs`, and a meter
 * on every node's outbound traffic. Clients are co-located with the node they
 * call (Replica.propose): no client hop is counted.
 */
export class BenchCluster {
  readonly cluster: Cluster<unknown>
  readonly meter: NetworkMeter
  private readonly codec: KvWorkloadCodec = kvWorkloadCodec()
  private readonly seqs = new Map<number, number>()
  /** The node each client last got an answer from (or was pointed to). */
  private readonly targets = new Map<number, NodeId>()

  constructor(
    readonly factory: ProtocolFactory<unknown>,
    readonly nodes: number,
    readonly seed: number,
    readonly network: BenchNetwork,
    protocolOptions?: Record<string, unknown>,
  ) {
    this.cluster = new Cluster<unknown>({
      factory,
      nodes,
      seed,
      kv: this.codec,
      syncLatencyMs: 0,
      requestTimeoutMs: 60_000,
      ...(protocolOptions === undefined ? {} : { protocolOptions }),
    })
    this.sim.network.setDefaultFaults({ delay: { kind: 'uniform', minMs: network.linkMs, maxMs: network.linkMs } })
    this.meter = new NetworkMeter(this.sim.network, this.cluster.addresses)
  }

  get sim() {
    return this.cluster.simulation
  }

  get ids(): readonly NodeId[] {
    return this.cluster.ids
  }

  /** Start every node and wait (virtual time) until one leads. */
  async start(budgetMs = 10_000): Promise<NodeId> {
    await this.cluster.start()
    const led = await this.sim.runUntil(() => this.cluster.leader() !== undefined, budgetMs)
    if (!led) throw new Error(`${this.factory.name} n=${this.nodes}: no leader within ${budgetMs} ms`)
    return this.cluster.leader()!
  }

  replica(id: NodeId): Replica<unknown> | undefined {
    return this.cluster.host(id).node.replica as Replica<unknown> | undefined
  }

  /** A distinct write of VALUE_BYTES for `client` (its own exactly-once session). */
  command(client: number): Uint8Array {
    const seq = (this.seqs.get(client) ?? 0) + 1
    this.seqs.set(client, seq)
    const value = `c${client}.${seq}`.padEnd(VALUE_BYTES, '.')
    return this.codec.write(`k${client % 16}`, value, { client: `c${client}`, seq })
  }

  /**
   * One write by `client`, retried until it is acknowledged: sent to the node
   * the client last heard from (at first the leader), following NotLeader hints.
   * Returns its latency in virtual ms, from first send to acknowledgement.
   */
  async write(client: number): Promise<number> {
    const command = this.command(client)
    const started = this.sim.now()
    let target = this.targets.get(client) ?? this.cluster.leader() ?? this.ids[0]!
    for (let attempt = 0; ; attempt++) {
      if (attempt > 10_000) throw new Error(`${this.factory.name}: client ${client} found no node to take its write`)
      const replica = this.replica(target)
      if (replica === undefined) {
        target = this.next(target)
        await this.sleep(this.network.linkMs)
        continue
      }
      try {
        await replica.propose(command)
        this.targets.set(client, target)
        return this.sim.now() - started
      } catch (error) {
        const hint = error instanceof NotLeaderError ? error.leaderHint : undefined
        target = hint !== undefined && hint !== target && this.ids.includes(hint) ? hint : this.next(target)
        await this.sleep(this.network.linkMs)
      }
    }
  }

  /**
   * `clients` closed-loop clients share `ops` writes (each starts its next
   * write when the previous one is acknowledged). Runs the simulation until
   * all are acknowledged; returns their latencies in virtual ms.
   */
  async runWrites(clients: number, ops: number, budgetMs = 600_000): Promise<number[]> {
    const latencies: number[] = []
    let started = 0
    let failure: unknown
    const loop = async (client: number) => {
      while (started < ops) {
        started++
        latencies.push(await this.write(client))
      }
    }
    let finished = false
    Promise.all(Array.from({ length: clients }, (_, c) => loop(c))).then(
      () => (finished = true),
      (error: unknown) => {
        failure = error
        finished = true
      },
    )
    const done = await this.sim.runUntil(() => finished, budgetMs)
    if (failure !== undefined) throw failure
    if (!done) throw new Error(`${this.factory.name} n=${this.nodes}: ${latencies.length} of ${ops} writes within ${budgetMs} virtual ms`)
    return latencies
  }

  /** Decisions a node made in [from, to): commits at distinct virtual instants (a batch commits at one instant). */
  decisions(node: NodeId, from: number, to: number): { decisions: number; commands: number } {
    const instants = new Set<number>()
    let commands = 0
    for (const commit of this.cluster.commits)
      if (commit.node === node && commit.at >= from && commit.at < to) {
        instants.add(commit.at)
        commands++
      }
    return { decisions: instants.size, commands }
  }

  private next(id: NodeId): NodeId {
    return this.ids[(this.ids.indexOf(id) + 1) % this.ids.length]!
  }

  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.sim.schedule(ms, resolve))
  }

  async stop(): Promise<void> {
    await this.cluster.stop()
  }
}
