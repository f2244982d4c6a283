// "Follower behind compaction" (issue 16): a follower BEHIND entries behind a leader that has compacted
// its log catches up while the leader keeps writing. Real core Replicas on the deterministic simulator
// (@synod/transport-memory): VIRTUAL time for the protocol (messages take 1–3 ms, no bandwidth model,
// so virtual time counts round trips, not bytes on a wire), and the wall time the process spent is
// reported beside it (CPU work: applying, checksumming, copying chunks, restoring).
import type { BenchResult } from '@synod/bench-kit'
import { membershipOf, type NodeId, type StateMachine } from '@synod/core'
import { memoryStorage, type MemoryStorage } from '@synod/storage'
import { Simulation, type SimulatedNode } from '@synod/transport-memory'
import { commandEntryData } from '../src/entry.js'
import { raft, type RaftOptions } from '../src/index.js'

const COMMAND_BYTES = 100
const ids = ['a', 'b', 'c']

/** Keeps every command, so the snapshot is ≈ entries × (COMMAND_BYTES + 4) bytes; a digest checks the states agree. */
class Blobs implements StateMachine {
  commands: Uint8Array[] = []
  digest = 0x811c9dc5
  apply(command: Uint8Array): Uint8Array {
    this.commands.push(command.slice())
    this.digest = Math.imul(this.digest ^ command[0]! ^ (command[1]! << 8) ^ (command[2]! << 16), 0x01000193) >>> 0
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
    this.commands = new Array<Uint8Array>(count)
    let at = 8
    for (let i = 0; i < count; i++) {
      const length = view.getUint32(at)
      this.commands[i] = snapshot.subarray(at + 4, at + 4 + length)
      at += 4 + length
    }
  }
}

function command(n: number): Uint8Array {
  const out = new Uint8Array(COMMAND_BYTES)
  out[0] = n & 0xff
  out[1] = (n >> 8) & 0xff
  out[2] = (n >> 16) & 0xff
  return out
}

/** `behind` committed entries of term 1, as a node would have written them. */
function seeded(behind: number): MemoryStorage {
  const storage = memoryStorage()
  for (let from = 1; from <= behind; from += 10_000) {
    const entries = []
    for (let i = from; i < Math.min(behind + 1, from + 10_000); i++) entries.push({ index: i, term: 1, data: commandEntryData(command(i)) })
    storage.append(entries)
  }
  const hard = new Uint8Array(8 + 2 + 8)
  new DataView(hard.buffer).setUint32(4, 1)
  storage.setHardState('raft.hardState', hard)
  void storage.sync()
  return storage
}

export interface BehindCompactionRun {
  behind: number
  writesPerMs: number
  /** Virtual ms from the heal until the follower applied everything the leader had committed at the heal and is within 100 entries of its commit index. */
  catchUpVirtualMs: number | undefined
  /** Wall ms the process spent over that stretch. */
  catchUpWallMs: number | undefined
  committedDuringCatchUp: number
  snapshotBytes: number
  transfersStarted: number
  restarts: number
  chunks: number
  installed: number
  elections: number
  sameState: boolean
}

export async function behindCompaction(behind: number, writesPerMs: number, budgetMs = 20_000): Promise<BehindCompactionRun> {
  const sim = new Simulation({ seed: 11, maxEvents: 50_000_000 })
  const machines = new Map<NodeId, Blobs>()
  // The leader compacts every 100k entries and keeps etcd's default trailing window: c is far behind both.
  const options: Partial<RaftOptions> = { snapshotThreshold: 100_000, maxApplyEntriesPerBatch: 10_000 }
  const nodes = new Map<NodeId, SimulatedNode<RaftOptions>>()
  for (const id of ids)
    nodes.set(
      id,
      sim.addNode({
        id,
        factory: raft,
        protocolOptions: options,
        membership: membershipOf(ids),
        storage: id === 'c' ? memoryStorage() : seeded(behind),
        createStateMachine: () => {
          const m = new Blobs()
          machines.set(id, m)
          return m
        },
        requestTimeoutMs: 600_000,
      }),
    )
  const status = (id: NodeId) => nodes.get(id)!.replica!.status()
  sim.network.isolate('c', ids)
  for (const node of nodes.values()) await node.start()
  await sim.runUntil(() => ['a', 'b'].some((id) => status(id).role === 'leader' && status(id).appliedIndex > behind), 600_000)
  const leader = ['a', 'b'].find((id) => status(id).role === 'leader')!
  await sim.runFor(200)
  if (nodes.get(leader)!.storage.firstIndex() <= 1) throw new Error('the leader did not compact')
  const termAtHeal = status(leader).term
  sim.network.heal()
  const healedAt = sim.now()
  const wallAtHeal = performance.now()
  const commitAtHeal = status(leader).commitIndex
  let catchUpVirtualMs: number | undefined
  let catchUpWallMs: number | undefined
  let commitAtCatchUp = 0
  let n = behind
  const writes: Array<Promise<unknown>> = []
  for (let t = 0; t < budgetMs && catchUpVirtualMs === undefined; t++) {
    for (let i = 0; i < writesPerMs; i++) writes.push(nodes.get(leader)!.replica!.propose(command(++n)).catch(() => undefined))
    await sim.runFor(1)
    const c = status('c')
    if (c.appliedIndex >= commitAtHeal && c.appliedIndex >= status(leader).commitIndex - 100) {
      catchUpVirtualMs = sim.now() - healedAt
      catchUpWallMs = performance.now() - wallAtHeal
      commitAtCatchUp = status(leader).commitIndex
    }
  }
  await sim.runFor(500)
  await Promise.all(writes)
  const stats = status(leader).detail!['snapshots'] as { started: number; restarts: number; chunks: number }
  const received = status('c').detail!['snapshotsReceived'] as { installed: number }
  const cMachine = machines.get('c')!
  const lMachine = machines.get(leader)!
  const run: BehindCompactionRun = {
    behind,
    writesPerMs,
    catchUpVirtualMs,
    catchUpWallMs: catchUpWallMs === undefined ? undefined : Math.round(catchUpWallMs),
    committedDuringCatchUp: commitAtCatchUp - commitAtHeal,
    snapshotBytes: nodes.get(leader)!.storage.snapshot()?.size ?? 0,
    transfersStarted: stats.started,
    restarts: stats.restarts,
    chunks: stats.chunks,
    installed: received.installed,
    elections: ids.map((id) => status(id).term).filter((t) => t !== termAtHeal).length,
    sameState: cMachine.commands.length === lMachine.commands.length && cMachine.digest === lMachine.digest,
  }
  for (const node of nodes.values()) node.replica?.halt()
  return run
}

export function behindCompactionResults(run: BehindCompactionRun): BenchResult[] {
  const params = { behind: run.behind, writesPerMs: run.writesPerMs, commandBytes: COMMAND_BYTES, time: 'virtual (simulator, 1–3 ms per message, no bandwidth model)' }
  if (run.restarts !== 0) throw new Error(`snapshot transfer restarted ${run.restarts} times (must be 0)`)
  if (run.catchUpVirtualMs === undefined || !run.sameState) throw new Error(`the follower did not catch up: ${JSON.stringify(run)}`)
  return [
    { name: `follower ${run.behind} entries behind compaction: catch-up (virtual)`, value: run.catchUpVirtualMs, unit: 'ms', params },
    { name: `follower ${run.behind} entries behind compaction: catch-up (wall)`, value: run.catchUpWallMs!, unit: 'ms', params },
    { name: `follower ${run.behind} entries behind compaction: snapshot restarts`, value: run.restarts, unit: 'count', params },
    {
      name: `follower ${run.behind} entries behind compaction: leader commits meanwhile`,
      value: run.committedDuringCatchUp,
      unit: 'entries',
      params: { ...params, snapshotBytes: run.snapshotBytes, chunks: run.chunks, transfersStarted: run.transfersStarted, installed: run.installed, elections: run.elections },
    },
  ]
}
