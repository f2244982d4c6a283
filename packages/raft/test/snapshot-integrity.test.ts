// InstallSnapshot transfers that go wrong (§7): a corrupted chunk, either side
// crashing mid-transfer, chunks of an old leader's term, malformed and oversized
// chunks. A snapshot is installed only once complete and its checksum verified.
import { InvalidMessageError, type NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeMessage, encodeMembership, MAX_SNAPSHOT_CHUNK_BYTES, raft, type RaftMessage, type SnapshotMessage } from '../src/index.js'
import { snapshotTesting } from '../src/snapshot-transfer.js'
import { decode, encodeMessage, MessageType, TestCluster } from './helpers/cluster.js'

afterEach(() => {
  snapshotTesting.skipChecksum = false
})

interface Received {
  chunks: number
  installed: number
  corruptChunks: number
  restarted: number
}
const received = (c: TestCluster, id: NodeId) => c.node(id).status.detail!['snapshotsReceived'] as Received
const sentStats = (c: TestCluster, id: NodeId) => c.node(id).status.detail!['snapshots'] as { started: number; completed: number; restarts: number }

/**
 * 3 nodes, 1 ms latency, snapshots every 10 entries, 32-byte chunks two at a time: a follower cut
 * off while 40 entries are written needs a snapshot of some 40 chunks. Returns before the heal.
 */
function behindCompaction(seed = 1) {
  const c = new TestCluster(['a', 'b', 'c'], {
    seed,
    latencyMs: 1,
    raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 32, maxInflightMessages: 2 },
  })
  c.startAll()
  const leader = c.waitForLeader()
  const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
  const other = ['a', 'b', 'c'].find((id) => id !== leader && id !== slow)!
  c.tick(20)
  c.isolate(slow)
  c.tick(200) // silent for over an election timeout: the leader compacts past it
  for (let i = 0; i < 40; i++) c.propose(leader, `value-${i}`)
  c.tick(50)
  expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(c.node(slow).status.lastIndex + 1)
  /** Snapshot chunks delivered to the slow follower so far. */
  const chunks: SnapshotMessage[] = []
  return { c, leader, slow, other, chunks }
}

/** Change one digit of a command in the chunk's bytes (the JSON stays valid, so only the checksum can tell). */
function corruptCommandDigit(bytes: Uint8Array, chunk: Uint8Array): boolean {
  const start = bytes.byteLength - chunk.byteLength
  const marker = new TextEncoder().encode('value-')
  for (let i = start; i + marker.length < bytes.byteLength; i++) {
    if (marker.every((b, k) => bytes[i + k] === b)) {
      const at = i + marker.length
      if (bytes[at]! < 0x30 || bytes[at]! > 0x39) continue
      bytes[at] = bytes[at] === 0x39 ? 0x30 : bytes[at]! + 1
      return true
    }
  }
  return false
}

function corruptOneChunk(c: TestCluster, slow: NodeId): () => number {
  let corrupted = 0
  c.filter = (e) => {
    if (e.to !== slow || corrupted > 0) return true
    const m = decode(e.bytes)
    if (m.type === MessageType.Snapshot && corruptCommandDigit(e.bytes, m.chunk)) corrupted++
    return true
  }
  return () => corrupted
}

describe('§7 snapshot integrity: checksummed chunks', () => {
  it('a corrupted chunk is dropped, counted and asked for again; the follower installs the exact snapshot', () => {
    const { c, leader, slow } = behindCompaction()
    const corrupted = corruptOneChunk(c, slow)
    c.heal()
    c.tick(300)
    expect(corrupted()).toBe(1)
    expect(received(c, slow).corruptChunks).toBe(1)
    expect(received(c, slow).installed).toBe(1)
    expect(sentStats(c, leader).restarts).toBe(0) // resent from the follower's offset, not from 0
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
  })

  it('without the checksum (switched off) the follower installs the corrupted snapshot and diverges', () => {
    snapshotTesting.skipChecksum = true
    const { c, leader, slow } = behindCompaction()
    const corrupted = corruptOneChunk(c, slow)
    c.heal()
    c.tick(300)
    expect(corrupted()).toBe(1)
    expect(received(c, slow).installed).toBe(1)
    expect(c.appliedCommands(slow)).not.toEqual(c.appliedCommands(leader))
    expect(c.appliedCommands(slow).length).toBe(c.appliedCommands(leader).length) // same length, one command altered
  })
})

describe('§7 snapshot transfer: crashes mid-transfer', () => {
  it('a follower that restarts mid-transfer (losing the partial snapshot) gets it again from 0, with no election', () => {
    const { c, leader, slow, chunks } = behindCompaction()
    const term = c.node(leader).status.term
    c.filter = (e) => {
      if (e.to !== slow) return true
      const m = decode(e.bytes)
      if (m.type === MessageType.Snapshot) chunks.push(m)
      return true
    }
    c.heal()
    c.runUntil(() => chunks.length >= 10, 100)
    expect(received(c, slow).installed).toBe(0)
    c.node(slow).crash()
    c.tick(5)
    c.node(slow).start()
    c.tick(300)
    expect(sentStats(c, leader).restarts).toBe(1) // the follower answered offset 0: start over
    expect(received(c, slow).installed).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
    expect(c.leaders()).toEqual([leader])
    for (const id of ['a', 'b', 'c']) expect(c.node(id).status.term).toBe(term)
  })

  it('a leader that crashes mid-transfer: the new leader starts its own transfer, the old leader’s chunks are ignored', () => {
    const { c, leader, slow, other, chunks } = behindCompaction()
    c.filter = (e) => {
      if (e.to !== slow) return true
      const m = decode(e.bytes)
      if (m.type === MessageType.Snapshot) chunks.push(m)
      return true
    }
    c.heal()
    c.runUntil(() => chunks.length >= 10, 100)
    const oldTerm = c.node(leader).status.term
    const late = chunks.at(-1)!
    c.node(leader).crash()
    c.runUntil(() => c.leaders().length === 1 && c.node(other).status.role === 'leader', 2000)
    c.propose(other, 'after')
    c.runUntil(() => received(c, slow).restarted >= 1, 500) // the new leader's transfer began at 0
    expect(received(c, slow).installed).toBe(0)
    // Chunks of the old leader's transfer arriving late (its next one, then a repeat) change nothing.
    const next: SnapshotMessage = { ...late, offset: late.offset + late.chunk.byteLength }
    for (const m of [next, late] as RaftMessage[]) c.enqueue([{ from: leader, to: slow, bytes: encodeMessage(m) }])
    c.tick(1)
    expect(c.node(slow).status.term).toBeGreaterThan(oldTerm)
    c.tick(300)
    expect(received(c, slow).restarted).toBe(1)
    expect(received(c, slow).installed).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(other))
    expect(c.appliedCommands(slow)).toContain('after')
    c.node(leader).start()
    c.tick(300)
    expect(c.appliedCommands(leader)).toEqual(c.appliedCommands(other))
  })
})

describe('§7 snapshot transfer: malformed and oversized chunks', () => {
  const limits = { maxEntryBytes: 1 << 20, maxSnapshotBytes: 1 << 30 }
  const meta = encodeMembership({ epoch: 0, voters: [{ id: 'a', publicKey: new Uint8Array(0) }], learners: [] })
  const chunkMessage = (chunk: Uint8Array, totalBytes: number, offset = 0): SnapshotMessage => ({
    type: MessageType.Snapshot,
    term: 3,
    index: 10,
    snapshotTerm: 2,
    totalBytes,
    offset,
    checksum: 0,
    meta,
    chunk,
  })

  it('the codec takes a chunk of MAX_SNAPSHOT_CHUNK_BYTES and refuses a larger one, one past the snapshot size, and the old unchecksummed layout', () => {
    const max = new Uint8Array(MAX_SNAPSHOT_CHUNK_BYTES)
    expect((decodeMessage(encodeMessage(chunkMessage(max, 1 << 24)), limits) as SnapshotMessage).chunk.byteLength).toBe(MAX_SNAPSHOT_CHUNK_BYTES)
    expect(() => decodeMessage(encodeMessage(chunkMessage(new Uint8Array(MAX_SNAPSHOT_CHUNK_BYTES + 1), 1 << 24)), limits)).toThrow(/over/)
    expect(() => decodeMessage(encodeMessage(chunkMessage(new Uint8Array(8), 12, 6)), limits)).toThrow(/past the snapshot size/)
    const old = encodeMessage(chunkMessage(new Uint8Array(4), 4))
    old[1] = 7 // the pre-checksum InstallSnapshot type
    expect(() => decodeMessage(old, limits)).toThrow(/unknown raft message type/)
    expect(() => raft.create(undefined as never, { snapshotChunkBytes: MAX_SNAPSHOT_CHUNK_BYTES + 1 })).toThrow(/snapshotChunkBytes/)
  })

  it('a follower drops and counts malformed and oversized chunks in the middle of a transfer, which goes on unharmed', () => {
    const { c, leader, slow, chunks } = behindCompaction()
    let injected = false
    const bad: Uint8Array[] = []
    c.filter = (e) => {
      if (e.to !== slow || bad.includes(e.bytes)) return true
      const m = decode(e.bytes)
      if (m.type !== MessageType.Snapshot) return true
      chunks.push(m)
      if (chunks.length === 5 && !injected) {
        injected = true
        const at = m.offset + m.chunk.byteLength
        bad.push(
          encodeMessage({ ...m, offset: at, chunk: new Uint8Array(MAX_SNAPSHOT_CHUNK_BYTES + 1), totalBytes: 1 << 24 }), // oversized
          encodeMessage({ ...m, offset: m.totalBytes - 1, chunk: new Uint8Array(2) }), // runs past the end
          encodeMessage(m).subarray(0, 40), // truncated
          new Uint8Array([...encodeMessage(m), 0]), // trailing bytes
        )
        c.enqueue(bad.map((bytes) => ({ from: leader, to: slow, bytes })))
      }
      return true
    }
    c.heal()
    c.tick(300)
    expect(injected).toBe(true)
    expect(c.node(slow).invalidMessages).toBe(4)
    expect(received(c, slow).restarted).toBe(0)
    expect(received(c, slow).installed).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
    expect(() => c.node(slow).raft.receive(leader, encodeMessage(chunkMessage(new Uint8Array(3), 2)))).toThrow(InvalidMessageError)
  })
})
