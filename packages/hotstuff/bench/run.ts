// HotStuff throughput and latency, n = 4 in one process over a zero-latency in-process network, in the
// same format as @synod/pbft's bench (100-byte commands, a counting state machine, node:crypto ed25519,
// signed votes, QCs verified once, reply certificates of f+1 signatures), so the two compare.
//
// Env: HOTSTUFF_BENCH_SECONDS (3), HOTSTUFF_BENCH_CLIENTS per replica (1024), HOTSTUFF_BENCH_RUNS (3),
// HOTSTUFF_BENCH_NO_BASELINE.
import { membership, Replica, systemClock, systemRandom, utf8, type MessageHandler, type NodeId, type StateMachine, type Transport } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { memoryStorage } from '@synod/storage'
import { against, median, percentile, report, type BenchResult } from '@synod/bench-kit'
import { hotstuff, verifyReplyCertificate, type HotstuffOptions } from '../src/index.js'

const COMMAND_BYTES = 100
const EMPTY = new Uint8Array(0)

class CountingMachine implements StateMachine {
  count = 0
  apply(): Uint8Array {
    this.count++
    return EMPTY
  }
  query(): Uint8Array {
    return EMPTY
  }
  snapshot(): Uint8Array {
    return utf8(String(this.count))
  }
  restore(snapshot: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(snapshot))
  }
}

/** A distinct 100-byte command per client and operation. */
function commandOf(client: number, op: number): Uint8Array {
  const command = new Uint8Array(COMMAND_BYTES)
  const view = new DataView(command.buffer)
  view.setUint32(0, client)
  view.setFloat64(4, op)
  return command
}

class InProcessNetwork {
  private readonly handlers = new Map<NodeId, MessageHandler>()
  private queue: Array<{ from: NodeId; to: NodeId; message: Uint8Array }> = []
  private scheduled = false

  transport(self: NodeId): Transport {
    return {
      self,
      send: (to, message) => {
        this.queue.push({ from: self, to, message })
        if (!this.scheduled) {
          this.scheduled = true
          setImmediate(() => this.flush())
        }
      },
      onMessage: (handler) => void this.handlers.set(self, handler),
      start: async () => {},
      stop: async () => {},
    }
  }

  private flush(): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    for (const { from, to, message } of batch) this.handlers.get(to)?.(from, message)
  }
}

async function runCluster(options: Partial<HotstuffOptions>, clientsPerReplica: number, seconds: number) {
  const ids = ['r0', 'r1', 'r2', 'r3']
  const keys = ids.map((id) => keyPairFromSecret(sha256(utf8(`bench:${id}`))))
  const members = membership(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey })))
  const network = new InProcessNetwork()
  const replicas = ids.map(
    (id, i) =>
      new Replica<HotstuffOptions>({
        factory: hotstuff,
        protocolOptions: options,
        self: id,
        membership: members,
        transport: network.transport(id),
        storage: memoryStorage(),
        clock: systemClock(),
        random: systemRandom(),
        stateMachine: new CountingMachine(),
        signer: createSigner(keys[i]!, { backend: 'node' }),
        verifier: createVerifier({ backend: 'node' }),
        requestTimeoutMs: 30_000,
      }),
  )
  for (const r of replicas) await r.start()
  const latencies: number[] = []
  let done = 0
  let running = true
  let sample: { command: Uint8Array; result: Uint8Array; proof: Uint8Array } | undefined
  const client = async (replica: Replica<HotstuffOptions>, c: number) => {
    let i = 0
    while (running) {
      const start = performance.now()
      const command = commandOf(c, i++)
      const answer = await replica.propose(command)
      latencies.push(performance.now() - start)
      if (sample === undefined && answer.proof !== undefined) sample = { command, result: answer.result, proof: answer.proof }
      done++
    }
  }
  const loops = replicas.flatMap((r, ri) => Array.from({ length: clientsPerReplica }, (_, c) => client(r, ri * clientsPerReplica + c)))
  await new Promise((resolve) => setTimeout(resolve, 500))
  latencies.length = 0
  const startDone = done
  const start = performance.now()
  const cpuStart = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const elapsed = (performance.now() - start) / 1000
  const ops = done - startDone
  const cpu = process.cpuUsage(cpuStart)
  const cpuPerOp = (cpu.user + cpu.system) / ops
  const measured = [...latencies]
  if (process.env['HOTSTUFF_BENCH_DEBUG']) for (const r of replicas) console.log(JSON.stringify(r.status().detail), JSON.stringify(r.status().counters))
  running = false
  await Promise.allSettled(loops)
  for (const r of replicas) await r.stop()
  if (sample === undefined) throw new Error('no answer carried a reply certificate')
  verifyReplyCertificate(sample.proof, members, createVerifier({ backend: 'node' }), sample)
  return { opsPerSecond: ops / elapsed, p50: median(measured), p99: percentile(measured, 99), cpuPerOp }
}

function signBaseline(): number {
  const signer = createSigner(keyPairFromSecret(sha256(utf8('baseline'))), { backend: 'node' })
  const message = new Uint8Array(100).fill(7)
  const rates: number[] = []
  for (let run = 0; run < 5; run++) {
    const start = performance.now()
    for (let i = 0; i < 5000; i++) signer.sign(message)
    rates.push(5000 / ((performance.now() - start) / 1000))
  }
  return median(rates)
}

const seconds = Number(process.env['HOTSTUFF_BENCH_SECONDS'] ?? 3)
const clients = Number(process.env['HOTSTUFF_BENCH_CLIENTS'] ?? 1024)
const runs = Number(process.env['HOTSTUFF_BENCH_RUNS'] ?? 3)
const baseline: BenchResult | undefined = process.env['HOTSTUFF_BENCH_NO_BASELINE']
  ? undefined
  : { name: 'ed25519 sign (node:crypto), one core', value: signBaseline(), unit: 'ops/s', params: { bytes: 100 } }
const results: BenchResult[] = baseline === undefined ? [] : [baseline]
const samples: Array<Awaited<ReturnType<typeof runCluster>>> = []
for (let i = 0; i < runs; i++) samples.push(await runCluster({}, clients, seconds))
const sorted = [...samples].sort((a, b) => a.opsPerSecond - b.opsPerSecond)
const mid = sorted[Math.floor(sorted.length / 2)]!
const params = { n: 4, clientsPerReplica: clients, seconds, runs, machine: 'counting', commandBytes: COMMAND_BYTES, clientAuthentication: 'proxy' }
const name = `hotstuff: committed ops/s (median of ${runs} runs)`
results.push(
  baseline === undefined ? { name, value: mid.opsPerSecond, unit: 'ops/s', params } : against({ name, value: mid.opsPerSecond, unit: 'ops/s', params }, baseline),
  { name: 'hotstuff: latency p50', value: mid.p50, unit: 'ms', params },
  { name: 'hotstuff: latency p99', value: mid.p99, unit: 'ms', params },
  { name: `hotstuff: CPU per committed op (median of ${runs} runs)`, value: median(samples.map((s) => s.cpuPerOp)), unit: 'µs', params },
  { name: 'hotstuff: all runs ops/s', value: sorted.at(-1)!.opsPerSecond, unit: 'ops/s (best)', params: { ...params, each: sorted.map((s) => Math.round(s.opsPerSecond)).join('/') } },
)
report('@synod/hotstuff', results)
