import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { openDurableStorage } from '../src/node.js'
import { expectedEntryData, expectedSnapshotData } from './crash-data.js'

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = mkdtempSync(join(tmpdir(), 'synod-crash-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Run the writer until it has synced a while, SIGKILL it, return the highest index it reported synced. */
async function runAndKill(seed: number, killAfterMs: number): Promise<{ maxSynced: number; opened: number }> {
  const child = spawn(process.execPath, ['--conditions=@synod/source', '--import', 'tsx', 'test/crash-writer.ts', dir, String(seed)], {
    cwd: packageDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let maxSynced = 0
  let opened = -1
  let stderr = ''
  let buffered = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => {
        buffered += chunk
        const lines = buffered.split('\n')
        buffered = lines.pop()!
        for (const line of lines) {
          const [kind, value] = line.split(' ')
          if (kind === 'open') opened = Number(value)
          if (kind === 'synced') {
            maxSynced = Math.max(maxSynced, Number(value))
            // Kill at a chosen time after the first sync, mid-stream of appends.
            timer ??= setTimeout(() => {
              child.kill('SIGKILL')
              resolve()
            }, killAfterMs)
          }
        }
      })
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      void exited.then((code) => {
        clearTimeout(timer)
        if (code !== null) reject(new Error(`writer exited with ${code} before it was killed:\n${stderr}`))
      })
    })
  } finally {
    child.kill('SIGKILL')
    await exited
  }
  return { maxSynced, opened }
}

describe('durable storage under SIGKILL', () => {
  it('keeps every write the child reported synced, in order and intact, across repeated kills', async () => {
    // Fixed kill delays (ms after the first sync) so the test is repeatable in shape;
    // where exactly the kill lands in the write stream still varies run to run.
    const delays = [40, 170, 90, 300, 15]
    let previousSynced = 0
    for (const [i, delay] of delays.entries()) {
      const { maxSynced, opened } = await runAndKill(i + 1, delay)
      // The child resumed from everything the previous run synced.
      expect(opened).toBeGreaterThanOrEqual(previousSynced)
      expect(maxSynced).toBeGreaterThan(opened)
      const storage = await openDurableStorage(dir)
      try {
        expect(storage.lastIndex()).toBeGreaterThanOrEqual(maxSynced)
        const snapshot = storage.snapshot()
        expect(storage.firstIndex()).toBe((snapshot?.index ?? 0) + 1)
        // Whole snapshots hold their entry's payload, streamed ones 64 KiB: either kind, never a partial file.
        if (snapshot !== undefined) {
          const intact = sameBytes(snapshot.data, expectedEntryData(snapshot.index)) || sameBytes(snapshot.data, expectedSnapshotData(snapshot.index))
          if (!intact) throw new Error(`after kill ${i + 1}: snapshot ${snapshot.index} is damaged`)
        }
        expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([])
        for (let index = storage.firstIndex(); index <= storage.lastIndex(); index++) {
          const entry = storage.entry(index)
          if (entry === undefined || entry.index !== index || !sameBytes(entry.data, expectedEntryData(index))) {
            throw new Error(`after kill ${i + 1}: entry ${index} is missing or wrong (lastIndex ${storage.lastIndex()})`)
          }
        }
        const synced = new DataView(storage.getHardState('synced')!.buffer.slice(0)).getFloat64(0, true)
        expect(synced).toBeGreaterThanOrEqual(maxSynced)
        expect(synced).toBeLessThanOrEqual(storage.lastIndex())
        previousSynced = maxSynced
      } finally {
        await storage.close()
      }
    }
  }, 60_000)
})

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
