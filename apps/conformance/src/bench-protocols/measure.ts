import { percentile } from './stats.js'
import type { ProtocolFactory } from '@synod/core'
import { BenchCluster, type BenchNetwork } from './driver.js'
import { minus, type Traffic } from './meter.js'

/** How much each configuration runs. The defaults keep a full run of every protocol to a few minutes. */
export interface Workload {
  /** Sequential writes (one client, one in flight) for latency and messages per decision. */
  readonly lowLoadOps: number
  /** Writes shared by `loadClients` closed-loop clients, for throughput and messages per command with batching. */
  readonly loadOps: number
  readonly loadClients: number
  /** Virtual ms of an idle cluster, to take the protocol's background traffic (heartbeats) out of the per-decision figures. */
  readonly idleMs: number
  /** Writes before any measurement (elections, first batches). */
  readonly warmupOps: number
  /** Wall-clock throughput (real clocks, in-process network): closed-loop clients, warm-up and measured ms. */
  readonly wallClients: number
  readonly wallWarmupMs: number
  readonly wallMeasureMs: number
}

export const DEFAULT_WORKLOAD: Workload = {
  lowLoadOps: 200,
  loadOps: 2000,
  loadClients: 64,
  idleMs: 1000,
  warmupOps: 20,
  wallClients: 256,
  wallWarmupMs: 500,
  wallMeasureMs: 2000,
}

export const DEFAULT_NETWORK: BenchNetwork = { linkMs: 1 }

/** One slowed link, both ways, between the leader and one other node: this many message delays each way. */
export const SLOW_LINK_FACTOR = 20

/** A run whose fault left no trace: its figures would measure the fault-free protocol under a fault's name. */
export class FaultNotObservedError extends Error {
  override readonly name = 'FaultNotObservedError'
}

export interface LatencyFigures {
  /** In message delays (virtual ms ÷ link delay). */
  readonly p50: number
  readonly p99: number
}

export interface SteadyFigures {
  /** Background traffic of an idle cluster, per virtual second (heartbeats, empty views). */
  readonly idlePerSecond: Traffic
  /** One write in flight: each decision orders one command. Background traffic subtracted. */
  readonly perDecision: Traffic
  /** Decisions per committed command at low load (1 when every write is its own decision). */
  readonly lowLoadDecisionsPerCommand: number
  readonly latency: LatencyFigures
  /** Under load (batching on): everything sent, per committed command and per decision. */
  readonly loaded: {
    readonly perCommand: Traffic
    readonly perDecision: Traffic
    readonly commandsPerDecision: number
    readonly latency: LatencyFigures
    /**
     * Commands per second of virtual time (deterministic). Virtual time charges no CPU, so with closed-loop
     * clients this is clients ÷ latency: it shows latency under load, not capacity (see WallClockFigures).
     */
    readonly virtualOpsPerSecond: number
    /** Commands per wall-clock second of the simulation itself, simulator included (not deterministic). */
    readonly wallOpsPerSecond: number
    /** CPU time of the process per committed command in the simulation, µs (not deterministic). */
    readonly cpuMicrosPerOp: number
  }
}

export interface CrashFigures {
  readonly crashed: string
  readonly newLeader: string | undefined
  /** From the leader's crash to the first new write acknowledged, in message delays. */
  readonly recoveryDelays: number
  /** Messages the others sent to the crashed node (lost): the evidence that it was gone. */
  readonly lostToCrashed: number
}

export interface SlowLinkFigures {
  readonly link: readonly [string, string]
  readonly factor: number
  readonly latency: LatencyFigures
  /** Background traffic subtracted, as in the steady figures. */
  readonly perDecision: Traffic
  /** How far (message delays) the slowed node's commits trailed the first node's, at most. */
  readonly slowPeerMaxLag: number
  /** The slowest delivery seen on the slowed link, in message delays (the lesser of its two directions): the evidence that it was slow. */
  readonly slowestDelivery: number
}

/** Test-only switches: turn a fault into a no-op to show the run notices. */
export interface FaultSwitches {
  readonly crash?: boolean
  readonly slowLink?: boolean
}

export interface MeasureOptions {
  readonly factory: ProtocolFactory<unknown>
  readonly nodes: number
  readonly seed?: number
  readonly workload?: Workload
  readonly network?: BenchNetwork
  readonly protocolOptions?: Record<string, unknown>
}

function delays(latenciesMs: readonly number[], network: BenchNetwork): LatencyFigures {
  return { p50: percentile(latenciesMs, 50) / network.linkMs, p99: percentile(latenciesMs, 99) / network.linkMs }
}

function per(traffic: Traffic, count: number): Traffic {
  return { messages: traffic.messages / count, bytes: traffic.bytes / count }
}

/** Traffic of a window minus the background the idle cluster sends in as long a time. */
function netOfIdle(traffic: Traffic, idlePerMs: Traffic, ms: number): Traffic {
  return { messages: Math.max(0, traffic.messages - idlePerMs.messages * ms), bytes: Math.max(0, traffic.bytes - idlePerMs.bytes * ms) }
}

async function started(options: MeasureOptions): Promise<{ bench: BenchCluster; workload: Workload; network: BenchNetwork }> {
  const network = options.network ?? DEFAULT_NETWORK
  const workload = options.workload ?? DEFAULT_WORKLOAD
  const bench = new BenchCluster(options.factory, options.nodes, options.seed ?? 1, network, options.protocolOptions)
  await bench.start()
  await bench.runWrites(1, workload.warmupOps)
  return { bench, workload, network }
}

/** Background traffic per virtual ms of the cluster left alone. */
async function idleRate(bench: BenchCluster, idleMs: number): Promise<Traffic> {
  const before = bench.meter.total()
  await bench.sim.runFor(idleMs)
  return per(minus(bench.meter.total(), before), idleMs)
}

/** Steady state without faults: background, low load (latency, messages per decision), then load (batching, throughput). */
export async function measureSteady(options: MeasureOptions): Promise<SteadyFigures> {
  const { bench, workload, network } = await started(options)
  try {
    const idle = await idleRate(bench, workload.idleMs)
    const observer = bench.cluster.leader() ?? bench.ids[0]!

    let from = bench.sim.now()
    let before = bench.meter.total()
    const low = await bench.runWrites(1, workload.lowLoadOps)
    const lowMs = bench.sim.now() - from
    const lowTraffic = minus(bench.meter.total(), before)
    const lowDecisions = bench.decisions(observer, from, bench.sim.now() + 1)

    from = bench.sim.now()
    before = bench.meter.total()
    const cpu = process.cpuUsage()
    const wall = performance.now()
    const loaded = await bench.runWrites(workload.loadClients, workload.loadOps)
    const wallSeconds = (performance.now() - wall) / 1000
    const cpuUsed = process.cpuUsage(cpu)
    const loadMs = bench.sim.now() - from
    const loadTraffic = minus(bench.meter.total(), before)
    const loadDecisions = bench.decisions(observer, from, bench.sim.now() + 1)
    return {
      idlePerSecond: per(idle, 1 / 1000),
      perDecision: per(netOfIdle(lowTraffic, idle, lowMs), workload.lowLoadOps),
      lowLoadDecisionsPerCommand: lowDecisions.decisions / Math.max(1, lowDecisions.commands),
      latency: delays(low, network),
      loaded: {
        perCommand: per(loadTraffic, workload.loadOps),
        perDecision: per(loadTraffic, Math.max(1, loadDecisions.decisions)),
        commandsPerDecision: loadDecisions.commands / Math.max(1, loadDecisions.decisions),
        latency: delays(loaded, network),
        virtualOpsPerSecond: workload.loadOps / (loadMs / 1000),
        wallOpsPerSecond: workload.loadOps / wallSeconds,
        cpuMicrosPerOp: (cpuUsed.user + cpuUsed.system) / workload.loadOps,
      },
    }
  } finally {
    await bench.stop()
  }
}

/**
 * Crash the leader in steady state and measure how long until a write
 * proposed after the crash is acknowledged: every message delay each live
 * node is offered a fresh write (a client retrying everywhere), so the figure
 * is the protocol's recovery, not a client's retry schedule.
 */
export async function measureLeaderCrash(options: MeasureOptions, switches: FaultSwitches = {}): Promise<CrashFigures> {
  const { bench, network } = await started(options)
  try {
    const leader = bench.cluster.leader()
    if (leader === undefined) throw new Error(`${options.factory.name}: no leader to crash`)
    const lostBefore = bench.sim.network.stats.undeliverable
    const crashedAt = bench.sim.now()
    if (switches.crash !== false) bench.cluster.crash(leader)
    let recoveredAt: number | undefined
    let client = 1_000_000
    const probe = () => {
      if (recoveredAt !== undefined) return
      for (const id of bench.ids) {
        const replica = bench.replica(id)
        if (replica === undefined) continue
        replica.propose(bench.command(client++)).then(
          () => (recoveredAt ??= bench.sim.now()),
          () => {},
        )
      }
      bench.sim.schedule(network.linkMs, probe)
    }
    probe()
    const recovered = await bench.sim.runUntil(() => recoveredAt !== undefined, 120_000)
    if (!recovered) throw new Error(`${options.factory.name} n=${options.nodes}: no write acknowledged within 120 s after the leader crashed`)
    // Let the new leader settle (a protocol may commit before its leader is announced everywhere).
    await bench.sim.runFor(10 * network.linkMs)
    const lostToCrashed = bench.sim.network.stats.undeliverable - lostBefore
    const down = bench.cluster.host(leader).node.running === false
    if (!down || lostToCrashed === 0)
      throw new FaultNotObservedError(`${options.factory.name} n=${options.nodes}: the leader ${leader} did not crash (running: ${!down}, messages lost to it: ${lostToCrashed})`)
    return { crashed: leader, newLeader: bench.cluster.leader(), recoveryDelays: (recoveredAt! - crashedAt) / network.linkMs, lostToCrashed }
  } finally {
    await bench.stop()
  }
}

/** Slow one link (both ways) between the leader and another node by SLOW_LINK_FACTOR, then run the low-load writes. */
export async function measureSlowLink(options: MeasureOptions, switches: FaultSwitches = {}): Promise<SlowLinkFigures> {
  const { bench, workload, network } = await started(options)
  try {
    const idle = await idleRate(bench, workload.idleMs)
    const leader = bench.cluster.leader() ?? bench.ids[0]!
    const peer = bench.ids.find((id) => id !== leader)!
    const slowMs = network.linkMs * SLOW_LINK_FACTOR
    if (switches.slowLink !== false)
      for (const [from, to] of [
        [leader, peer],
        [peer, leader],
      ] as const)
        bench.sim.network.setLinkFaults(from, to, { delay: { kind: 'uniform', minMs: slowMs, maxMs: slowMs } })
    const from = bench.sim.now()
    const before = bench.meter.total()
    const latencies = await bench.runWrites(1, workload.lowLoadOps)
    const ms = bench.sim.now() - from
    const traffic = minus(bench.meter.total(), before)
    // Let the slowed node catch up before comparing commit times.
    await bench.sim.runFor(4 * slowMs)
    const slowPeerMaxLag = maxLag(bench, peer, from) / network.linkMs
    const slowest = Math.min(bench.meter.slowestDelivery(leader, peer), bench.meter.slowestDelivery(peer, leader))
    if (slowest < slowMs)
      throw new FaultNotObservedError(
        `${options.factory.name} n=${options.nodes}: no message took ${slowMs} ms both ways between ${leader} and ${peer} (slowest: ${slowest} ms); the link was not slow`,
      )
    return {
      link: [leader, peer],
      factor: SLOW_LINK_FACTOR,
      latency: delays(latencies, network),
      perDecision: per(netOfIdle(traffic, idle, ms), workload.lowLoadOps),
      slowPeerMaxLag,
      slowestDelivery: slowest / network.linkMs,
    }
  } finally {
    await bench.stop()
  }
}

/** The longest time `node` committed an index after the first node that committed it, among indexes committed since `from`. */
function maxLag(bench: BenchCluster, node: string, from: number): number {
  const first = new Map<number, number>()
  const mine = new Map<number, number>()
  for (const commit of bench.cluster.commits) {
    if (commit.at < from) continue
    if (!first.has(commit.index) || first.get(commit.index)! > commit.at) first.set(commit.index, commit.at)
    if (commit.node === node && !mine.has(commit.index)) mine.set(commit.index, commit.at)
  }
  let lag = 0
  for (const [index, at] of mine) lag = Math.max(lag, at - first.get(index)!)
  return lag
}
