// The fault schedule (a pure function of the seed) and its execution against
// the live cluster: SIGKILL + restart, SIGSTOP / SIGCONT, partitions through
// the cluster's network (proxies or namespaces: both ways, one way, a bridge), and kill-all. Every fault
// is healed at the end of its window; the schedule leaves quiet time between
// windows. The runner also records when no quorum of nodes was up and
// connected (the progress checker does not count that time).
import type { TimelineEvent } from '@synod/conformance'
import type { ClusterHistory } from './history.js'
import { call } from './http-call.js'
import type { LiveCluster } from './processes.js'
import { quorumConnected } from './progress.js'
import { SeededRandom } from './rng.js'

export const NEMESES = ['kill', 'pause', 'partition', 'partition-one-way', 'bridge', 'kill-all', 'clock-skew', 'disk-stall'] as const
export type NemesisKind = (typeof NEMESES)[number]
/**
 * One `--nemesis` entry: a kind, or kinds joined by '+' that hit together in one window, on the same
 * target (e.g. `clock-skew+partition`: the leader's clock slowed while it is cut off — what a lease's drift
 * bound is about; one fault at a time never overlaps them).
 */
export type NemesisSpec = NemesisKind | `${NemesisKind}+${string}`

/** The kinds of a spec; throws on an unknown kind or a repeated one. */
export function nemesisParts(spec: string): NemesisKind[] {
  const parts = spec.split('+').map((p) => p.trim())
  for (const p of parts) if (!(NEMESES as readonly string[]).includes(p)) throw new Error(`unknown nemesis '${p}'`)
  if (new Set(parts).size !== parts.length) throw new Error(`'${spec}' names a nemesis twice`)
  return parts as NemesisKind[]
}

/** Which node a fault hits: a fixed index, or whichever node leads when the fault starts. */
export type Target = { readonly node: number } | { readonly leader: true }

export type Fault =
  | { readonly kind: 'kill' | 'pause'; readonly target: Target }
  | { readonly kind: 'partition'; readonly shape: 'isolate'; readonly target: Target }
  | { readonly kind: 'partition'; readonly shape: 'split'; readonly minority: readonly number[] }
  /**
   * One direction of every link between the target and the others loses its bytes: 'outbound' — the
   * others do not hear the target (it hears them); 'inbound' — the target hears nobody (they hear it).
   */
  | { readonly kind: 'partition-one-way'; readonly target: Target; readonly direction: 'outbound' | 'inbound' }
  /** Jepsen's bridge: two halves cut from each other, both connected to the bridge node. */
  | { readonly kind: 'bridge'; readonly left: readonly number[]; readonly bridge: number; readonly right: readonly number[] }
  | { readonly kind: 'kill-all' }
  /** The node's clock runs at `rate` (its timers and leases stretched by 1/rate) through the test-only hook. */
  | { readonly kind: 'clock-skew'; readonly target: Target; readonly rate: number }
  /** The node's storage syncs hang until the heal (test-only storage wrapper). */
  | { readonly kind: 'disk-stall'; readonly target: Target }
  /** Several faults in one window (a '+' spec), applied in order and healed together. */
  | { readonly kind: 'together'; readonly faults: readonly Fault[] }

export interface FaultWindow {
  /** ms after the workload started. */
  readonly at: number
  readonly healAt: number
  readonly fault: Fault
}

/**
 * Clock rates of a clock-skew fault by default: slow (a leader's lease outlasts the others' election timeouts)
 * and fast — far beyond the 10 % drift bound (`maxClockDrift`) that Raft's and Paxos's leases assume, so a lease
 * protocol may serve a stale read under them (its README says so). `--clock-rates` picks others, e.g. rates
 * within a bound: a clock at rate r stretches a lease of electionTimeout × (1 − d) to that ÷ r, which stays
 * inside the others' election timeout while r > 1 − d (and a fast follower's timeout shrinks by 1/r, which
 * stays above the lease while r < 1 / (1 − d)).
 */
export const CLOCK_RATES: readonly number[] = [0.25, 0.5, 2, 4]

/** Rates that stay within a 10 % drift bound (one node skewed at a time): see CLOCK_RATES. */
export const CLOCK_RATES_WITHIN_10_PERCENT: readonly number[] = [0.92, 0.95, 1.05, 1.08]

/** Fault windows of 1.5–4 s separated by 1–2.5 s of quiet, within [0, durationMs), from the seed. */
export function planFaults(
  seed: number,
  kinds: readonly NemesisSpec[],
  nodes: number,
  durationMs: number,
  clockRates: readonly number[] = CLOCK_RATES,
): FaultWindow[] {
  if (clockRates.length === 0) throw new Error('clock-skew needs at least one clock rate')
  const random = new SeededRandom(seed ^ 0x5eed)
  const windows: FaultWindow[] = []
  if (kinds.length === 0) return windows
  let t = random.int(1000, 2500)
  for (let guard = 0; guard < 1000; guard++) {
    const length = random.int(1500, 4000)
    if (t + length > durationMs) break
    const spec = random.pick(kinds)
    const target: Target = random.next() < 0.5 ? { leader: true } : { node: random.int(0, nodes - 1) }
    const plan = (kind: NemesisKind): Fault => {
      if (kind === 'kill' || kind === 'pause') return { kind, target }
      if (kind === 'kill-all') return { kind }
      if (kind === 'clock-skew') return { kind, target, rate: random.pick(clockRates) }
      if (kind === 'disk-stall') return { kind, target }
      if (kind === 'partition-one-way') return { kind, target, direction: random.next() < 0.5 ? 'outbound' : 'inbound' }
      if (kind === 'bridge') {
        // A seeded order: the first node bridges, the rest is split in two halves (the left one the smaller).
        const order = Array.from({ length: nodes }, (_, i) => i).sort(() => random.next() - 0.5)
        const half = Math.floor((nodes - 1) / 2)
        return { kind, bridge: order[0]!, left: order.slice(1, 1 + half).sort(), right: order.slice(1 + half).sort() }
      }
      if (random.next() < 0.5 || nodes < 4) return { kind, shape: 'isolate', target }
      // A minority of ⌊(n−1)/2⌋… up to half: both sides may be without a quorum (n even), which is a fault too.
      const order = Array.from({ length: nodes }, (_, i) => i).sort(() => random.next() - 0.5)
      return { kind, shape: 'split', minority: order.slice(0, Math.floor(nodes / 2)).sort() }
    }
    const parts = nemesisParts(spec)
    const fault: Fault = parts.length === 1 ? plan(parts[0]!) : { kind: 'together', faults: parts.map(plan) }
    windows.push({ at: t, healAt: t + length, fault })
    t += length + random.int(1000, 2500)
  }
  return windows
}

export function describeFault(fault: Fault): string {
  const target = (t: Target) => ('leader' in t ? 'the leader' : `node${t.node + 1}`)
  switch (fault.kind) {
    case 'together':
      return fault.faults.map(describeFault).join(' + ')
    case 'kill':
      return `SIGKILL ${target(fault.target)}`
    case 'pause':
      return `SIGSTOP ${target(fault.target)}`
    case 'kill-all':
      return 'SIGKILL every node'
    case 'clock-skew':
      return `clock of ${target(fault.target)} at ×${fault.rate}`
    case 'disk-stall':
      return `fsync of ${target(fault.target)} stalled`
    case 'partition':
      return fault.shape === 'isolate' ? `isolate ${target(fault.target)}` : `split ${fault.minority.map((i) => `node${i + 1}`).join(',')} | rest`
    case 'partition-one-way':
      return fault.direction === 'outbound' ? `nobody hears ${target(fault.target)} (it hears them)` : `${target(fault.target)} hears nobody (they hear it)`
    case 'bridge': {
      const names = (group: readonly number[]) => group.map((i) => `node${i + 1}`).join(',')
      return `bridge ${names(fault.left)} | node${fault.bridge + 1} | ${names(fault.right)}`
    }
  }
}

/** The longest the schedule waits after a kill-all heal for every node to answer again. */
export const RESTART_WAIT_MS = 20_000

/** Whether the fault kills every node (alone or with others). */
export function killsAll(fault: Fault): boolean {
  return fault.kind === 'kill-all' || (fault.kind === 'together' && fault.faults.some(killsAll))
}

const HEAL_DETAIL = { restarted: 'restarted', resumed: 'resumed (SIGCONT)', restored: 'clock and disk restored' } as const

/** Runs the schedule; records every fault and heal in the history and the timeline. */
export class NemesisRunner {
  readonly timeline: TimelineEvent[] = []
  /** Spans (history time) when no quorum of nodes was up and pairwise connected both ways. */
  readonly noQuorum: Array<[number, number]> = []
  private noQuorumSince: number | undefined
  /** Nodes whose disk stalls now: up, but unable to persist anything (not counted in a working quorum). */
  private readonly stalled = new Set<number>()
  /** How long each kill-all heal waited for every node to answer again (ms; the windows after it moved by as much). */
  readonly restartWaits: number[] = []

  constructor(
    private readonly cluster: LiveCluster,
    private readonly history: ClusterHistory,
    private readonly say: (line: string) => void,
    /** Nodes a working quorum needs (majority, or n − f for byzantine protocols); 0 = do not track. */
    private readonly quorum = 0,
  ) {
    // A restarted node counts once its API answers: start-up time is not a stall of the protocol.
    cluster.onUp = () => this.track()
  }

  /** Close the open no-quorum span, if any, at `at` (the end of the fault phase). */
  finish(at: number): void {
    if (this.noQuorumSince !== undefined) this.noQuorum.push([this.noQuorumSince, at])
    this.noQuorumSince = undefined
  }

  /** After every fault and heal: is a quorum of nodes up and connected? */
  private track(): void {
    if (this.quorum <= 0) return
    // Killed, paused, or restarted and not answering yet.
    const down = new Set(this.stalled)
    this.cluster.state.forEach((s, i) => s !== 'up' && down.add(i))
    const network = this.cluster.network
    const ok = quorumConnected(this.cluster.size, down, (a, b) => network.isBlocked(a, b), this.quorum)
    const at = this.history.now()
    if (!ok && this.noQuorumSince === undefined) this.noQuorumSince = at
    if (ok) this.finish(at)
  }

  /**
   * Apply each window at its time (relative to `startedAt`, history time) until `shouldStop()`. After a
   * kill-all heal the schedule waits until every node answers again (at most `restartWaitMs`) and moves the
   * windows after it by that wait: the quiet time is then time with a running cluster, so every full restart is
   * one the progress checker measures (with the windows as planned, 1–2.5 s of quiet was shorter than the
   * daemons' start-up and the cluster came up only at the final heal).
   */
  async run(windows: readonly FaultWindow[], startedAt: number, shouldStop: () => boolean, restartWaitMs = RESTART_WAIT_MS): Promise<void> {
    let shift = 0
    for (const window of windows) {
      if (!(await this.waitUntil(startedAt + shift + window.at, shouldStop))) return
      const applied = await this.apply(window.fault)
      this.track()
      this.say(`t=${(this.history.now() / 1000).toFixed(1)}s  fault: ${applied}`)
      if (!(await this.waitUntil(startedAt + shift + window.healAt, shouldStop))) return
      const healed = await this.heal()
      this.say(`t=${(this.history.now() / 1000).toFixed(1)}s  heal${healed === '' ? '' : `: ${healed}`}`)
      if (killsAll(window.fault)) {
        const from = this.history.now()
        const up = await this.waitForEveryNode(from + restartWaitMs, shouldStop)
        const waited = this.history.now() - from
        shift += waited
        this.restartWaits.push(waited)
        this.say(
          `t=${(this.history.now() / 1000).toFixed(1)}s  ${up ? `every node answers again, ${Math.round(waited)} ms after the restart` : `not every node answers ${Math.round(waited)} ms after the restart; the schedule goes on`}`,
        )
      }
    }
  }

  /** Until every node is up (its API answers), the deadline (history time) or `shouldStop()`; bounded. */
  private async waitForEveryNode(deadline: number, shouldStop: () => boolean): Promise<boolean> {
    while (!this.cluster.state.every((s) => s === 'up')) {
      if (shouldStop() || this.history.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return true
  }

  /** Undo every fault (also the final heal). Returns what it did. */
  async heal(): Promise<string> {
    const touched = await this.cluster.healAll()
    this.stalled.clear()
    this.track()
    const at = this.history.now()
    const names = touched.map((t) => this.cluster.nodes[t.node]!.name)
    touched.forEach((t, k) =>
      this.timeline.push({ at, node: names[k]!, kind: t.action === 'restarted' ? 'restart' : 'heal', detail: HEAL_DETAIL[t.action] }),
    )
    this.timeline.push({ at, kind: 'heal', detail: 'network healed' })
    this.history.add({ process: 'nemesis', type: 'info', f: 'heal', value: names })
    return touched.map((t, k) => `${t.action} ${names[k]}`).join(', ')
  }

  private async apply(fault: Fault, resolved?: Map<Target, number>): Promise<string> {
    const names = this.cluster.nodes.map((n) => n.name)
    const at = this.history.now()
    switch (fault.kind) {
      case 'together': {
        // The parts share their target: "the leader" is resolved once, before the first part changes who leads.
        const shared = new Map<Target, number>()
        const done: string[] = []
        for (const part of fault.faults) done.push(await this.apply(part, shared))
        return done.join(' + ')
      }
      case 'kill':
      case 'pause': {
        const i = await this.resolve(fault.target, resolved)
        if (fault.kind === 'kill') {
          await this.cluster.kill(i)
          this.timeline.push({ at, node: names[i]!, kind: 'crash', detail: 'SIGKILL' })
        } else {
          this.cluster.pause(i)
          this.timeline.push({ at, node: names[i]!, kind: 'fault', detail: 'paused (SIGSTOP)' })
        }
        this.history.add({ process: 'nemesis', type: 'info', f: fault.kind, value: [names[i]!] })
        return `${fault.kind === 'kill' ? 'SIGKILL' : 'SIGSTOP'} ${names[i]}${'leader' in fault.target ? ' (leader)' : ''}`
      }
      case 'clock-skew':
      case 'disk-stall': {
        const i = await this.resolve(fault.target, resolved)
        if (fault.kind === 'clock-skew') this.cluster.setFaults(i, { clockRate: fault.rate })
        else {
          this.cluster.setFaults(i, { stallFsync: true })
          this.stalled.add(i)
        }
        const detail = fault.kind === 'clock-skew' ? `clock ×${fault.rate}` : 'fsync stalled'
        this.timeline.push({ at, node: names[i]!, kind: 'fault', detail })
        this.history.add({ process: 'nemesis', type: 'info', f: fault.kind, value: [names[i]!] })
        return `${detail} on ${names[i]}${'leader' in fault.target ? ' (leader)' : ''}`
      }
      case 'kill-all': {
        await Promise.all(names.map((_, i) => this.cluster.kill(i)))
        for (const name of names) this.timeline.push({ at, node: name, kind: 'crash', detail: 'SIGKILL (kill-all)' })
        this.history.add({ process: 'nemesis', type: 'info', f: 'kill-all', value: names })
        return 'SIGKILL every node'
      }
      case 'partition': {
        let minority: number[]
        if (fault.shape === 'isolate') {
          const i = await this.resolve(fault.target, resolved)
          await this.cluster.network.isolate(i)
          minority = [i]
        } else {
          minority = [...fault.minority]
          const rest = names.map((_, i) => i).filter((i) => !minority.includes(i))
          await this.cluster.network.partition([minority, rest])
        }
        const detail = `partition ${minority.map((i) => names[i]).join(',')} | ${names.filter((_, i) => !minority.includes(i)).join(',')}`
        this.timeline.push({ at, kind: 'fault', detail })
        this.history.add({ process: 'nemesis', type: 'info', f: 'partition', value: minority.map((i) => names[i]!) })
        return detail
      }
      case 'partition-one-way': {
        const i = await this.resolve(fault.target, resolved)
        const others = names.map((_, j) => j).filter((j) => j !== i)
        if (fault.direction === 'outbound') await this.cluster.network.oneWay([i], others)
        else await this.cluster.network.oneWay(others, [i])
        const detail = fault.direction === 'outbound' ? `one-way: ${names[i]} → others lost` : `one-way: others → ${names[i]} lost`
        this.timeline.push({ at, kind: 'fault', detail })
        this.history.add({ process: 'nemesis', type: 'info', f: 'partition-one-way', value: [names[i]!] })
        return `${detail}${'leader' in fault.target ? ' (leader)' : ''}`
      }
      case 'bridge': {
        await this.cluster.network.bridge(fault.left, fault.bridge, fault.right)
        const group = (g: readonly number[]) => g.map((i) => names[i]).join(',')
        const detail = `bridge ${group(fault.left)} | ${names[fault.bridge]} | ${group(fault.right)}`
        this.timeline.push({ at, kind: 'fault', detail })
        this.history.add({ process: 'nemesis', type: 'info', f: 'bridge', value: [names[fault.bridge]!] })
        return detail
      }
    }
  }

  /** The leader's index as the running nodes report it; node 0 when nobody knows one. */
  private async resolve(target: Target, cache?: Map<Target, number>): Promise<number> {
    const known = cache?.get(target)
    if (known !== undefined) return known
    const index = await this.resolveNow(target)
    cache?.set(target, index)
    return index
  }

  private async resolveNow(target: Target): Promise<number> {
    if ('node' in target) return target.node
    for (const [i, node] of this.cluster.nodes.entries()) {
      if (this.cluster.state[i] !== 'up') continue
      const status = await call(node.http, 'GET', '/v1/status', undefined, 1000)
      const leader = status.kind === 'ok' ? status.body.leader : undefined
      const index = this.cluster.nodes.findIndex((n) => n.id === leader)
      if (index >= 0) return index
    }
    return 0
  }

  private async waitUntil(time: number, shouldStop: () => boolean): Promise<boolean> {
    // Bounded: at most one tick per 50 ms until the time, which is within the run's duration.
    while (this.history.now() < time) {
      if (shouldStop()) return false
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, time - this.history.now()))))
    }
    return !shouldStop()
  }
}
