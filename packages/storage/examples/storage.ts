import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { memoryStorage, openDurableStorage } from '@synod/storage/node'

// Simulator: a store with crash semantics.
const sim = memoryStorage()
sim.append([{ index: 1, term: 1, data: new TextEncoder().encode('x') }])
sim.crash() // not synced, so lost
console.log(sim.lastIndex())

// Daemon: a durable write-ahead log in a data directory.
const dataDir = mkdtempSync(join(tmpdir(), 'synod-'))
let storage = await openDurableStorage(dataDir)
storage.setHardState('term', Uint8Array.of(1))
storage.append([{ index: storage.lastIndex() + 1, term: 1, data: new TextEncoder().encode('put a 1') }])
await storage.sync() // one writev + one fdatasync for everything above
await storage.close()

storage = await openDurableStorage(dataDir) // recovers: replays the log
console.log(storage.lastIndex(), storage.getHardState('term'))
await storage.close()
rmSync(dataDir, { recursive: true })
