// A node's own snapshot taken a slice at a time (ADR 0025): real core Replicas on the simulator with
// the KV state machine, whose `beginSnapshot` the Replica drives one step per input between batches.
// Entries keep being applied while a snapshot is taken; what is stored must be the state at the
// snapshot's index, byte for byte what a one-shot snapshot of that state gives.
import { bytesEqual, membershipOf, type Committed, type NodeId, type SnapshotJob, type SnapshotSink, type StoredSnapshot } from '@synod/core'
import { KvStateMachine, kvCommands, type KvRestoreJob } from '@synod/kv'
import { memoryStorage, type MemoryStorage } from '@synod/storage'
import { Simulation, type SimulatedNode } from '@synod/transport-memory'
import { afterEach, describe, expect, it } from 'vitest'
import { raft, type RaftOptions } from '../src/index.js'
import { snapshotTesting } from '../src/snapshot-transfer.js'

afterEach(() => {
  snapshotTesting.oneShotSnapshots = false
})

const ids = ['a', 'b', 'c']

/** Tiny slices, so a snapshot of a few hundred keys takes dozens of steps. */
class SlicedKv extends KvStateMachine {
  override beginSnapshot(options?: { readonly into?: SnapshotSink }): SnapshotJob {
    return super.beginSnapshot({ ...options, sliceBytes: 256, sortRunKeys: 16 })
  }
  override beginRestore(snapshot: Uint8Array): KvRestoreJob {
    return super.beginRestore(snapshot, { sliceEntries: 8 })
  }
}

interface Run {
  /** Per node: the commands committed, by index (the same on every node). */
  commits: Map<number, Uint8Array>
  nodes: Map<NodeId, SimulatedNode<RaftOptions>>
  machines: Map<NodeId, KvStateMachine>
  behind: NodeId
  /** Every snapshot a node saved of its own (not ones received), with its index, and how many writes it came in (0: saved whole). */
  saved: Array<{ id: NodeId; index: number; data: Uint8Array; writes: number }>
  /** Per node: how often the whole `data` of a stored snapshot was asked for (ADR 0027: only to restore from it). */
  dataReads: Map<NodeId, number>
  /** Commits applied on `a` while its own snapshot was being taken. */
  appliedWhileTaking: number
}

/**
 * A memory storage that records the snapshots the node takes itself: streamed into storage without
 * a size up front (ADR 0027; received ones announce theirs), or saved whole by the one-shot path.
 */
function recording(id: NodeId, saved: Run['saved'], dataReads: Run['dataReads']): MemoryStorage {
  const storage = memoryStorage()
  const save = storage.saveSnapshot.bind(storage)
  storage.saveSnapshot = (snapshot, options) => {
    if (options?.handOver !== true) saved.push({ id, index: snapshot.index, data: snapshot.data.slice(), writes: 0 })
    save(snapshot, options)
  }
  const begin = storage.beginSnapshot.bind(storage)
  storage.beginSnapshot = (index, term, meta, options) => {
    const writer = begin(index, term, meta, options)
    if (options?.size !== undefined) return writer
    let writes = 0
    const write = writer.write.bind(writer)
    writer.write = (chunk) => {
      writes++
      write(chunk)
    }
    const commit = writer.commit.bind(writer)
    writer.commit = () => {
      commit()
      saved.push({ id, index, data: stored()!.data.slice(), writes })
    }
    return writer
  }
  // Count who asks for a stored snapshot's whole data; one view per stored snapshot, so it keeps its identity.
  const views = new WeakMap<StoredSnapshot, StoredSnapshot>()
  const stored = storage.snapshot.bind(storage)
  dataReads.set(id, 0)
  storage.snapshot = () => {
    const s = stored()
    if (s === undefined) return undefined
    let view = views.get(s)
    if (view === undefined) {
      view = new Proxy(s, {
        get(target, property) {
          if (property === 'data') dataReads.set(id, dataReads.get(id)! + 1)
          return Reflect.get(target, property, target) as unknown
        },
      })
      views.set(s, view)
    }
    return view
  }
  return storage
}

async function run(seed: number): Promise<Run> {
  const sim = new Simulation({ seed })
  const machines = new Map<NodeId, KvStateMachine>()
  const commits = new Map<number, Uint8Array>()
  const nodes = new Map<NodeId, SimulatedNode<RaftOptions>>()
  let appliedWhileTaking = 0
  const saved: Run['saved'] = []
  const dataReads: Run['dataReads'] = new Map()
  for (const id of ids)
    nodes.set(
      id,
      sim.addNode({
        id,
        factory: raft,
        protocolOptions: { snapshotThreshold: 150, snapshotCatchUpEntries: 20 },
        membership: membershipOf(ids),
        storage: recording(id, saved, dataReads),
        createStateMachine: () => {
          const m = new SlicedKv()
          machines.set(id, m)
          return m
        },
        onCommit: (entry: Committed) => {
          commits.set(entry.index, entry.command)
          const detail = nodes.get(id)?.replica?.status().detail as { localSnapshots?: { running: boolean } } | undefined
          if (id === 'a' && detail?.localSnapshots?.running === true) appliedWhileTaking++
        },
      }),
    )
  const status = (id: NodeId) => nodes.get(id)!.replica!.status()
  for (const node of nodes.values()) await node.start()
  await sim.runUntil(() => ids.some((id) => status(id).role === 'leader'), 5000)
  const leader = () => ids.find((id) => status(id).role === 'leader')!
  // A follower is cut off for a while so that it comes back behind the leader's compaction point.
  const behind = ids.find((id) => id !== leader())!
  let n = 0
  const writes: Array<Promise<unknown>> = []
  const write = () => {
    const k = n++
    writes.push(nodes.get(leader())!.replica!.propose(kvCommands.put(`key/${(k * 37) % 400}`, new Uint8Array([k & 0xff, k >> 8]))).catch(() => undefined))
  }
  for (let t = 0; t < 400; t++) {
    if (t === 50) sim.network.isolate(behind, ids)
    if (t === 300) sim.network.heal()
    for (let i = 0; i < 4; i++) write()
    await sim.runFor(1)
  }
  await sim.runFor(1000)
  await Promise.all(writes)
  return { commits, nodes, machines, appliedWhileTaking, behind, saved, dataReads: new Map(dataReads) }
}

/** The one-shot snapshot of the state after the commands up to `index`. */
function oneShotAt(commits: Map<number, Uint8Array>, index: number): Uint8Array {
  const kv = new KvStateMachine()
  for (const i of [...commits.keys()].sort((x, y) => x - y)) if (i <= index) kv.apply(commits.get(i)!, i)
  return kv.snapshot()
}

describe('ADR 0025: a node takes its snapshot in slices while it keeps applying, and restores a received one in slices', () => {
  it('stores byte for byte the one-shot snapshot of the state at its index; a follower caught up with it has the same state', async () => {
    const r = await run(3)
    expect(r.saved.length).toBeGreaterThanOrEqual(8)
    for (const { id, index, data } of r.saved) expect(bytesEqual(data, oneShotAt(r.commits, index)), `${id}'s snapshot at ${index}`).toBe(true)
    // ADR 0027: each was streamed into storage slice by slice, never handed over as one buffer ...
    for (const { id, index, writes } of r.saved) expect(writes, `${id}'s snapshot at ${index}`).toBeGreaterThan(10)
    // ... and no node asked storage for a whole snapshot but to restore a received one: the leader's transfers read chunks.
    for (const id of ids) {
      const installed = (r.nodes.get(id)!.replica!.status().detail as { snapshotsReceived: { installed: number } }).snapshotsReceived.installed
      expect(r.dataReads.get(id), id).toBe(installed)
    }
    const leaderStats = ids.map((id) => (r.nodes.get(id)!.replica!.status().detail as { snapshots: { chunks: number } }).snapshots.chunks)
    expect(Math.max(...leaderStats)).toBeGreaterThan(0)
    for (const id of ids) {
      const replica = r.nodes.get(id)!.replica!
      const detail = replica.status().detail as { localSnapshots: { taken: number }; snapshotsReceived: { installed: number } }
      const stored = r.nodes.get(id)!.storage.snapshot()!
      expect(stored, id).toBeDefined()
      expect(bytesEqual(stored.data, oneShotAt(r.commits, stored.index)), `${id}'s snapshot at ${stored.index}`).toBe(true)
      // Every node took several of its own, each over many steps.
      if (id !== r.behind) expect(detail.localSnapshots.taken, id).toBeGreaterThanOrEqual(3)
      expect(replica.status().counters['snapshots.steps'] ?? 0, id).toBeGreaterThan(10 * (replica.status().counters['snapshots.taken'] ?? 0))
    }
    expect(r.appliedWhileTaking).toBeGreaterThan(0) // entries were applied between the slices
    // The follower came back behind the compaction point: it installed a leader's snapshot, and converged.
    const behind = r.nodes.get(r.behind)!.replica!.status()
    const c = behind.detail as { snapshotsReceived: { installed: number } }
    expect(c.snapshotsReceived.installed).toBeGreaterThanOrEqual(1)
    // ... restored in slices (≈400 keys, 8 per step), while it kept receiving and appending.
    expect(behind.counters['snapshots.restoreSteps'] ?? 0).toBeGreaterThan(50)
    const applied = ids.map((id) => r.nodes.get(id)!.replica!.status().appliedIndex)
    expect(new Set(applied).size).toBe(1)
    const snapshots = ids.map((id) => r.machines.get(id)!.snapshot())
    expect(bytesEqual(snapshots[0]!, snapshots[1]!) && bytesEqual(snapshots[0]!, snapshots[2]!)).toBe(true)
  }, 120_000)

  it('the one-shot path (test switch) stores the same bytes at the same kind of index', async () => {
    snapshotTesting.oneShotSnapshots = true
    const r = await run(3)
    for (const { id, index, data } of r.saved) expect(bytesEqual(data, oneShotAt(r.commits, index)), `${id}'s snapshot at ${index}`).toBe(true)
    for (const id of ids) {
      const stored = r.nodes.get(id)!.storage.snapshot()!
      expect(bytesEqual(stored.data, oneShotAt(r.commits, stored.index))).toBe(true)
      expect(r.nodes.get(id)!.replica!.status().counters['snapshots.steps'] ?? 0).toBe(0)
      expect(r.nodes.get(id)!.replica!.status().counters['snapshots.restoreSteps'] ?? 0).toBe(0)
    }
    expect(r.appliedWhileTaking).toBe(0)
  }, 120_000)
})
