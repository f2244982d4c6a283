// The acceptor's run records (ADR 0024): one storage record per run of consecutive slots accepted in
// one ballot, a restart restores the newest acceptance of every slot, format-1 per-slot records still
// load, and a record key is reused only once what it held is chosen or written again elsewhere — a
// crash that keeps any prefix of a batch's writes (a write-ahead log) loses no synced acceptance.
import { encodeCanonical, fromUtf8, StorageCorruptionError, utf8 } from '@synod/core'
import { memoryStorage, type MemoryStorage } from '@synod/storage'
import { openDurableStorage } from '@synod/storage/node'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { RUN_KEYS, runKey } from '../src/accepted-records.js'
import { acceptorTesting, AcceptorStore, PROMISED_KEY } from '../src/acceptor-store.js'
import { seededRandom } from './helpers/cluster.js'

afterEach(() => {
  acceptorTesting.reuseKeysEarly = false
})

const v = (s: string) => utf8(s)
const restore = (storage: MemoryStorage, ring?: number) => {
  const store = new AcceptorStore(storage, ring)
  store.load(storage.lastIndex())
  return store
}
const view = (store: AcceptorStore) => new Map([...store.accepted].map(([slot, a]) => [slot, `${a.ballot}:${fromUtf8(a.value)}`]))
const runRecords = (storage: MemoryStorage) => Array.from({ length: RUN_KEYS }, (_, k) => storage.getHardState(runKey(k))).filter((b) => b !== undefined).length

describe('acceptor run records', () => {
  it('a run of slots accepted in one batch is one record, and a restart restores every slot of it', async () => {
    const storage = memoryStorage()
    const store = restore(storage)
    store.promise(3, 'a')
    for (let slot = 1; slot <= 6; slot++) store.accept(slot, 3, v(`x${slot}`))
    store.flush()
    await storage.sync()
    expect(runRecords(storage)).toBe(1)
    storage.crash()
    const again = restore(storage)
    expect(again.promised).toBe(3)
    expect(view(again)).toEqual(new Map([1, 2, 3, 4, 5, 6].map((s) => [s, `3:x${s}`])))
  })

  it('nothing is written before flush(): the acceptance is durable with the batch, not before', async () => {
    const storage = memoryStorage()
    const store = restore(storage)
    store.accept(1, 1, v('a'))
    expect(runRecords(storage)).toBe(0)
    store.flush()
    expect(runRecords(storage)).toBe(1)
    storage.crash() // before the sync: nothing was answered, nothing is kept
    expect(view(restore(storage)).size).toBe(0)
  })

  it('a run partially re-accepted in a later ballot restores the newest acceptance per slot', async () => {
    const storage = memoryStorage()
    const store = restore(storage)
    for (let slot = 1; slot <= 8; slot++) store.accept(slot, 1, v(`old${slot}`))
    store.flush()
    await storage.sync()
    for (let slot = 3; slot <= 5; slot++) store.accept(slot, 2, v(`new${slot}`))
    store.flush()
    await storage.sync()
    storage.crash()
    const again = restore(storage)
    const expected = new Map<number, string>()
    for (let slot = 1; slot <= 8; slot++) expected.set(slot, slot >= 3 && slot <= 5 ? `2:new${slot}` : `1:old${slot}`)
    expect(view(again)).toEqual(expected)
    // Both records hold a needed slot.
    expect(again.liveRecords()).toBe(2)
  })

  it('runs break at a ballot change and at a gap; slots chosen in the same batch are not written', async () => {
    const storage = memoryStorage()
    const store = restore(storage)
    store.accept(1, 1, v('a'))
    store.accept(2, 1, v('b'))
    store.accept(3, 2, v('c')) // another ballot
    store.accept(5, 2, v('d')) // a gap
    // Slot 1 is chosen in this batch (the log append comes first, as in the node).
    storage.append([{ index: 1, term: 1, data: v('a') }])
    store.forget(1)
    store.flush()
    await storage.sync()
    expect(runRecords(storage)).toBe(3)
    storage.crash()
    expect(view(restore(storage))).toEqual(
      new Map([
        [2, '1:b'],
        [3, '2:c'],
        [5, '2:d'],
      ]),
    )
  })

  it('format-1 per-slot records still load, are superseded by newer run records, and are ignored once chosen', async () => {
    const storage = memoryStorage()
    // What an acceptor before ADR 0024 left: the promise and one [slot, ballot, value] per ring key.
    storage.setHardState(PROMISED_KEY, encodeCanonical([4, 'b']))
    for (const slot of [1, 2, 3, 1030]) storage.setHardState(`paxos.accepted.${slot % 1024}`, encodeCanonical([slot, 4, v(`legacy${slot}`)]))
    storage.append([{ index: 1, term: 4, data: v('legacy1') }]) // slot 1 is chosen
    await storage.sync()
    const store = restore(storage)
    expect(store.promised).toBe(4)
    expect(store.owner).toBe('b')
    // 1030 sat in key 6 (1030 mod 1024): a format-1 key is read whatever slot it holds.
    expect(view(store)).toEqual(
      new Map([
        [2, '4:legacy2'],
        [3, '4:legacy3'],
        [1030, '4:legacy1030'],
      ]),
    )
    store.accept(3, 5, v('new3'))
    store.flush()
    await storage.sync()
    storage.crash()
    expect(view(restore(storage))).toEqual(
      new Map([
        [2, '4:legacy2'],
        [3, '5:new3'],
        [1030, '4:legacy1030'],
      ]),
    )
  })

  it('on disk: runs and partial re-accepts across WAL segments (checkpoints included) reopen to the newest per slot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'paxos-runs-'))
    try {
      let storage = await openDurableStorage(dir, { segmentBytes: 4096 }) // a checkpoint every few batches
      let store = new AcceptorStore(storage)
      store.load(storage.lastIndex())
      const expected = new Map<number, string>()
      for (let batch = 0; batch < 60; batch++) {
        const first = 1 + ((batch * 5) % 40)
        for (let i = 0; i < 8; i++) {
          store.accept(first + i, 1 + batch, v(`${batch}.${i}`.padEnd(40, '.')))
          expected.set(first + i, `${1 + batch}:${`${batch}.${i}`.padEnd(40, '.')}`)
        }
        store.flush()
        await storage.sync()
      }
      expect(storage.stats().segments + storage.stats().segmentsDeleted).toBeGreaterThan(2)
      await storage.close()
      storage = await openDurableStorage(dir, { segmentBytes: 4096 })
      store = new AcceptorStore(storage)
      store.load(storage.lastIndex())
      expect(view(store)).toEqual(expected)
      await storage.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a corrupt run record is a StorageCorruptionError, not a silently forgotten acceptance', () => {
    const storage = memoryStorage()
    storage.setHardState(runKey(7), encodeCanonical([2, 1, 5, 1, ['not bytes']]))
    expect(() => restore(storage)).toThrow(StorageCorruptionError)
    storage.setHardState(runKey(7), encodeCanonical([9, 1, 5, 1, [v('x')]])) // an unknown format
    expect(() => restore(storage)).toThrow(/unknown format 9/)
  })

  it('state stays small: a record key is reused once its slots are chosen or re-accepted, the last freed first', async () => {
    const storage = memoryStorage()
    const store = restore(storage)
    let chosen = 0
    for (let batch = 0; batch < 3000; batch++) {
      const first = chosen + 1 + (batch % 7)
      for (let i = 0; i < 4; i++) store.accept(first + i, 1 + Math.floor(batch / 100), v(`${batch}.${i}`))
      if (batch % 2 === 0) {
        chosen++
        storage.append([{ index: chosen, term: 1, data: store.accepted.get(chosen)?.value ?? v('noop') }])
        store.forget(chosen)
      }
      store.flush()
      await storage.sync()
    }
    expect(store.liveRecords()).toBeLessThanOrEqual(store.accepted.size)
    // Keys ever written: at most one more than the records needed at once (each holds one of the ≤ 10
    // slots accepted above the chosen index here), not all 1,025 — every key ever written stays in the
    // hard state, which a durable store copies into each checkpoint.
    expect(runRecords(storage)).toBeLessThanOrEqual(11)
    const expected = view(store)
    storage.crash()
    expect(view(restore(storage))).toEqual(expected)
  })
})

/** A small ring (the acceptor accepts 16 slots above its chosen index, in 17 record keys): keys are reused every few batches. */
const RING = 16

/**
 * Random batches of accepted runs (ballots only grow, as the promise does), slots chosen and forgotten,
 * over enough batches that every record key is reused several times. Crash in a batch keeping each
 * prefix of its writes: every slot above the restored chosen index must come back with its acceptance
 * as of the last sync, or one accepted in the crashed batch — never an older one, never none.
 */
async function crashCheck(seed: number, crashAt: number, keep: number): Promise<{ problems: string[]; pending: number }> {
  const rng = seededRandom(seed)
  const int = (n: number) => Math.floor(rng.next() * n)
  const storage = memoryStorage()
  const store = restore(storage, RING)
  let chosen = 0
  let ballot = 1
  let synced = new Map<number, string>()
  for (let batch = 0; ; batch++) {
    const inBatch = new Map<number, Set<string>>()
    for (let runs = 1 + int(3); runs > 0; runs--) {
      if (int(8) === 0) ballot++
      const first = chosen + 1 + int(RING - 6)
      for (let i = 0, n = 1 + int(6); i < n; i++) {
        const value = `${batch}.${runs}.${i}`
        store.accept(first + i, ballot, v(value))
        if (!inBatch.has(first + i)) inBatch.set(first + i, new Set())
        inBatch.get(first + i)!.add(`${ballot}:${value}`)
      }
    }
    for (let n = int(4); n > 0; n--) {
      chosen++
      storage.append([{ index: chosen, term: ballot, data: store.accepted.get(chosen)?.value ?? v('noop') }])
      store.forget(chosen)
    }
    store.flush()
    if (batch === crashAt) {
      const pending = storage.pendingOperations()
      storage.crash({ keepUnsynced: Math.min(keep, pending) })
      const restored = view(restore(storage, RING))
      const restoredChosen = storage.lastIndex()
      const problems: string[] = []
      for (const [slot, old] of synced) {
        if (slot <= restoredChosen) continue
        const now = restored.get(slot)
        if (now === undefined) problems.push(`slot ${slot}: synced ${old} forgotten`)
        else if (now !== old && !inBatch.get(slot)?.has(now)) problems.push(`slot ${slot}: ${now}, synced ${old}`)
      }
      for (const [slot, now] of restored) if (slot > restoredChosen && !synced.has(slot) && !inBatch.get(slot)?.has(now)) problems.push(`slot ${slot}: unknown ${now}`)
      return { problems, pending }
    }
    await storage.sync()
    synced = view(store)
  }
}

describe('acceptor run records across crashes that keep a prefix of a batch', () => {
  // Every key is reused every ten batches or so (about 2 records per batch, 17 keys).
  const points = Array.from({ length: 12 }, (_, i) => 20 + 13 * i)
  /** Crash at each point keeping each prefix of the batch's writes (0 … all of them); `stop` ends early. */
  async function sweep(stop: (problems: string[]) => boolean): Promise<number> {
    let failed = 0
    for (const seed of [1, 2, 3]) {
      for (const crashAt of points) {
        for (let keep = 0; ; keep++) {
          const { problems, pending } = await crashCheck(seed, crashAt, keep)
          if (problems.length > 0) failed++
          if (stop(problems)) return failed
          if (keep >= pending) break
        }
      }
    }
    return failed
  }

  it('restore every synced acceptance, at every prefix of the crashed batch', async () => {
    await sweep((problems) => {
      expect(problems).toEqual([])
      return false
    })
  }, 30_000)

  it('with keys reused as soon as their slots are re-accepted (before the newer record is written), a crash forgets acknowledged acceptances', async () => {
    acceptorTesting.reuseKeysEarly = true
    expect(await sweep((problems) => problems.some((p) => p.includes('synced')))).toBeGreaterThan(0)
  }, 30_000)
})
