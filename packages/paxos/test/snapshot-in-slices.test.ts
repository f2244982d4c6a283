// A node's own snapshot taken a slice at a time (ADR 0025, as Raft's): real core Replicas on the
// simulator with the KV state machine, whose `beginSnapshot` the Replica drives one step per input
// between batches. Slots keep being executed while a snapshot is taken; what is stored must be the
// state at the snapshot's slot, byte for byte what a one-shot snapshot of that state gives.
import { bytesEqual, membershipOf, type Committed, type NodeId, type SnapshotJob } from '@synod/core'
import { KvStateMachine, kvCommands } from '@synod/kv'
import { memoryStorage, type MemoryStorage } from '@synod/storage'
import { Simulation, type SimulatedNode } from '@synod/transport-memory'
import { afterEach, describe, expect, it } from 'vitest'
import { paxos, type PaxosOptions } from '../src/index.js'
import { snapshotTesting } from '../src/snapshot-transfer.js'

afterEach(() => {
  snapshotTesting.oneShotSnapshots = false
})

const ids = ['a', 'b', 'c']

/** Tiny slices, so a snapshot of a few hundred keys takes dozens of steps. */
class SlicedKv extends KvStateMachine {
  override beginSnapshot(): SnapshotJob {
    return super.beginSnapshot({ sliceBytes: 256, sortRunKeys: 16 })
  }
}

interface Run {
  /** The commands executed, by slot (the same on every node). */
  commits: Map<number, Uint8Array>
  nodes: Map<NodeId, SimulatedNode<PaxosOptions>>
  machines: Map<NodeId, KvStateMachine>
  behind: NodeId
  /** Every snapshot a node saved of its own (not ones received), with its slot. */
  saved: Array<{ id: NodeId; index: number; data: Uint8Array }>
  /** Commits executed on a node while its own snapshot was being taken. */
  appliedWhileTaking: number
}

/** A memory storage that records the snapshots the node takes itself (received ones are handed over). */
function recording(id: NodeId, saved: Run['saved']): MemoryStorage {
  const storage = memoryStorage()
  const save = storage.saveSnapshot.bind(storage)
  storage.saveSnapshot = (snapshot, options) => {
    if (options?.handOver !== true) saved.push({ id, index: snapshot.index, data: snapshot.data.slice() })
    save(snapshot, options)
  }
  return storage
}

async function run(seed: number): Promise<Run> {
  const sim = new Simulation({ seed })
  const machines = new Map<NodeId, KvStateMachine>()
  const commits = new Map<number, Uint8Array>()
  const nodes = new Map<NodeId, SimulatedNode<PaxosOptions>>()
  let appliedWhileTaking = 0
  const saved: Run['saved'] = []
  for (const id of ids)
    nodes.set(
      id,
      sim.addNode({
        id,
        factory: paxos,
        protocolOptions: { snapshotEvery: 150, snapshotCatchUpSlots: 20 },
        membership: membershipOf(ids),
        storage: recording(id, saved),
        createStateMachine: () => {
          const m = new SlicedKv()
          machines.set(id, m)
          return m
        },
        onCommit: (entry: Committed) => {
          commits.set(entry.index, entry.command)
          const detail = nodes.get(id)?.replica?.status().detail as { localSnapshots?: { running: boolean } } | undefined
          if (detail?.localSnapshots?.running === true) appliedWhileTaking++
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
  return { commits, nodes, machines, appliedWhileTaking, behind, saved }
}

/** The one-shot snapshot of the state after the commands up to `index`. */
function oneShotAt(commits: Map<number, Uint8Array>, index: number): Uint8Array {
  const kv = new KvStateMachine()
  for (const i of [...commits.keys()].sort((x, y) => x - y)) if (i <= index) kv.apply(commits.get(i)!, i)
  return kv.snapshot()
}

describe('ADR 0025 in Paxos: a node takes its snapshot in slices while it keeps executing slots', () => {
  it('stores byte for byte the one-shot snapshot of the state at its slot; a replica caught up with it has the same state', async () => {
    const r = await run(3)
    expect(r.saved.length).toBeGreaterThanOrEqual(8)
    for (const { id, index, data } of r.saved) expect(bytesEqual(data, oneShotAt(r.commits, index)), `${id}'s snapshot at ${index}`).toBe(true)
    for (const id of ids) {
      const replica = r.nodes.get(id)!.replica!
      const detail = replica.status().detail as { localSnapshots: { taken: number } }
      const stored = r.nodes.get(id)!.storage.snapshot()!
      expect(stored, id).toBeDefined()
      expect(bytesEqual(stored.data, oneShotAt(r.commits, stored.index)), `${id}'s snapshot at ${stored.index}`).toBe(true)
      // Every node took several of its own, each over many steps.
      if (id !== r.behind) expect(detail.localSnapshots.taken, id).toBeGreaterThanOrEqual(3)
      expect(replica.status().counters['snapshots.steps'] ?? 0, id).toBeGreaterThan(10 * (replica.status().counters['snapshots.taken'] ?? 0))
    }
    expect(r.appliedWhileTaking).toBeGreaterThan(0) // slots were executed between the slices
    // The replica came back behind the compaction point: it installed a snapshot, and converged.
    const behind = r.nodes.get(r.behind)!.replica!.status()
    expect((behind.detail as { snapshotsInstalled: number }).snapshotsInstalled).toBeGreaterThanOrEqual(1)
    const applied = ids.map((id) => r.nodes.get(id)!.replica!.status().appliedIndex)
    expect(new Set(applied).size).toBe(1)
    const snapshots = ids.map((id) => r.machines.get(id)!.snapshot())
    expect(bytesEqual(snapshots[0]!, snapshots[1]!) && bytesEqual(snapshots[0]!, snapshots[2]!)).toBe(true)
  }, 120_000)

  it('the one-shot path (test switch) stores the same bytes, with no slot executed while a snapshot is taken', async () => {
    snapshotTesting.oneShotSnapshots = true
    const r = await run(3)
    expect(r.saved.length).toBeGreaterThanOrEqual(8)
    for (const { id, index, data } of r.saved) expect(bytesEqual(data, oneShotAt(r.commits, index)), `${id}'s snapshot at ${index}`).toBe(true)
    for (const id of ids) expect(r.nodes.get(id)!.replica!.status().counters['snapshots.steps'] ?? 0).toBe(0)
    expect(r.appliedWhileTaking).toBe(0)
  }, 120_000)
})
