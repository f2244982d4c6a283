// PBFT throughput and latency, n = 4 in one process over a zero-latency
// in-process network, in both request authentication modes: signed requests
// (one ed25519 signature per proxy bundle) and MAC authenticators (one
// HMAC-SHA256 tag per replica per bundle); signed pre-prepare/prepare/commit/
// checkpoint/reply messages (node:crypto ed25519 backend) in both, batching
// on, reply certificates of f+1 signed replies. Two read modes ('signature'
// requests): 'ordered-reads' (Replica.read ordered like a command, the default)
// and 'read-only' (readOnlyRequests: answered from 2f+1 matching replies without
// ordering, TOCS'02 §5.1.3); each read returns a 100-byte value.
//
// Env: PBFT_BENCH_SECONDS (3), PBFT_BENCH_CLIENTS per replica (1024), PBFT_BENCH_RUNS (3),
// PBFT_BENCH_MODES ('signature,mac,ordered-reads,read-only'), PBFT_BENCH_INFLIGHT, PBFT_BENCH_NO_BASELINE.
import { membership, Replica, systemClock, systemRandom, utf8, type StateMachine } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { memoryStorage } from '@synod/storage'
import { against, median, percentile, report, type BenchResult, InProcessNetwork } from '@synod/bench-kit'
import { pbft, verifyReadCertificate, verifyReplyCertificate, type PbftOptions, type RequestAuthentication } from '../src/index.js'
import { RegisterMachine } from '../test/helpers.js'

// As in @synod/raft's bench: 100-byte commands and a state machine that only counts, so the
// figures are the protocol's (PBFT_BENCH_MACHINE=register: the test suite's string register).
const MACHINE = process.env['PBFT_BENCH_MACHINE'] === 'register' ? 'register' : 'counting'
const COMMAND_BYTES = 100
const EMPTY = new Uint8Array(0)

class CountingMachine implements StateMachine {
  count = 0
  apply(_command?: Uint8Array): Uint8Array {
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

/** Answers every read (ordered or not) with the same 100-byte value; writes only count. */
class ValueMachine extends CountingMachine {
  readonly value = new Uint8Array(COMMAND_BYTES).fill(42)
  override apply(command: Uint8Array): Uint8Array {
    return command[0] === READ_MARK ? this.value : super.apply()
  }
  override query(): Uint8Array {
    return this.value
  }
}
const READ_MARK = 0xff

type Mode = RequestAuthentication | 'ordered-reads' | 'read-only'
const isReadMode = (mode: Mode) => mode === 'ordered-reads' || mode === 'read-only'

/** A distinct 100-byte command per client and operation. */
function commandOf(client: number, op: number): Uint8Array {
  const command = new Uint8Array(COMMAND_BYTES)
  const view = new DataView(command.buffer)
  view.setUint32(0, client)
  view.setFloat64(4, op)
  return command
}

async function runCluster(options: Partial<PbftOptions>, clientsPerReplica: number, seconds: number, reads: boolean) {
  const ids = ['r0', 'r1', 'r2', 'r3']
  const keys = ids.map((id) => keyPairFromSecret(sha256(utf8(`bench:${id}`))))
  const members = membership(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey })))
  const network = new InProcessNetwork()
  const replicas = ids.map(
    (id, i) =>
      new Replica<PbftOptions>({
        factory: pbft,
        protocolOptions: options,
        self: id,
        membership: members,
        transport: network.transport(id),
        storage: memoryStorage(),
        clock: systemClock(),
        random: systemRandom(),
        stateMachine: reads ? new ValueMachine() : MACHINE === 'register' ? new RegisterMachine() : new CountingMachine(),
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
  const client = async (replica: Replica<PbftOptions>, c: number) => {
    let i = 0
    while (running) {
      const start = performance.now()
      let command: Uint8Array
      let answer
      if (reads) {
        command = commandOf(c, i++)
        command[0] = READ_MARK
        answer = await replica.read(command)
      } else {
        command = MACHINE === 'register' ? utf8(`set k${c % 64} v${i++}`) : commandOf(c, i++)
        answer = await replica.propose(command)
      }
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
  // CPU time of this process per committed op: less sensitive than ops/s to other jobs on a shared machine.
  const cpu = process.cpuUsage(cpuStart)
  const cpuPerOp = (cpu.user + cpu.system) / ops
  const measured = [...latencies]
  const detail = replicas.map((r) => r.status().detail as { lastExecutedSeq: number; readsServed?: number; readFallbacks?: number })
  const served = detail.reduce((sum, d) => sum + (d.readsServed ?? 0), 0)
  const fallbacks = detail.reduce((sum, d) => sum + (d.readFallbacks ?? 0), 0)
  if (process.env["PBFT_BENCH_DEBUG"]) console.log(JSON.stringify(replicas[0]!.status().detail), JSON.stringify(replicas[1]!.status().counters), done)
  running = false
  // The runtime's timers are unref'd: while the last answers wait for one (a view change, a read
  // batch timeout), this keeps the process alive; without it Node exits with code 13 mid-drain.
  const keepAlive = setInterval(() => {}, 1000)
  await Promise.allSettled(loops)
  clearInterval(keepAlive)
  for (const r of replicas) await r.stop()
  // The answers carry certificates a client can check.
  if (sample === undefined) throw new Error('no answer carried a reply certificate')
  if (options.readOnlyRequests === true) {
    verifyReadCertificate(sample.proof, members, createVerifier({ backend: 'node' }), { request: sample.command, result: sample.result })
    if (fallbacks > 0) console.warn(`${fallbacks} of ${served + fallbacks} reads fell back to ordering`)
  } else verifyReplyCertificate(sample.proof, members, createVerifier({ backend: 'node' }), sample)
  return { opsPerSecond: ops / elapsed, p50: median(measured), p99: percentile(measured, 99), cpuPerOp, seqs: detail[0]!.lastExecutedSeq }
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

const seconds = Number(process.env['PBFT_BENCH_SECONDS'] ?? 3)
const clients = Number(process.env['PBFT_BENCH_CLIENTS'] ?? 1024)
const runs = Number(process.env['PBFT_BENCH_RUNS'] ?? 3)
const modes = (process.env['PBFT_BENCH_MODES'] ?? 'signature,mac,ordered-reads,read-only').split(',') as Mode[]
const inFlight = process.env['PBFT_BENCH_INFLIGHT'] === undefined ? undefined : Number(process.env['PBFT_BENCH_INFLIGHT'])
// PBFT_BENCH_NO_BASELINE (for profiling runs) skips the baseline; no ratio is reported then.
const baseline: BenchResult | undefined = process.env['PBFT_BENCH_NO_BASELINE']
  ? undefined
  : { name: 'ed25519 sign (node:crypto), one core', value: signBaseline(), unit: 'ops/s', params: { bytes: 100 } }
const results: BenchResult[] = baseline === undefined ? [] : [baseline]
const describeMode: Record<Mode, string> = {
  signature: 'requests: one ed25519 signature per bundle; replica messages signed',
  mac: 'requests: HMAC-SHA256 authenticator per bundle; replica messages signed',
  'ordered-reads': 'reads of 100-byte values ordered like commands (signature requests)',
  'read-only': 'reads of 100-byte values answered by 2f+1 matching replies without ordering (readOnlyRequests, signature requests)',
}
const optionsOf = (mode: Mode): Partial<PbftOptions> => ({
  requestAuthentication: isReadMode(mode) ? 'signature' : (mode as RequestAuthentication),
  ...(mode === 'read-only' ? { readOnlyRequests: true } : {}),
  ...(inFlight === undefined ? {} : { maxInFlight: inFlight }),
})
// Modes alternate run by run so that a change in machine load hits both alike.
const samples = new Map<Mode, Array<Awaited<ReturnType<typeof runCluster>>>>(modes.map((m) => [m, []]))
for (let i = 0; i < runs; i++) for (const mode of modes) samples.get(mode)!.push(await runCluster(optionsOf(mode), clients, seconds, isReadMode(mode)))
for (const mode of modes) {
  const sorted = samples.get(mode)!.sort((a, b) => a.opsPerSecond - b.opsPerSecond)
  const mid = sorted[Math.floor(sorted.length / 2)]!
  const reads = isReadMode(mode)
  const params = {
    n: 4,
    mode,
    auth: describeMode[mode],
    clientsPerReplica: clients,
    seconds,
    runs,
    machine: reads ? 'value' : MACHINE,
    commandBytes: reads || MACHINE === 'counting' ? COMMAND_BYTES : 'text',
    ...(reads ? { resultBytes: COMMAND_BYTES, sequenceNumbersUsed: mid.seqs } : {}),
  }
  const what = reads ? 'reads/s' : 'committed ops/s'
  results.push(
    baseline === undefined
      ? { name: `pbft ${mode}: ${what} (median of ${runs} runs)`, value: mid.opsPerSecond, unit: 'ops/s', params }
      : against({ name: `pbft ${mode}: ${what} (median of ${runs} runs)`, value: mid.opsPerSecond, unit: 'ops/s', params }, baseline),
    { name: `pbft ${mode}: latency p50`, value: mid.p50, unit: 'ms', params },
    { name: `pbft ${mode}: latency p99`, value: mid.p99, unit: 'ms', params },
    { name: `pbft ${mode}: CPU per ${reads ? 'read' : 'committed op'} (median of ${runs} runs)`, value: median(samples.get(mode)!.map((s) => s.cpuPerOp)), unit: 'µs', params },
    { name: `pbft ${mode}: all runs ops/s`, value: sorted.map((s) => s.opsPerSecond).reduce((a, b) => Math.max(a, b), 0), unit: 'ops/s (best)', params: { ...params, each: sorted.map((s) => Math.round(s.opsPerSecond)).join('/') } },
  )
}
const ordered = samples.get('ordered-reads')
const readOnly = samples.get('read-only')
if (ordered !== undefined && readOnly !== undefined) {
  const mid = (list: Array<{ opsPerSecond: number }>) => median(list.map((s) => s.opsPerSecond))
  results.push({ name: 'pbft read-only reads/s ÷ ordered reads/s (medians, same run)', value: mid(readOnly) / mid(ordered), unit: '×', params: { n: 4 } })
}
report('@synod/pbft', results)
