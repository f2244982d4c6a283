// Child process for the crash test: writes to a DurableStorage as fast as it
// can and prints each index once its sync has resolved. The parent SIGKILLs
// it at a random moment and checks that every printed index survived.
// Usage: crash-writer.ts <dir> <seed>
import { openDurableStorage } from '../src/node.js'
import type { SnapshotWriter } from '@synod/core'
import { expectedEntryData, expectedSnapshotData } from './crash-data.js'

const [dir, seedArg] = process.argv.slice(2)
if (dir === undefined) throw new Error('usage: crash-writer.ts <dir> <seed>')
let seed = Number(seedArg ?? 1) >>> 0 || 1
const random = (n: number) => {
  seed = (seed * 1103515245 + 12345) >>> 0
  return seed % n
}

// Bounded even if the parent never kills it.
setTimeout(() => process.exit(3), 20_000).unref()

const storage = await openDurableStorage(dir, { segmentBytes: 64 * 1024 })
const report = (line: string) => process.stdout.write(`${line}\n`)
report(`open ${storage.lastIndex()}`)
// Every other snapshot is streamed (ADR 0027): 4 KiB a batch, so kills land while its file is being written.
let streaming: { writer: SnapshotWriter; data: Uint8Array } | undefined
let snapshots = 0
for (let batch = 0; ; batch++) {
  let last = storage.lastIndex()
  const count = 1 + random(64)
  storage.append(Array.from({ length: count }, (_, i) => ({ index: last + 1 + i, term: 1, data: expectedEntryData(last + 1 + i) })))
  last += count
  if (random(4) === 0) {
    // Truncate part of this unsynced batch and write it again.
    const from = last - random(count)
    storage.truncateSuffix(from)
    storage.append(Array.from({ length: last - from + 1 }, (_, i) => ({ index: from + i, term: 1, data: expectedEntryData(from + i) })))
  }
  if (streaming !== undefined) {
    const { writer, data } = streaming
    writer.write(data.subarray(writer.bytesWritten, writer.bytesWritten + 4096))
    if (writer.bytesWritten === data.byteLength) {
      if (writer.index >= storage.firstIndex() - 1) writer.commit()
      else writer.abort()
      streaming = undefined
    }
  } else if (batch % 40 === 39 && last - 200 > storage.firstIndex()) {
    const index = last - 200
    if (snapshots++ % 2 === 1) storage.saveSnapshot({ index, term: 1, data: expectedEntryData(index), meta: new Uint8Array(0) })
    else streaming = { writer: storage.beginSnapshot(index, 1, new Uint8Array(0)), data: expectedSnapshotData(index) }
  }
  const synced = new Uint8Array(8)
  new DataView(synced.buffer).setFloat64(0, last, true)
  storage.setHardState('synced', synced)
  await storage.sync()
  report(`synced ${last}`)
}
