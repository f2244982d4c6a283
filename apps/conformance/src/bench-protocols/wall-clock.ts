import { InProcessNetwork } from '@synod/bench-kit'
import { kvWorkloadCodec, nodeKeys } from '@synod/conformance'
import { membership, NotLeaderError, Replica, systemClock, systemRandom, type NodeId, type ProtocolFactory } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { VALUE_BYTES } from './driver.js'
import { percentile } from './stats.js'

export interface WallClockOptions {
  readonly factory: ProtocolFactory<unknown>
  readonly nodes: number
  readonly seed?: number
  /** Closed-loop clients, spread over the nodes they are sent to. */
  readonly clients: number
  readonly warmupMs: number
  readonly measureMs: number
}

export interface WallClockFigures {
  /** Writes acknowledged per wall-clock second, every node in this one process. */
  readonly opsPerSecond: number
  /** CPU time of the process per acknowledged write, µs. */
  readonly cpuMicrosPerOp: number
  /** Wall-clock latency of a write under that load, ms. */
  readonly p50Ms: number
  readonly p99Ms: number
}

/**
 * Throughput as the package benches measure it: n real Replicas in one
 * process on real clocks over a zero-latency in-process network
 * (@synod/bench-kit's; a node's sends of one turn go out together), memory
 * storage, the @synod/kv state machine, the same writes as the simulated runs,
 * batching on (the protocols' defaults), ed25519 for Byzantine protocols.
 * Not deterministic: it measures this machine.
 */
export async function measureWallClock(options: WallClockOptions): Promise<WallClockFigures> {
  const codec = kvWorkloadCodec()
  const ids = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`)
  const keys = options.factory.faultModel === 'byzantine' ? nodeKeys(options.seed ?? 1, ids) : undefined
  const members = membership(ids.map((id, i) => ({ id, publicKey: keys?.[i]?.publicKey ?? new Uint8Array(0) })))
  const network = new InProcessNetwork()
  const replicas = new Map<NodeId, Replica<unknown>>(
    ids.map((id, i) => [
      id,
      new Replica<unknown>({
        factory: options.factory,
        self: id,
        membership: members,
        transport: network.transport(id),
        storage: memoryStorage(),
        clock: systemClock(),
        random: systemRandom(),
        stateMachine: codec.createStateMachine(),
        ...(keys === undefined ? {} : { signer: keys[i]!.signer, verifier: keys[i]!.verifier }),
        requestTimeoutMs: 30_000,
      }),
    ]),
  )
  // The runtime's timers are unref'd: this keeps the process alive while everything waits on one.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    for (const replica of replicas.values()) await replica.start()
    const leader = await waitForLeader(replicas, 10_000)
    let running = true
    let done = 0
    const latencies: number[] = []
    const client = async (c: number) => {
      let target = leader
      let seq = 0
      while (running) {
        seq++
        const command = codec.write(`k${c % 16}`, `c${c}.${seq}`.padEnd(VALUE_BYTES, '.'), { client: `c${c}`, seq })
        const started = performance.now()
        for (;;) {
          try {
            await replicas.get(target)!.propose(command)
            break
          } catch (error) {
            if (!running) return
            const hint = error instanceof NotLeaderError ? error.leaderHint : undefined
            target = hint !== undefined && replicas.has(hint) ? hint : ids[(ids.indexOf(target) + 1) % ids.length]!
            await new Promise((resolve) => setTimeout(resolve, 1))
          }
        }
        latencies.push(performance.now() - started)
        done++
      }
    }
    const loops = Array.from({ length: options.clients }, (_, c) => client(c))
    await new Promise((resolve) => setTimeout(resolve, options.warmupMs))
    latencies.length = 0
    const startDone = done
    const cpu = process.cpuUsage()
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, options.measureMs))
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    const ops = done - startDone
    const measured = [...latencies]
    running = false
    await Promise.race([Promise.allSettled(loops), new Promise((resolve) => setTimeout(resolve, 30_000))])
    if (ops === 0) throw new Error(`${options.factory.name} n=${options.nodes}: no write acknowledged in ${options.measureMs} ms`)
    return { opsPerSecond: ops / seconds, cpuMicrosPerOp: (used.user + used.system) / ops, p50Ms: percentile(measured, 50), p99Ms: percentile(measured, 99) }
  } finally {
    for (const replica of replicas.values()) await replica.stop().catch(() => {})
    clearInterval(keepAlive)
  }
}

/** Poll (bounded) until the nodes agree on a leader; for a leaderless start, the first node. */
async function waitForLeader(replicas: ReadonlyMap<NodeId, Replica<unknown>>, budgetMs: number): Promise<NodeId> {
  const deadline = performance.now() + budgetMs
  while (performance.now() < deadline) {
    for (const [id, replica] of replicas) if (replica.status().leader === id) return id
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`no leader within ${budgetMs} ms`)
}
