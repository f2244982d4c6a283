import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { memoryStorage, openDurableStorage } from '../src/node.js'

// The README's example, type-checked and run here; the test below fails if
// the README's copy drifts from this one.
async function example(dataDir: string): Promise<number[]> {
  // README example start
  // Simulator: a store with crash semantics.
  const sim = memoryStorage()
  sim.append([{ index: 1, term: 1, data: new TextEncoder().encode('x') }])
  sim.crash() // not synced, so lost
  console.log(sim.lastIndex()) // 0

  // Daemon: a durable write-ahead log in a data directory.
  let storage = await openDurableStorage(dataDir)
  storage.setHardState('term', Uint8Array.of(1))
  storage.append([{ index: storage.lastIndex() + 1, term: 1, data: new TextEncoder().encode('put a 1') }])
  await storage.sync() // one writev + one fdatasync for everything above
  await storage.close()

  storage = await openDurableStorage(dataDir) // recovers: replays the log
  console.log(storage.lastIndex(), storage.getHardState('term')) // 1 Uint8Array [ 1 ]
  await storage.close()
  // README example end
  return [sim.lastIndex()]
}

it('runs the README example', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-readme-'))
  const log = console.log
  const printed: unknown[][] = []
  console.log = (...args: unknown[]) => void printed.push(args)
  try {
    await example(join(dir, 'node-1'))
  } finally {
    console.log = log
    rmSync(dir, { recursive: true, force: true })
  }
  expect(printed).toEqual([[0], [1, Uint8Array.of(1)]])
})

it('README shows the example as tested', () => {
  const source = readFileSync(new URL(import.meta.url), 'utf8')
  const body = source.slice(source.indexOf('// README example start\n') + 24, source.indexOf('  // README example end'))
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const dedented = body
    .split('\n')
    .map((line) => line.replace(/^ {2}/, ''))
    .join('\n')
  expect(readme).toContain(dedented)
})
