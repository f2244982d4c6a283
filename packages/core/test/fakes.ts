// Minimal fakes for testing the Replica runtime in isolation.
import { bufferedSnapshotWriter, wholeSnapshot } from '../src/index.js'
import type { Clock, LogEntry, MessageHandler, NodeId, SendOptions, Snapshot, StateMachine, Storage, StoredSnapshot, TimerId, Transport } from '../src/index.js'

export class ManualClock implements Clock {
  time = 0
  private nextId = 1
  private readonly timers = new Map<TimerId, { at: number; onFire: () => void }>()
  now(): number {
    return this.time
  }
  setTimer(afterMs: number, onFire: () => void): TimerId {
    const id = this.nextId++
    this.timers.set(id, { at: this.time + afterMs, onFire })
    return id
  }
  clearTimer(id: TimerId): void {
    this.timers.delete(id)
  }
  advance(ms: number): void {
    this.time += ms
    for (const [id, t] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= this.time && this.timers.delete(id)) t.onFire()
    }
  }
  get pending(): number {
    return this.timers.size
  }
}

/** Records sends with the storage state at the moment each message left. */
export class RecordingTransport implements Transport {
  readonly sent: Array<{ to: NodeId; message: Uint8Array; syncedAtSend: number; urgent?: boolean }> = []
  handler: MessageHandler | undefined
  started = false
  constructor(
    readonly self: NodeId,
    private readonly storage?: SlowStorage,
  ) {}
  send(to: NodeId, message: Uint8Array, options?: SendOptions): void {
    const sent = { to, message, syncedAtSend: this.storage?.syncedWrites ?? 0 }
    this.sent.push(options?.urgent === true ? { ...sent, urgent: true } : sent)
  }
  onMessage(handler: MessageHandler): void {
    this.handler = handler
  }
  deliver(from: NodeId, message: Uint8Array): void {
    this.handler?.(from, message)
  }
  async start(): Promise<void> {
    this.started = true
  }
  async stop(): Promise<void> {
    this.started = false
  }
}

/** A Storage whose sync() resolves only when the test says so; counts synced writes. */
export class SlowStorage implements Storage {
  writes = 0
  syncedWrites = 0
  syncCalls = 0
  failNextSync = false
  private releaseSync: Array<() => void> = []
  private readonly hard = new Map<string, Uint8Array>()
  private log: LogEntry[] = []
  private snap: StoredSnapshot | undefined
  autoSync = false

  getHardState(key: string) {
    return this.hard.get(key)
  }
  setHardState(key: string, value: Uint8Array) {
    this.hard.set(key, value)
    this.writes++
  }
  firstIndex() {
    return (this.snap?.index ?? 0) + 1
  }
  lastIndex() {
    return this.log.length > 0 ? this.log[this.log.length - 1]!.index : (this.snap?.index ?? 0)
  }
  term(index: number) {
    return this.entry(index)?.term ?? (this.snap?.index === index ? this.snap.term : undefined)
  }
  entry(index: number) {
    return this.log.find((e) => e.index === index)
  }
  entries(from: number, to: number) {
    return this.log.filter((e) => e.index >= from && e.index < to)
  }
  append(entries: readonly LogEntry[]) {
    this.log.push(...entries)
    this.writes += entries.length
  }
  truncateSuffix(fromIndex: number) {
    this.log = this.log.filter((e) => e.index < fromIndex)
    this.writes++
  }
  compactPrefix(uptoIndex: number) {
    this.log = this.log.filter((e) => e.index > uptoIndex)
  }
  snapshot() {
    return this.snap
  }
  saveSnapshot(s: Snapshot) {
    this.snap = wholeSnapshot(s)
    this.writes++
  }
  beginSnapshot(index: number, term: number, meta: Uint8Array) {
    return bufferedSnapshotWriter(index, term, meta, (s) => this.saveSnapshot(s))
  }
  hasPendingWrites() {
    return this.writes > this.syncedWrites
  }
  sync(): Promise<void> {
    this.syncCalls++
    const target = this.writes
    if (this.failNextSync) {
      this.failNextSync = false
      return Promise.reject(new Error('disk on fire'))
    }
    if (this.autoSync) {
      this.syncedWrites = target
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      this.releaseSync.push(() => {
        this.syncedWrites = target
        resolve()
      })
    })
  }
  /** Let every sync in flight complete. */
  release(): void {
    const waiting = this.releaseSync
    this.releaseSync = []
    for (const r of waiting) r()
  }
  get syncsInFlight(): number {
    return this.releaseSync.length
  }
  async close() {}
}

/** Appends each command to a list; the result is the list length as one byte. */
export class ListStateMachine implements StateMachine {
  items: string[] = []
  apply(command: Uint8Array): Uint8Array {
    const text = new TextDecoder().decode(command)
    if (text === 'boom') throw new Error('apply failed')
    this.items.push(text)
    return Uint8Array.of(this.items.length)
  }
  query(): Uint8Array {
    return new TextEncoder().encode(this.items.join(','))
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.items))
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(new TextDecoder().decode(data)) as string[]
  }
}

export const flush = () => new Promise<void>((resolve) => setImmediate(resolve))
