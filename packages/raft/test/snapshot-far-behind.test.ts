// A follower 100k entries behind catches up by a chunked InstallSnapshot while
// the leader keeps committing (dissertation §5.3 / etcd-io/raft): real core
// Replicas on the simulator (@synod/transport-memory, virtual time), so the
// Replica's message-size limit (core DEFAULT_MAX_MESSAGE_BYTES, 16 MiB) is the
// one a daemon has. With chunking switched off (test-only) the ~20 MB snapshot
// is one message over that limit: dropped and counted on arrival, every time,
// and the follower never catches up.
import { DEFAULT_MAX_MESSAGE_BYTES, membershipOf, type NodeId, type StateMachine } from '@synod/core'
import { memoryStorage, type MemoryStorage } from '@synod/storage'
import { Simulation, type SimulatedNode } from '@synod/transport-memory'
import { afterEach, describe, expect, it } from 'vitest'
import { commandEntryData } from '../src/entry.js'
import { raft, type RaftOptions } from '../src/index.js'
import { snapshotTesting } from '../src/snapshot-transfer.js'

afterEach(() => {
  snapshotTesting.unchunked = false
})

const BEHIND = 100_000
const COMMAND_BYTES = 200
const ids = ['a', 'b', 'c']

/** Keeps every command (so the snapshot is ≈ BEHIND × COMMAND_BYTES, over 16 MiB) and a digest of them in order. */
class Blobs implements StateMachine {
  commands: Uint8Array[] = []
  digest = 0x811c9dc5
  apply(command: Uint8Array): Uint8Array {
    this.commands.push(command.slice())
    for (const byte of command) this.digest = Math.imul(this.digest ^ byte, 0x01000193) >>> 0
    return new Uint8Array(0)
  }
  query(): Uint8Array {
    return new Uint8Array(0)
  }
  snapshot(): Uint8Array {
    let size = 8
    for (const c of this.commands) size += 4 + c.byteLength
    const out = new Uint8Array(size)
    const view = new DataView(out.buffer)
    view.setUint32(0, this.digest)
    view.setUint32(4, this.commands.length)
    let at = 8
    for (const c of this.commands) {
      view.setUint32(at, c.byteLength)
      out.set(c, at + 4)
      at += 4 + c.byteLength
    }
    return out
  }
  restore(snapshot: Uint8Array): void {
    const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength)
    this.digest = view.getUint32(0)
    const count = view.getUint32(4)
    this.commands = []
    let at = 8
    for (let i = 0; i < count; i++) {
      const length = view.getUint32(at)
      this.commands.push(snapshot.slice(at + 4, at + 4 + length))
      at += 4 + length
    }
  }
}

function command(n: number): Uint8Array {
  const out = new Uint8Array(COMMAND_BYTES)
  new DataView(out.buffer).setUint32(0, n)
  out.fill(n % 251, 4)
  return out
}

/** `BEHIND` entries of term 1 and a current term of 1, written as a node would have (as test/helpers' seedLog). */
function seeded(): MemoryStorage {
  const storage = memoryStorage()
  const entries = []
  for (let i = 1; i <= BEHIND; i++) entries.push({ index: i, term: 1, data: commandEntryData(command(i)) })
  storage.append(entries)
  const hard = new Uint8Array(8 + 2 + 8)
  new DataView(hard.buffer).setUint32(4, 1)
  storage.setHardState('raft.hardState', hard)
  void storage.sync()
  return storage
}

interface Run {
  caughtUpAt: number | undefined
  committedDuringTransfer: number
  terms: number[]
  leaderTermAtHeal: number
  largestMessage: number
  oversizedDrops: number
  leaderStats: { started: number; completed: number; chunks: number; restarts: number }
  received: { chunks: number; installed: number; corruptChunks: number }
  sameState: boolean
}

/**
 * a and b hold 100k entries, c none and is cut off: a and b elect a leader,
 * commit and apply the backlog and compact (snapshot every 10k entries). Then c
 * is healed while the leader commits 4 writes per ms for `loadMs`.
 */
async function farBehind(loadMs: number): Promise<Run> {
  const sim = new Simulation({ seed: 5 })
  const machines = new Map<NodeId, Blobs>()
  const options: Partial<RaftOptions> = { snapshotThreshold: 10_000, maxApplyEntriesPerBatch: 10_000 }
  const nodes = new Map<NodeId, SimulatedNode<RaftOptions>>()
  for (const id of ids)
    nodes.set(
      id,
      sim.addNode({
        id,
        factory: raft,
        protocolOptions: options,
        membership: membershipOf(ids),
        storage: id === 'c' ? memoryStorage() : seeded(),
        createStateMachine: () => {
          const m = new Blobs()
          machines.set(id, m)
          return m
        },
      }),
    )
  const status = (id: NodeId) => nodes.get(id)!.replica!.status()
  sim.network.isolate('c', ids) // by name: no endpoint is attached before the nodes start
  for (const node of nodes.values()) await node.start()
  await sim.runUntil(() => ['a', 'b'].some((id) => status(id).role === 'leader' && status(id).appliedIndex > BEHIND), 20_000)
  const leader = ['a', 'b'].find((id) => status(id).role === 'leader')!
  await sim.runFor(500)
  expect(status('c').lastIndex).toBe(0) // c has heard nothing
  expect(nodes.get(leader)!.storage.firstIndex()).toBeGreaterThan(BEHIND - 10_000) // compacted: c needs a snapshot

  let largestMessage = 0
  sim.network.observeDeliveries((delivery) => {
    largestMessage = Math.max(largestMessage, delivery.message.byteLength)
  })
  const leaderTermAtHeal = status(leader).term
  sim.network.heal()
  const healedAt = sim.now()
  const commitAtHeal = status(leader).commitIndex
  let caughtUpAt: number | undefined
  let commitAtCatchUp = 0
  let n = BEHIND
  const writes: Array<Promise<unknown>> = []
  for (let t = 0; t < loadMs; t++) {
    for (let i = 0; i < 4; i++) writes.push(nodes.get(leader)!.replica!.propose(command(++n)).catch(() => undefined))
    await sim.runFor(1)
    if (caughtUpAt === undefined && status('c').appliedIndex >= commitAtHeal && status('c').appliedIndex >= status(leader).commitIndex - 100) {
      caughtUpAt = sim.now() - healedAt
      commitAtCatchUp = status(leader).commitIndex
    }
  }
  await sim.runFor(500) // writes stopped
  await Promise.all(writes)
  const detail = status(leader).detail!
  const received = status('c').detail!['snapshotsReceived'] as Run['received']
  const cMachine = machines.get('c')!
  const lMachine = machines.get(leader)!
  return {
    caughtUpAt,
    committedDuringTransfer: commitAtCatchUp - commitAtHeal,
    terms: ids.map((id) => status(id).term),
    leaderTermAtHeal,
    largestMessage,
    oversizedDrops: status('c').counters['dropped.oversized'] ?? 0,
    leaderStats: detail['snapshots'] as Run['leaderStats'],
    received,
    sameState: cMachine.commands.length === lMachine.commands.length && cMachine.digest === lMachine.digest,
  }
}

describe('§7 a follower 100k entries behind, under steady writes', () => {
  it('catches up by a chunked snapshot while commits continue, with no election and no message near the size limit', async () => {
    const run = await farBehind(1500)
    expect(run.caughtUpAt, 'caught up while writing').toBeDefined()
    expect(run.committedDuringTransfer).toBeGreaterThan(0) // the leader kept committing meanwhile
    expect(run.terms.every((t) => t === run.leaderTermAtHeal)).toBe(true) // no election, c never disrupted anyone
    expect(run.leaderStats.started).toBe(1)
    expect(run.leaderStats.completed).toBe(1)
    expect(run.leaderStats.restarts).toBe(0)
    expect(run.received.installed).toBe(1)
    expect(run.received.chunks).toBeGreaterThanOrEqual(Math.floor((BEHIND * COMMAND_BYTES) / (1 << 20)))
    expect(run.oversizedDrops).toBe(0)
    expect(run.largestMessage).toBeLessThan(2 << 20) // 1 MiB chunks
    expect(run.sameState).toBe(true)
  }, 300_000)

  it('with chunking switched off the snapshot is one message over the 16 MiB limit, dropped on every attempt, and the follower never catches up', async () => {
    snapshotTesting.unchunked = true
    const run = await farBehind(800)
    expect(run.caughtUpAt).toBeUndefined()
    expect(run.largestMessage).toBeGreaterThan(DEFAULT_MAX_MESSAGE_BYTES)
    expect(run.oversizedDrops).toBeGreaterThanOrEqual(2) // resent after each stall, dropped each time
    expect(run.received.installed).toBe(0)
    expect(run.sameState).toBe(false)
  }, 300_000)
})
