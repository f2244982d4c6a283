// HotStuff throughput, latency and CPU per committed op, n = 4 in one process over a zero-latency
// in-process network, and @synod/pbft measured by the same harness in the same run (runs alternate
// HotStuff, PBFT, HotStuff, ... so a change in machine load hits both alike), so the ratio compares.
//
// What both measure: 1024 closed-loop clients per replica, each proposing distinct 100-byte commands
// through its replica (the replica is the client's proxy); a counting state machine; node:crypto
// ed25519 for every signature; an answer counts when its reply certificate (f+1 signed replies over
// the Merkle root of a block's / batch's results, @synod/crypto's format) is complete.
// - hotstuff (clientAuthentication 'proxy'): commands are not client-signed; each proxy signs one batch
//   per Replica batch, broadcast to every replica; blocks order batches by digest; votes signed, every
//   QC verified (once per distinct QC per replica), reply certificates as above.
// - pbft (requestAuthentication 'signature', its default): commands are not client-signed; each proxy
//   signs one request bundle per batch; pre-prepare/prepare/commit/checkpoint signed; same replies.
// Neither uses client-signed envelopes (ADR 0006), so they compare like for like.
//
// Env: HOTSTUFF_BENCH_SECONDS (3), HOTSTUFF_BENCH_CLIENTS per replica (1024), HOTSTUFF_BENCH_RUNS (3),
// HOTSTUFF_BENCH_PBFT (1; 0 skips PBFT), HOTSTUFF_BENCH_NO_BASELINE, HOTSTUFF_BENCH_DEBUG.
import { membership, Replica, systemClock, systemRandom, utf8, type ProtocolFactory, type StateMachine } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { memoryStorage } from '@synod/storage'
import { against, median, percentile, report, type BenchResult, InProcessNetwork } from '@synod/bench-kit'
import { hotstuff, verifyReplyCertificate, type HotstuffOptions } from '../src/index.js'
// PBFT from source, for the same-run comparison (a relative import: no dependency of the package).
import { pbft } from '../../pbft/src/index.js'

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

type Sample = { opsPerSecond: number; p50: number; p99: number; cpuPerOp: number }

async function runCluster<O>(factory: ProtocolFactory<O>, options: Partial<O>, clientsPerReplica: number, seconds: number): Promise<Sample> {
  const ids = ['r0', 'r1', 'r2', 'r3']
  const keys = ids.map((id) => keyPairFromSecret(sha256(utf8(`bench:${id}`))))
  const members = membership(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey })))
  const network = new InProcessNetwork()
  const replicas = ids.map(
    (id, i) =>
      new Replica<O>({
        factory,
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
  const client = async (replica: Replica<O>, c: number) => {
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
  // Warm-up: the first waves of commands (JIT, mempools filling) are not measured.
  await new Promise((resolve) => setTimeout(resolve, 1000))
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
  // The runtime's timers are unref'd: while the last answers wait for one, this keeps the process alive.
  const keepAlive = setInterval(() => {}, 1000)
  await Promise.allSettled(loops)
  clearInterval(keepAlive)
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
const withPbft = process.env['HOTSTUFF_BENCH_PBFT'] !== '0'
const baseline: BenchResult | undefined = process.env['HOTSTUFF_BENCH_NO_BASELINE']
  ? undefined
  : { name: 'ed25519 sign (node:crypto), one core', value: signBaseline(), unit: 'ops/s', params: { bytes: 100 } }
const results: BenchResult[] = baseline === undefined ? [] : [baseline]
const hs: Sample[] = []
const pb: Sample[] = []
for (let i = 0; i < runs; i++) {
  hs.push(await runCluster(hotstuff, { clientAuthentication: 'proxy' } satisfies Partial<HotstuffOptions>, clients, seconds))
  if (withPbft) pb.push(await runCluster(pbft, { requestAuthentication: 'signature' }, clients, seconds))
}
const common = { n: 4, clientsPerReplica: clients, seconds, runs, machine: 'counting', commandBytes: COMMAND_BYTES }
function figures(protocol: string, samples: Sample[], params: Record<string, unknown>): BenchResult[] {
  const sorted = [...samples].sort((a, b) => a.opsPerSecond - b.opsPerSecond)
  const mid = sorted[Math.floor(sorted.length / 2)]!
  const name = `${protocol}: committed ops/s (median of ${runs} runs)`
  return [
    baseline === undefined ? { name, value: mid.opsPerSecond, unit: 'ops/s', params } : against({ name, value: mid.opsPerSecond, unit: 'ops/s', params }, baseline),
    { name: `${protocol}: latency p50`, value: mid.p50, unit: 'ms', params },
    { name: `${protocol}: latency p99`, value: mid.p99, unit: 'ms', params },
    { name: `${protocol}: CPU per committed op (median of ${runs} runs)`, value: median(samples.map((s) => s.cpuPerOp)), unit: 'µs', params },
    { name: `${protocol}: all runs ops/s`, value: sorted.at(-1)!.opsPerSecond, unit: 'ops/s (best)', params: { ...params, each: samples.map((s) => Math.round(s.opsPerSecond)).join('/') } },
  ]
}
results.push(...figures('hotstuff', hs, { ...common, auth: "clientAuthentication 'proxy': one proxy signature per batch" }))
if (withPbft) {
  results.push(...figures('pbft', pb, { ...common, auth: "requestAuthentication 'signature': one proxy signature per bundle" }))
  // Run by run (each pair back to back), then the median: the figure that survives a loaded machine.
  const ratio = (f: (s: Sample) => number) => median(hs.map((h, i) => f(h) / f(pb[i]!)))
  results.push(
    { name: 'hotstuff ÷ pbft committed ops/s (median of same-run pairs)', value: ratio((s) => s.opsPerSecond), unit: '×', params: { ...common, each: hs.map((h, i) => (h.opsPerSecond / pb[i]!.opsPerSecond).toFixed(2)).join('/') } },
    { name: 'hotstuff ÷ pbft CPU per committed op (median of same-run pairs)', value: ratio((s) => s.cpuPerOp), unit: '×', params: common },
  )
}
report('@synod/hotstuff', results)
