// Memory while a node takes and installs a large snapshot with the durable store (issue 16 item 5,
// ADR 0027): the snapshot as one buffer (`saveSnapshot`, as before ADR 0027) against the snapshot
// streamed through the Storage contract (`beginSnapshot` writer, ranged reads, restore from storage).
// `pnpm --filter @synod/raft bench:snapshot-memory`. RAFT_BENCH_SNAPSHOT_KEYS (default 1M) keys of
// 100-byte values. Each case runs in a fresh child process, one after the other, so that its peak
// RSS (`resourceUsage().maxRSS`) is its own; the heap figures are sampled after every step
// (`heapUsed + arrayBuffers`, no forced GC in between), relative to the state before the case.
//
// What each case does, at the level raft drives storage and the state machine:
// - take/whole: KV job in slices → one Uint8Array → saveSnapshot → sync (the old store kept that buffer);
// - take/streamed: KV job in slices, each slice into storage.beginSnapshot's writer → commit → sync;
// - install/whole: the leader's chunks (1 MiB, read from its store) copied into one buffer of the
//   snapshot's size → saveSnapshot(handOver) → sync → restore job over that buffer (kept by the store);
// - install/streamed: each chunk into the follower store's writer → commit → sync → restore job over
//   storage.snapshot().data (read back from the file), dropped once restored.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KvStateMachine, kvCommands } from '@synod/kv'
import { openDurableStorage } from '@synod/storage/node'

const KEYS = Number(process.env['RAFT_BENCH_SNAPSHOT_KEYS'] ?? 1_000_000)
const CHUNK_BYTES = 1024 * 1024
const MB = 1024 * 1024
const META = new Uint8Array([1, 2, 3])

type Case = 'take/whole' | 'take/streamed' | 'install/whole' | 'install/streamed'

interface Figures {
  case: Case
  snapshotMB: number
  /** Peak of heapUsed + arrayBuffers during the case, above the level before it. */
  peakHeapMB: number
  /** Peak of arrayBuffers alone (where the snapshot's bytes live: large Uint8Arrays), above the level before. */
  peakBuffersMB: number
  /** Peak RSS of the process during the case, above the RSS before it. */
  peakRssMB: number
  /** heapUsed + arrayBuffers after the case and a GC, above the level before it (what stays). */
  retainedMB: number
  steps: number
}

const heapNow = () => {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
const gc = () => (globalThis as { gc?: () => void }).gc?.()

async function child(kind: Case, dir: string, leaderDir: string): Promise<Figures> {
  const value = new Uint8Array(100).fill(7)
  const kv = new KvStateMachine({ quotaBytes: 8 * 1024 ** 3 })
  const take = kind.startsWith('take')
  if (take) for (let i = 0; i < KEYS; i++) kv.apply(kvCommands.put(`key/${String(i).padStart(8, '0')}`, value), i + 1)
  // The node's state lives on after the case; only what the case adds on top of it is measured.
  ;(globalThis as { state?: unknown }).state = kv
  const storage = await openDurableStorage(dir)
  const leader = take ? undefined : await openDurableStorage(leaderDir)
  gc()
  const base = heapNow()
  const baseRss = process.memoryUsage().rss
  const baseBuffers = process.memoryUsage().arrayBuffers
  let peak = base
  let peakBuffers = baseBuffers
  const sample = () => {
    const m = process.memoryUsage()
    const now = m.heapUsed + m.arrayBuffers
    if (now > peak) peak = now
    if (m.arrayBuffers > peakBuffers) peakBuffers = m.arrayBuffers
  }
  let steps = 0
  let kept: Uint8Array | undefined // what the store kept in memory before ADR 0027
  let size = 0
  if (kind === 'take/whole') {
    const job = kv.beginSnapshot()
    let out: Uint8Array | undefined
    while (out === undefined) {
      out = job.step()
      steps++
      sample()
    }
    size = out.byteLength
    storage.saveSnapshot({ index: KEYS, term: 1, data: out, meta: META }, { handOver: true })
    sample()
    await storage.sync()
    sample()
    kept = out
  } else if (kind === 'take/streamed') {
    const writer = storage.beginSnapshot(KEYS, 1, META)
    const job = kv.beginSnapshot({ into: writer })
    while (job.step() === undefined) {
      steps++
      sample()
    }
    size = writer.bytesWritten
    writer.commit()
    await storage.sync()
    sample()
  } else {
    const source = leader!.snapshot()!
    size = source.size
    const whole = kind === 'install/whole'
    const buffer = whole ? new Uint8Array(size) : undefined
    const writer = whole ? undefined : storage.beginSnapshot(source.index, source.term, source.meta, { size })
    for (let at = 0; at < size; at += CHUNK_BYTES) {
      const chunk = source.read(at, CHUNK_BYTES)
      if (buffer !== undefined) buffer.set(chunk, at)
      else writer!.write(chunk)
      sample()
    }
    if (buffer !== undefined) storage.saveSnapshot({ index: source.index, term: source.term, data: buffer, meta: source.meta }, { handOver: true })
    else writer!.commit()
    await storage.sync()
    sample()
    // As the Replica does: the restore job (and the bytes it reads) are dropped once the state is swapped in.
    const restore = (data: Uint8Array): KvStateMachine => {
      sample()
      const target = new KvStateMachine({ quotaBytes: 8 * 1024 ** 3 })
      const job = target.beginRestore(data)
      while (!job.step()) {
        steps++
        sample()
      }
      return target
    }
    const target = restore(buffer ?? storage.snapshot()!.data)
    if (target.query(kvCommands.get('key/00000001')).byteLength === 0) throw new Error('restore lost the data')
    kept = buffer
    // The restored state is the node's state either way; keep it alive through the retained measure.
    ;(globalThis as { restored?: unknown }).restored = target
  }
  const peakRss = process.resourceUsage().maxRSS * 1024
  // A WeakRef's target (the durable store's cache of `data`) is kept alive until the current job ends:
  // let it end, as the Replica's next turn would, before collecting.
  await new Promise((resolve) => setImmediate(resolve))
  gc()
  const retained = heapNow() - base
  if (kept !== undefined && kept.byteLength !== size) throw new Error('unreachable')
  await storage.close()
  await leader?.close()
  return {
    case: kind,
    snapshotMB: round(size / MB),
    peakHeapMB: round((peak - base) / MB),
    peakBuffersMB: round((peakBuffers - baseBuffers) / MB),
    peakRssMB: round((peakRss - baseRss) / MB),
    retainedMB: round(retained / MB),
    steps,
  }
}

const round = (x: number) => Math.round(x * 10) / 10

const args = process.argv.slice(2)
if (args[0] === '--child') {
  const figures = await child(args[1] as Case, args[2]!, args[3]!)
  process.stdout.write(`${JSON.stringify(figures)}\n`)
} else {
  const root = mkdtempSync(join(tmpdir(), 'synod-snapshot-memory-'))
  const run = (kind: Case, dir: string): Figures => {
    const out = spawnSync(
      process.execPath,
      ['--expose-gc', '--max-old-space-size=12000', '--conditions=@synod/source', '--import', 'tsx', fileURLToPath(import.meta.url), '--child', kind, dir, join(root, 'take-streamed')],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
    )
    if (out.status !== 0) throw new Error(`${kind} failed (${out.status})`)
    return JSON.parse(out.stdout.trim().split('\n').at(-1)!) as Figures
  }
  try {
    console.log(`${KEYS} keys of 100 bytes, durable storage in ${root}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`)
    const results: Figures[] = []
    // The streamed take first: its directory is the leader whose snapshot the installs receive.
    // RAFT_BENCH_SNAPSHOT_CASES=take: only the two take cases (the installs need take/streamed's store).
    const only = process.env['RAFT_BENCH_SNAPSHOT_CASES']
    for (const kind of ['take/streamed', 'take/whole', 'install/whole', 'install/streamed'] as const) {
      if (only !== undefined && !kind.startsWith(only) && kind !== 'take/streamed') continue
      results.push(run(kind, join(root, kind.replace('/', '-'))))
      console.log(JSON.stringify(results.at(-1)))
    }
    console.table(results)
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
