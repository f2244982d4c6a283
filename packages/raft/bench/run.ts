// Raft throughput and commit latency: 3 and 5 real core Replicas in one
// process over a zero-latency in-process network, memoryStorage, a trivial
// state machine, 100-byte commands and many concurrent proposers.
// Baseline (same run, same harness): a consensus-free protocol that commits
// each proposal at once and ships it to the other replicas, i.e. the cost of
// the Replica runtime + network + state machine alone.
import { against, median, percentile, report, type BenchResult } from '@synod/bench-kit'
import {
  CONTRACT_VERSION,
  membershipOf,
  Replica,
  type Clock,
  type MessageHandler,
  type NodeId,
  type ProtocolFactory,
  type StateMachine,
  type TimerId,
  type Transport,
} from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { raft } from '../src/index.js'
import { behindCompaction, behindCompactionResults } from './behind-compaction.js'
import { loadBaseline, type Implementation } from './baseline.js'

const COMMAND_BYTES = 100
const OUTSTANDING = Number(process.env['RAFT_BENCH_OUTSTANDING'] ?? 1000)
const OPS = Number(process.env['RAFT_BENCH_OPS'] ?? 200_000)
const RUNS = Number(process.env['RAFT_BENCH_RUNS'] ?? 3)
/** Parallel leader append A/B: real ms a storage sync takes (a disk), and the rounds of alternated runs. */
const SYNC_MS = Number(process.env['RAFT_BENCH_SYNC_MS'] ?? 2)
const AB_ROUNDS = Number(process.env['RAFT_BENCH_AB_ROUNDS'] ?? 3)

/** Virtual time that only moves when told: timers never fire during the load phase. */
class ManualClock implements Clock {
  time = 0
  private nextId = 1
  private readonly timers = new Map<TimerId, { at: number; onFire: () => void }>()
  now(): number {
    return this.time
  }
  setTimer(afterMs: number, onFire: () => void): TimerId {
    const id = this.nextId++
    this.timers.set(id, { at: this.time + afterMs, onFire })
    return id
  }
  clearTimer(id: TimerId): void {
    this.timers.delete(id)
  }
  advance(ms: number): void {
    this.time += ms
    for (const [id, t] of [...this.timers]) if (t.at <= this.time && this.timers.delete(id)) t.onFire()
  }
}

class InProcessNetwork {
  readonly handlers = new Map<NodeId, MessageHandler>()
  endpoint(self: NodeId): Transport {
    return {
      self,
      send: (to, message) => this.handlers.get(to)?.(self, message),
      onMessage: (handler) => void this.handlers.set(self, handler),
      start: async () => {},
      stop: async () => void this.handlers.delete(self),
    }
  }
}

class CountingStateMachine implements StateMachine {
  count = 0
  bytes = 0
  private readonly empty = new Uint8Array(0)
  apply(command: Uint8Array): Uint8Array {
    this.count++
    this.bytes += command.byteLength
    return this.empty
  }
  query(): Uint8Array {
    return this.empty
  }
  snapshot(): Uint8Array {
    return new Uint8Array(16)
  }
  restore(): void {}
}

/** Consensus-free baseline: commit at once, forward the command to the others, who commit it too. */
const directFactory: ProtocolFactory = {
  contract: CONTRACT_VERSION,
  name: 'direct',
  faultModel: 'crash',
  maxFaulty: () => 0,
  create(ctx) {
    let index = 0
    const peers = ctx.membership.voters.map((m) => m.id).filter((id) => id !== ctx.self)
    return {
      start() {},
      receive(_from, message) {
        ctx.commit({ index: ++index, command: message })
      },
      propose(command, client) {
        ctx.commit({ index: ++index, command, client })
        for (const peer of peers) ctx.send(peer, command)
      },
      status: () => ({ id: ctx.self, role: 'leader', term: 0, leader: ctx.self, commitIndex: index, lastIndex: index, membership: ctx.membership }),
      stop() {},
    }
  },
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

/** memoryStorage whose sync() takes `ms` of real time, like a disk's fsync (0: as fast as memory). */
function diskLike(ms: number, impl: Implementation = current) {
  const storage = impl.memoryStorage()
  if (ms <= 0) return storage
  const sync = storage.sync.bind(storage)
  storage.sync = () => new Promise<void>((resolve) => setTimeout(resolve, ms)).then(sync)
  return storage
}

const current: Implementation = { Replica, memoryStorage }

function argument(name: string): string | undefined {
  const at = process.argv.indexOf(name)
  return at < 0 ? undefined : process.argv[at + 1]
}

async function buildCluster(factory: ProtocolFactory, n: number, protocolOptions: Record<string, unknown> = {}, syncMs = 0, impl: Implementation = current) {
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`)
  const clock = new ManualClock()
  const network = new InProcessNetwork()
  let seed = 7
  const replicas = ids.map(
    (id) =>
      new impl.Replica({
        factory,
        protocolOptions: { snapshotThreshold: 0, ...protocolOptions },
        self: id,
        membership: membershipOf(ids),
        transport: network.endpoint(id),
        storage: diskLike(syncMs, impl),
        clock,
        random: { next: () => ((seed = (seed * 16807) % 2147483647) / 2147483647) },
        stateMachine: new CountingStateMachine(),
        requestTimeoutMs: 600_000,
        maxQueuedInputs: 1 << 20,
        onError: (error) => console.error(error),
      }),
  )
  for (const r of replicas) await r.start()
  let leader: Replica | undefined
  // With slow syncs an election step takes real time: wait a few syncs per step.
  const step = () => (syncMs > 0 ? new Promise<void>((resolve) => setTimeout(resolve, 4 * syncMs)) : tick())
  for (let ms = 0; ms < 5000 && leader === undefined; ms += 10) {
    clock.advance(10)
    await step()
    leader = replicas.find((r) => r.status().role === 'leader')
  }
  if (leader === undefined) throw new Error('no leader elected')
  // Let the no-op commit.
  clock.advance(1)
  for (let i = 0; i < 100 && leader.status().commitIndex < leader.status().lastIndex; i++) await step()
  return { leader, replicas }
}

async function load(targets: readonly Replica[], ops: number, outstanding = OUTSTANDING): Promise<{ seconds: number; latencies: number[] }> {
  const command = new Uint8Array(COMMAND_BYTES).fill(7)
  const latencies: number[] = []
  let issued = 0
  const start = performance.now()
  async function proposer(worker: number): Promise<void> {
    const target = targets[worker % targets.length]!
    while (issued < ops) {
      issued++
      const t0 = performance.now()
      await target.propose(command)
      latencies.push(performance.now() - t0)
    }
  }
  await Promise.all(Array.from({ length: Math.min(outstanding, ops) }, (_, worker) => proposer(worker)))
  return { seconds: (performance.now() - start) / 1000, latencies }
}

/** `spread`: proposers spread over every node (followers forward to the leader) instead of all at the leader. */
async function measure(factory: ProtocolFactory, n: number, label: string, spread = false): Promise<BenchResult[]> {
  const rates: number[] = []
  const p50s: number[] = []
  const p99s: number[] = []
  for (let run = 0; run <= RUNS; run++) {
    const { leader, replicas } = await buildCluster(factory, n)
    const { seconds, latencies } = await load(spread ? replicas : [leader], OPS)
    for (const r of replicas) await r.stop()
    if (run === 0) continue // warm-up
    rates.push(OPS / seconds)
    p50s.push(percentile(latencies, 50))
    p99s.push(percentile(latencies, 99))
  }
  const params = { nodes: n, commandBytes: COMMAND_BYTES, outstanding: OUTSTANDING, ops: OPS, runs: RUNS, proposers: spread ? 'every node' : 'leader' }
  return [
    { name: `${label} ${n} nodes throughput`, value: median(rates), unit: 'ops/s', params },
    { name: `${label} ${n} nodes p50 latency`, value: median(p50s), unit: 'ms', params },
    { name: `${label} ${n} nodes p99 latency`, value: median(p99s), unit: 'ms', params },
  ]
}

/**
 * Parallel leader append (ADR 0017) against the old order (`appendInParallel: false`), 3 nodes whose
 * syncs take SYNC_MS: runs alternate A, B, A, B... in this process, so load on the machine hits both alike.
 */
async function parallelAppendAB(outstanding: number, ops: number): Promise<BenchResult[]> {
  const rates = { parallel: [] as number[], serial: [] as number[] }
  const p50s = { parallel: [] as number[], serial: [] as number[] }
  for (let round = 0; round <= AB_ROUNDS; round++) {
    for (const mode of ['parallel', 'serial'] as const) {
      const { leader, replicas } = await buildCluster(raft as ProtocolFactory, 3, { appendInParallel: mode === 'parallel' }, SYNC_MS)
      const { seconds, latencies } = await load([leader], ops, outstanding)
      for (const r of replicas) await r.stop()
      if (round === 0) continue // warm-up
      rates[mode].push(ops / seconds)
      p50s[mode].push(percentile(latencies, 50))
    }
  }
  const params = { nodes: 3, syncMs: SYNC_MS, outstanding, ops, rounds: AB_ROUNDS }
  const serialRate: BenchResult = { name: `raft ${outstanding} outstanding, ${SYNC_MS} ms syncs, serial append throughput`, value: median(rates.serial), unit: 'ops/s', params }
  const parallelRate: BenchResult = { name: `raft ${outstanding} outstanding, ${SYNC_MS} ms syncs, parallel append throughput`, value: median(rates.parallel), unit: 'ops/s', params }
  return [
    serialRate,
    against(parallelRate, serialRate),
    { name: `raft ${outstanding} outstanding, ${SYNC_MS} ms syncs, serial append p50 latency`, value: median(p50s.serial), unit: 'ms', params },
    { name: `raft ${outstanding} outstanding, ${SYNC_MS} ms syncs, parallel append p50 latency`, value: median(p50s.parallel), unit: 'ms', params },
  ]
}

const results: BenchResult[] = []
/** `RAFT_BENCH_ONLY`: `behind` (the follower-behind-compaction case), `baseline` (the --baseline comparison), `ab` (parallel append). */
const only = process.env['RAFT_BENCH_ONLY'] ?? (process.env['RAFT_BENCH_ONLY_AB'] === '1' ? 'ab' : undefined)
const baselineRef = argument('--baseline')
if (baselineRef !== undefined && (only === undefined || only === 'baseline')) results.push(...(await againstBaseline(baselineRef)))
if (only === undefined || only === 'behind') {
  const behind = Number(process.env['RAFT_BENCH_BEHIND'] ?? 1_000_000)
  const writesPerMs = Number(process.env['RAFT_BENCH_BEHIND_WRITES_PER_MS'] ?? 20)
  const run = await behindCompaction(behind, writesPerMs)
  console.log(JSON.stringify(run))
  results.push(...behindCompactionResults(run))
}
if (only === undefined) {
for (const n of [3, 5]) {
  const [baseRate, ...baseLatency] = await measure(directFactory, n, 'baseline (no consensus)')
  const [raftRate, ...raftLatency] = await measure(raft as ProtocolFactory, n, 'raft')
  results.push(baseRate!, ...baseLatency, against(raftRate!, baseRate!), ...raftLatency)
  if (n === 3) {
    // Proposals at every node: the followers' two thirds go through proposal forwarding.
    const [spreadRate, ...spreadLatency] = await measure(raft as ProtocolFactory, n, 'raft, proposals at every node', true)
    results.push(against(spreadRate!, raftRate!), ...spreadLatency)
  }
}
}
if (only === undefined || only === 'ab') results.push(...(await parallelAppendAB(1, 300)), ...(await parallelAppendAB(16, 3000)))
/**
 * This package against `ref` (built from `git archive` in a temporary directory): the 3-node
 * leader-only throughput, runs alternated A, B, A, B... in this process so load on the machine hits
 * both alike. Each side runs its own raft, core Replica and memoryStorage under this same harness.
 */
async function againstBaseline(ref: string): Promise<BenchResult[]> {
  const base = await loadBaseline(ref)
  try {
    const rates = { current: [] as number[], baseline: [] as number[] }
    const rounds = Number(process.env['RAFT_BENCH_BASELINE_ROUNDS'] ?? 5)
    for (let round = 0; round <= rounds; round++) {
      for (const side of round % 2 === 0 ? (['current', 'baseline'] as const) : (['baseline', 'current'] as const)) {
        ;(globalThis as { gc?: () => void }).gc?.() // with --expose-gc: neither side pays for the other's garbage
        const impl = side === 'current' ? current : base.implementation
        const factory = side === 'current' ? (raft as ProtocolFactory) : base.raft
        const { leader, replicas } = await buildCluster(factory, 3, {}, 0, impl)
        const { seconds } = await load([leader], OPS)
        for (const r of replicas) await r.stop()
        if (round > 0) rates[side].push(OPS / seconds) // round 0 warms both up
      }
    }
    const params = { nodes: 3, commandBytes: COMMAND_BYTES, outstanding: OUTSTANDING, ops: OPS, rounds, baseline: `${ref} (${base.commit})`, currentPerRound: rates.current.map(Math.round).join(' '), baselinePerRound: rates.baseline.map(Math.round).join(' ') }
    const baseRate: BenchResult = { name: `raft 3 nodes throughput, baseline ${ref}`, value: median(rates.baseline), unit: 'ops/s', params }
    const ratio = against({ name: 'raft 3 nodes throughput, this tree', value: median(rates.current), unit: 'ops/s', params }, baseRate)
    const paired = rates.current.map((r, i) => r / rates.baseline[i]!)
    console.log(
      `against ${ref}: ${ratio.ratio?.toFixed(2)}× (medians of ${rounds} alternated rounds); median of the per-round ratios ${median(paired).toFixed(2)}× (${paired.map((x) => x.toFixed(2)).join(', ')}); target ≥ 0.95×`,
    )
    return [baseRate, ratio, { name: 'raft 3 nodes throughput, this tree ÷ baseline, median of per-round ratios', value: Number(median(paired).toFixed(4)), unit: '×', params }]
  } finally {
    await base.dispose()
  }
}

report('@synod/raft', results)
