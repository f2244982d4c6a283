// Chunked snapshot catch-up (snapshot-transfer.ts): a replica tens of
// thousands of slots behind a truncated log gets the snapshot in chunks while
// writes go on, with no restart of the transfer; a lost chunk resumes at the
// acknowledged offset; a corrupt one is refused. The old rule (start over
// with each newer snapshot, truncate regardless) is switched on to show what
// the rules prevent.
import { describe, expect, it, afterEach } from 'vitest'
import { crc32c, snapshotTesting } from '../src/snapshot-transfer.js'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']

afterEach(() => {
  snapshotTesting.restartWithNewest = false
  snapshotTesting.skipChecksum = false
})

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  for (let i = 0; i + needle.byteLength <= haystack.byteLength; i++) if (needle.every((byte, j) => haystack[i + j] === byte)) return i
  throw new Error('chunk not found in its message')
}

interface FarBehind {
  c: TestCluster
  leader: string
  slow: string
  next: () => string
}

/** `slow` is cut off while `slots` slots are chosen (the log is truncated every 1000). */
function farBehind(slots: number): FarBehind {
  const c = new TestCluster(ids, { seed: 1, latencyMs: 2, paxos: { snapshotEvery: 1000, snapshotChunkBytes: 2048 } })
  c.startAll()
  const leader = c.waitForLeader()
  c.tick(60)
  const slow = ids.find((id) => id !== leader)!
  c.isolate(slow)
  let n = 0
  const next = () => `v${n++}`
  // 64 proposals per leader batch (one Accept per follower each), one batch per ms.
  const node = c.node(leader)
  let client = 5_000_000
  for (let i = 0; i < slots; i += 64) {
    node.batch(() => {
      for (let k = 0; k < 64 && i + k < slots; k++) node.paxos.propose(new TextEncoder().encode(next()), { id: client++ })
    })
    c.tick(1)
  }
  c.runUntil(() => c.node(leader).status.commitIndex === slots, 2000)
  expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(slots - 1000)
  return { c, leader, slow, next }
}

/** Heal and keep writing 5 commands per ms until `slow` is within one window of the leader (or the budget ends). */
function catchUpUnderWrites({ c, leader, slow, next }: FarBehind, budgetMs: number): boolean {
  c.heal()
  const end = c.now + budgetMs
  while (c.now < end) {
    for (let k = 0; k < 5; k++) c.propose(leader, next())
    c.tick(1)
    if (c.node(slow).status.commitIndex >= c.node(leader).status.commitIndex - 512 && c.node(slow).status.commitIndex > 1000) return true
  }
  return false
}

describe('chunked snapshot catch-up', () => {
  it('a replica 20,000 slots behind catches up under continuous writes with one transfer and no restart', () => {
    const setup = farBehind(20_000)
    const { c, leader, slow } = setup
    expect(catchUpUnderWrites(setup, 3000)).toBe(true)
    const sender = c.node(leader).status.detail!
    expect(sender['snapshotsSent']).toBe(1)
    expect(sender['snapshotRestarts']).toBe(0)
    // The snapshot is far larger than a chunk: it went in many chunks.
    expect(sender['snapshotChunks']).toBeGreaterThan(50)
    expect(c.node(slow).status.detail!['snapshotsInstalled']).toBe(1)
    // Then everything settles: the same commands everywhere.
    c.tick(300)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  }, 60_000)

  it('with the old rule (start over with each newer snapshot) the same transfer restarts', () => {
    snapshotTesting.restartWithNewest = true
    const setup = farBehind(8000)
    catchUpUnderWrites(setup, 1000)
    expect(setup.c.node(setup.leader).status.detail!['snapshotRestarts']).toBeGreaterThan(0)
  }, 60_000)

  it('a lost chunk is resent from the acknowledged offset, not from 0', () => {
    const c = new TestCluster(ids, { seed: 2, latencyMs: 1, paxos: { snapshotEvery: 50, snapshotCatchUpSlots: 0, snapshotChunkBytes: 256 } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const slow = ids.find((id) => id !== leader)!
    c.isolate(slow)
    for (let i = 0; i < 400; i++) c.propose(leader, `x${i}`)
    c.tick(100)
    c.heal()
    let chunks = 0
    let dropped = 0
    c.filter = (e) => {
      if (e.to !== slow || decode(e.bytes).type !== MessageType.Snapshot) return true
      chunks++
      // Drop the 10th and the 11th chunk.
      if (chunks === 10 || chunks === 11) {
        dropped++
        return false
      }
      return true
    }
    c.runUntil(() => c.node(slow).status.commitIndex === 400, 2000)
    expect(dropped).toBe(2)
    const sender = c.node(leader).status.detail!
    expect(sender['snapshotRestarts']).toBe(0)
    expect(sender['snapshotsSent']).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })

  it('a corrupt chunk is refused and sent again; without the checksum check a corrupt snapshot is installed', () => {
    for (const skip of [false, true]) {
      snapshotTesting.skipChecksum = skip
      const c = new TestCluster(ids, { seed: 3, latencyMs: 1, paxos: { snapshotEvery: 50, snapshotCatchUpSlots: 0, snapshotChunkBytes: 256 } })
      c.startAll()
      const leader = c.waitForLeader()
      c.tick(60)
      const slow = ids.find((id) => id !== leader)!
      c.isolate(slow)
      for (let i = 0; i < 120; i++) c.propose(leader, `y${i}`)
      c.tick(100)
      c.heal()
      let corrupted = false
      c.filter = (e) => {
        if (corrupted || e.to !== slow || decode(e.bytes).type !== MessageType.Snapshot) return true
        const m = decode(e.bytes) as { offset: number; chunk: Uint8Array }
        if (m.offset === 0) return true
        // Flip the lowest bit of the chunk's middle byte, in place in the message.
        const at = indexOf(e.bytes, m.chunk) + (m.chunk.byteLength >> 1)
        e.bytes[at] = e.bytes[at]! ^ 0x01
        corrupted = true
        return true
      }
      let installed = true
      try {
        c.runUntil(() => c.node(slow).status.commitIndex === 120, 1000)
        c.tick(50)
      } catch {
        installed = false // the test kit's state machine could not read the corrupt snapshot
      }
      expect(corrupted).toBe(true)
      if (!skip) {
        expect(c.node(slow).status.detail!['corruptChunks']).toBe(1)
        expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
      } else expect(installed && c.appliedCommands(slow).join() === c.appliedCommands(leader).join()).toBe(false)
    }
  })

  it('CRC-32C: the standard check value, and a running value equals the whole', () => {
    const text = new TextEncoder().encode('123456789')
    expect(crc32c(text)).toBe(0xe3069283)
    expect(crc32c(text.subarray(4), crc32c(text.subarray(0, 4)))).toBe(0xe3069283)
  })
})
