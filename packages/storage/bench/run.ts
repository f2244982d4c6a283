// Storage benchmark: records/s and MB/s of append + sync at several batch
// sizes, for the hand-written WAL, a raw write+fsync loop (the physical
// ceiling, measured in the same run) and lmdb. Run:
//   pnpm --filter @synod/storage bench
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { against, median, opsPerSecond, report } from '@synod/bench-kit'
import type { BenchResult } from '@synod/bench-kit'
import type { LogEntry } from '@synod/core'
import { open as openLmdb } from 'lmdb'
import { memoryStorage, openDurableStorage } from '../src/node.js'

const RUNS = 5
const recordSizes = [100, 4096]
const batchSizes = [1, 10, 100, 1000]
/** Syncs per measured run, so that each run takes ~0.1–0.5 s here. */
const syncsPerRun: Record<number, number> = { 1: 400, 10: 200, 100: 60, 1000: 10 }

const root = mkdtempSync(join(tmpdir(), 'synod-storage-bench-'))
const results: BenchResult[] = []
let dirCount = 0
const freshDir = () => join(root, `d${dirCount++}`)

/** One timed run: `syncs` batches of `batch` records, each made durable before the next. */
interface Subject {
  run(syncs: number): Promise<void> | void
  /** Untimed housekeeping between runs (snapshot + compaction keeps memory bounded). */
  between?(): Promise<void>
  close(): Promise<void> | void
}

async function walSubject(recordBytes: number, batch: number): Promise<Subject> {
  const storage = await openDurableStorage(freshDir())
  const data = new Uint8Array(recordBytes).fill(7)
  return {
    async run(syncs) {
      for (let s = 0; s < syncs; s++) {
        const first = storage.lastIndex() + 1
        const entries: LogEntry[] = new Array<LogEntry>(batch)
        for (let i = 0; i < batch; i++) entries[i] = { index: first + i, term: 1, data }
        storage.append(entries)
        await storage.sync()
      }
    },
    async between() {
      storage.saveSnapshot({ index: storage.lastIndex(), term: 1, data: new Uint8Array(64), meta: new Uint8Array(0) })
      await storage.sync()
    },
    close: () => storage.close(),
  }
}

function rawSubject(recordBytes: number, batch: number): Subject {
  const dir = freshDir()
  mkdirSync(dir)
  const fd = openSync(join(dir, 'raw.log'), 'w')
  const chunk = Buffer.alloc(recordBytes * batch, 7)
  return {
    run(syncs) {
      for (let s = 0; s < syncs; s++) {
        writeSync(fd, chunk)
        fsyncSync(fd)
      }
    },
    close: () => closeSync(fd),
  }
}

function lmdbSubject(recordBytes: number, batch: number): Subject {
  const db = openLmdb<Buffer, number>({ path: freshDir(), encoding: 'binary', keyEncoding: 'uint32' })
  const value = Buffer.alloc(recordBytes, 7)
  let key = 1
  return {
    async run(syncs) {
      for (let s = 0; s < syncs; s++) {
        // One durable transaction per batch: lmdb's equivalent of one sync().
        await db.transaction(() => {
          for (let i = 0; i < batch; i++) void db.put(key++, value)
        })
      }
    },
    close: () => db.close(),
  }
}

/**
 * Runs of the subjects interleave (raw, wal, lmdb, raw, ...) so that disk
 * write-back noise on this VM hits each of them alike; medians per subject.
 */
async function compare(subjects: Subject[], syncs: number, records: number): Promise<number[]> {
  const rates: number[][] = subjects.map(() => [])
  for (let run = -1; run < RUNS; run++) {
    for (const [i, subject] of subjects.entries()) {
      const start = performance.now()
      await subject.run(syncs)
      const seconds = (performance.now() - start) / 1000
      if (run >= 0) rates[i]!.push(records / seconds) // run -1 warms up
      await subject.between?.()
    }
  }
  for (const subject of subjects) await subject.close()
  return rates.map((r) => median(r))
}

async function measureMemory(): Promise<number> {
  const storage = memoryStorage()
  const data = new Uint8Array(100)
  const batches = 2_000
  return opsPerSecond(async () => {
    for (let s = 0; s < batches; s++) {
      const first = storage.lastIndex() + 1
      const entries: LogEntry[] = new Array<LogEntry>(100)
      for (let i = 0; i < 100; i++) entries[i] = { index: first + i, term: 1, data }
      storage.append(entries)
      await storage.sync()
    }
  }, batches * 100, RUNS)
}

const mb = (recordsPerSecond: number, recordBytes: number) => (recordsPerSecond * recordBytes) / 1e6

try {
  for (const recordBytes of recordSizes) {
    for (const batch of batchSizes) {
      const params = { recordBytes, batch }
      const syncs = syncsPerRun[batch]!
      const subjects = [rawSubject(recordBytes, batch), await walSubject(recordBytes, batch), lmdbSubject(recordBytes, batch)]
      const [raw, wal, lmdb] = (await compare(subjects, syncs, syncs * batch)) as [number, number, number]
      const rawResult: BenchResult = { name: `raw write+fsync ${recordBytes}B ×${batch}`, value: raw, unit: 'records/s', params }
      results.push(rawResult)
      results.push(against({ name: `wal append+sync ${recordBytes}B ×${batch}`, value: wal, unit: 'records/s', params }, rawResult))
      results.push(against({ name: `lmdb txn ${recordBytes}B ×${batch}`, value: lmdb, unit: 'records/s', params }, rawResult))
      results.push({ name: `wal MB/s ${recordBytes}B ×${batch}`, value: mb(wal, recordBytes), unit: 'MB/s', params })
      console.log(`${recordBytes} B ×${batch}: raw ${Math.round(raw)}/s, wal ${Math.round(wal)}/s, lmdb ${Math.round(lmdb)}/s`)
    }
  }
  results.push({ name: 'memoryStorage append+sync 100B ×100', value: await measureMemory(), unit: 'records/s', params: { recordBytes: 100, batch: 100 } })
  report('@synod/storage', results)
} finally {
  rmSync(root, { recursive: true, force: true })
}
