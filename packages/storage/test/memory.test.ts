import { StoppedError } from '@synod/core'
import type { LogEntry } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { memoryStorage } from '../src/index.js'
import type { MemoryStorage } from '../src/index.js'
import { describeStorageContract } from './storage-contract.js'

describeStorageContract('memoryStorage', async () => {
  const storage = memoryStorage()
  return {
    storage,
    reopen: async () => {
      await storage.close()
      storage.reopen()
      return storage
    },
    crash: async () => {
      storage.crash()
      return storage
    },
    dispose: () => storage.close(),
  }
})

const entry = (index: number, term = 1): LogEntry => ({ index, term, data: Uint8Array.of(index & 0xff) })

describe('memoryStorage extras', () => {
  it('counts syncs and synced payload bytes', async () => {
    const storage = memoryStorage()
    storage.append([entry(1), entry(2)])
    storage.setHardState('term', Uint8Array.of(1, 2, 3))
    expect(storage.pendingOperations()).toBe(2)
    await storage.sync()
    await storage.sync() // nothing pending: not counted
    storage.append([entry(3)])
    storage.crash()
    expect(storage.stats()).toEqual({ syncs: 1, bytesWritten: 5, operationsSynced: 2, operationsLost: 1, crashes: 1 })
  })

  it('can keep a prefix of the unsynced operations on crash, as a disk that wrote part of them', () => {
    const storage = memoryStorage()
    storage.append([entry(1)])
    storage.append([entry(2)])
    storage.setHardState('term', Uint8Array.of(2))
    storage.truncateSuffix(2)
    storage.crash({ keepUnsynced: 2 })
    expect(storage.lastIndex()).toBe(2)
    expect(storage.getHardState('term')).toBeUndefined()
    expect(storage.hasPendingWrites()).toBe(false)
    storage.crash({ keepUnsynced: 99 })
    expect(storage.lastIndex()).toBe(2)
  })

  it('refuses use after close with StoppedError until reopened; close keeps writes', async () => {
    const storage: MemoryStorage = memoryStorage()
    storage.append([entry(1)])
    await storage.close()
    expect(() => storage.lastIndex()).toThrow(StoppedError)
    await expect(storage.sync()).rejects.toThrow(StoppedError)
    storage.reopen()
    storage.crash()
    expect(storage.lastIndex()).toBe(1)
  })

  it('keeps sync O(pending writes), not O(log): 200k entries in bounded time', async () => {
    const storage = memoryStorage()
    const data = new Uint8Array(16)
    const start = performance.now()
    let index = 1
    for (let batch = 0; batch < 2_000; batch++) {
      const entries: LogEntry[] = []
      for (let i = 0; i < 100; i++) entries.push({ index: index++, term: 1, data })
      storage.append(entries)
      await storage.sync()
    }
    const seconds = (performance.now() - start) / 1000
    expect(storage.lastIndex()).toBe(200_000)
    // Generous bound (≈0.2 s seen here): a per-sync log copy would take minutes.
    expect(seconds).toBeLessThan(5)
  })
})
