import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDurableStorage } from '../src/node.js'
import type { DurableStorage } from '../src/node.js'
import { describeStorageContract } from './storage-contract.js'

describeStorageContract(
  'openDurableStorage',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'synod-storage-contract-'))
    // Tiny segments so rolls, checkpoints and segment deletion run in every test.
    const open = () => openDurableStorage(dir, { segmentBytes: 4096 })
    let storage: DurableStorage = await open()
    return {
      storage,
      reopen: async () => {
        await storage.close()
        storage = await open()
        return storage
      },
      crash: async () => {
        storage.abandon()
        storage = await open()
        return storage
      },
      dispose: async () => {
        storage.abandon()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
  { modelRuns: 60 },
)
