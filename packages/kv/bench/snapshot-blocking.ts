// How long one event-loop turn blocks when the KV state machine snapshots and restores a large store
// (issue 16 item 5, ADR 0025). `pnpm --filter @synod/kv bench:snapshot` — KV_SNAPSHOT_KEYS (default 1M)
// keys of 100-byte values. Reports each synchronous call's wall time: that is the turn it blocks.
import { performance } from 'node:perf_hooks'
import { KvStateMachine, kvCommands } from '../src/index.js'

const KEYS = Number(process.env['KV_SNAPSHOT_KEYS'] ?? 1_000_000)
const VALUE_BYTES = 100
const ROUNDS = Number(process.env['KV_SNAPSHOT_ROUNDS'] ?? 3)
const value = new Uint8Array(VALUE_BYTES).fill(7)

const kv = new KvStateMachine({ quotaBytes: 8 * 1024 ** 3 })
const t = performance.now()
for (let i = 0; i < KEYS; i++) kv.apply(kvCommands.put(`key/${String(i).padStart(8, '0')}`, value), i + 1)
console.log(`filled ${KEYS} keys in ${(performance.now() - t).toFixed(0)} ms`)

const timed = <T>(f: () => T): [T, number] => {
  const start = performance.now()
  const out = f()
  return [out, performance.now() - start]
}
/** Wall and CPU milliseconds of one synchronous call (CPU: this process's user + system time, GC threads included). */
const timedCpu = <T>(f: () => T): [T, number, number] => {
  const cpu = process.cpuUsage()
  const [out, ms] = timed(f)
  const used = process.cpuUsage(cpu)
  return [out, ms, (used.user + used.system) / 1000]
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const snap: number[] = []
const restore: number[] = []
let bytes = 0
for (let r = 0; r < ROUNDS; r++) {
  const [data, ms] = timed(() => kv.snapshot())
  snap.push(ms)
  bytes = data.byteLength
  const target = new KvStateMachine({ quotaBytes: 8 * 1024 ** 3 })
  restore.push(timed(() => target.restore(data))[1])
}
// The same snapshot in slices (ADR 0025): the longest single step is what one turn blocks.
const jobRuns: Array<Record<string, number>> = []
const oneShot = kv.snapshot()
const oneShotCpu = timedCpu(() => kv.snapshot())
const pick = (xs: number[], q: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]! * 10) / 10
for (let r = 0; r < ROUNDS; r++) {
  const started = performance.now()
  const [job, beginMs, beginCpuMs] = timedCpu(() => kv.beginSnapshot())
  const stepMs: number[] = []
  const stepCpu: number[] = []
  let out: Uint8Array | undefined
  while (out === undefined) {
    const [o, ms, cpuMs] = timedCpu(() => job.step())
    stepMs.push(ms)
    stepCpu.push(cpuMs)
    out = o
  }
  if (Buffer.compare(Buffer.from(out.buffer, out.byteOffset, out.byteLength), Buffer.from(oneShot.buffer, oneShot.byteOffset, oneShot.byteLength)) !== 0)
    throw new Error('the snapshot in slices differs from the one-shot snapshot')
  stepMs.sort((a, b) => a - b)
  stepCpu.sort((a, b) => a - b)
  jobRuns.push({
    beginMs: Math.round(beginMs),
    beginCpuMs: Math.round(beginCpuMs),
    steps: stepMs.length,
    medianStepMs: pick(stepMs, 0.5),
    p99StepMs: pick(stepMs, 0.99),
    maxStepMs: pick(stepMs, 1),
    medianStepCpuMs: pick(stepCpu, 0.5),
    p99StepCpuMs: pick(stepCpu, 0.99),
    maxStepCpuMs: pick(stepCpu, 1),
    totalMs: Math.round(performance.now() - started),
  })
}
// Restore in slices (KvRestoreJob, not yet driven by the Replica): the longest step is what one turn blocks.
const restoreRuns: Array<Record<string, number>> = []
for (let r = 0; r < ROUNDS; r++) {
  const target = new KvStateMachine({ quotaBytes: 8 * 1024 ** 3 })
  const started = performance.now()
  const job = target.beginRestore(oneShot)
  const stepMs: number[] = []
  const stepCpu: number[] = []
  let done = false
  while (!done) {
    const [d, ms, cpuMs] = timedCpu(() => job.step())
    stepMs.push(ms)
    stepCpu.push(cpuMs)
    done = d
  }
  stepMs.sort((a, b) => a - b)
  stepCpu.sort((a, b) => a - b)
  restoreRuns.push({
    steps: stepMs.length,
    medianStepMs: pick(stepMs, 0.5),
    p99StepMs: pick(stepMs, 0.99),
    maxStepMs: pick(stepMs, 1),
    medianStepCpuMs: pick(stepCpu, 0.5),
    p99StepCpuMs: pick(stepCpu, 0.99),
    maxStepCpuMs: pick(stepCpu, 1),
    totalMs: Math.round(performance.now() - started),
  })
}
const mem = process.memoryUsage()
const result = {
  keys: KEYS,
  valueBytes: VALUE_BYTES,
  snapshotBytes: bytes,
  snapshotMs: snap.map((x) => Math.round(x)),
  restoreMs: restore.map((x) => Math.round(x)),
  medianSnapshotMs: Math.round(median(snap)),
  medianRestoreMs: Math.round(median(restore)),
  oneShotSnapshotCpuMs: Math.round(oneShotCpu[2]),
  oneShotSnapshotWallMs: Math.round(oneShotCpu[1]),
  inSlices: jobRuns,
  restoreInSlices: restoreRuns,
  loadAverage: (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10),
  rssMiB: Math.round(mem.rss / 2 ** 20),
}
console.log(JSON.stringify(result))
