// Test doubles for the simulator tests: a crashable in-memory storage, a
// counter state machine and a tiny protocol that pings peers and logs
// proposals locally. @synod/storage is not a dependency of this package.
import {
  CONTRACT_VERSION,
  type ClientRef,
  type LogEntry,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
  type Snapshot,
  type StateMachine,
  type StoredSnapshot,
  bufferedSnapshotWriter,
  wholeSnapshot,
} from '@synod/core'
import type { CrashableStorage } from '../src/index.js'

interface DiskState {
  hard: Map<string, Uint8Array>
  log: LogEntry[]
  snap: StoredSnapshot | undefined
}

function copyState(state: DiskState): DiskState {
  return { hard: new Map(state.hard), log: [...state.log], snap: state.snap }
}

export class TestStorage implements CrashableStorage {
  private live: DiskState = { hard: new Map(), log: [], snap: undefined }
  private durable: DiskState = copyState(this.live)
  private dirty = false
  syncs = 0

  getHardState(key: string) {
    return this.live.hard.get(key)
  }
  setHardState(key: string, value: Uint8Array) {
    this.live.hard.set(key, value)
    this.dirty = true
  }
  firstIndex() {
    return (this.live.snap?.index ?? 0) + 1
  }
  lastIndex() {
    const log = this.live.log
    return log.length > 0 ? log[log.length - 1]!.index : (this.live.snap?.index ?? 0)
  }
  term(index: number) {
    return this.entry(index)?.term ?? (this.live.snap?.index === index ? this.live.snap.term : undefined)
  }
  entry(index: number) {
    return this.live.log.find((e) => e.index === index)
  }
  entries(from: number, to: number) {
    return this.live.log.filter((e) => e.index >= from && e.index < to)
  }
  append(entries: readonly LogEntry[]) {
    this.live.log.push(...entries)
    this.dirty = true
  }
  truncateSuffix(fromIndex: number) {
    this.live.log = this.live.log.filter((e) => e.index < fromIndex)
    this.dirty = true
  }
  compactPrefix(uptoIndex: number) {
    this.live.log = this.live.log.filter((e) => e.index > uptoIndex)
    this.dirty = true
  }
  snapshot() {
    return this.live.snap
  }
  beginSnapshot(index: number, term: number, meta: Uint8Array) {
    return bufferedSnapshotWriter(index, term, meta, (snapshot) => this.saveSnapshot(snapshot))
  }
  saveSnapshot(snapshot: Snapshot) {
    this.live.snap = wholeSnapshot(snapshot)
    this.live.log = this.live.log.filter((e) => e.index > snapshot.index)
    this.dirty = true
  }
  hasPendingWrites() {
    return this.dirty
  }
  async sync() {
    this.syncs++
    this.durable = copyState(this.live)
    this.dirty = false
  }
  async close() {}
  crash() {
    this.live = copyState(this.durable)
    this.dirty = false
  }
}

/** Applies commands by counting them; the snapshot is the count. */
export class CountingStateMachine implements StateMachine {
  count = 0
  apply(): Uint8Array {
    this.count++
    return Uint8Array.of(this.count)
  }
  query(): Uint8Array {
    return Uint8Array.of(this.count)
  }
  snapshot(): Uint8Array {
    return Uint8Array.of(this.count)
  }
  restore(snapshot: Uint8Array): void {
    this.count = snapshot[0] ?? 0
  }
}

const PING = 1
const PONG = 2

/**
 * Pings every peer on a jittered timer and answers pings; orders proposals
 * in its own local log (no replication), so it commits after its own sync.
 */
export const pingProtocol: ProtocolFactory<{ intervalMs: number }> = {
  contract: CONTRACT_VERSION,
  name: 'ping',
  faultModel: 'crash',
  maxFaulty: (n) => Math.floor((n - 1) / 2),
  create(ctx: ProtocolContext, options): ProtocolNode {
    const intervalMs = options?.intervalMs ?? 10
    let timer: number | undefined
    let pongs = 0
    const tick = () => {
      for (const peer of ctx.membership.voters) if (peer.id !== ctx.self) ctx.send(peer.id, Uint8Array.of(PING, pongs & 0xff))
      timer = ctx.setTimer(intervalMs * (0.5 + ctx.random.next()), tick)
    }
    return {
      start() {
        tick()
      },
      receive(from, message) {
        if (message[0] === PING) ctx.send(from, Uint8Array.of(PONG))
        else if (message[0] === PONG) pongs++
      },
      propose(command: Uint8Array, client: ClientRef) {
        const index = ctx.storage.lastIndex() + 1
        ctx.storage.append([{ index, term: 1, data: command }])
        ctx.commit({ index, command, client })
      },
      status(): NodeStatus {
        return {
          id: ctx.self,
          role: 'solo',
          term: 1,
          leader: ctx.self,
          commitIndex: ctx.storage.lastIndex(),
          lastIndex: ctx.storage.lastIndex(),
          membership: ctx.membership,
          detail: { pongs },
        }
      },
      stop() {
        if (timer !== undefined) ctx.clearTimer(timer)
      },
    }
  },
}
