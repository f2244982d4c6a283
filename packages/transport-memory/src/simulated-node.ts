import {
  Replica,
  type Committed,
  type Membership,
  type NodeId,
  type ProtocolEvent,
  type ProtocolFactory,
  type Signer,
  type SnapshotWriter,
  type StateMachine,
  type Storage,
  type Verifier,
} from '@synod/core'
import type { SimulatedNetwork, SimulatedTransport } from './network.js'
import type { Simulation } from './simulation.js'

/** A Storage that can lose everything not yet synced, as @synod/storage's memoryStorage does. */
export interface CrashableStorage extends Storage {
  crash(): void
}

export interface SimulatedNodeOptions<Options = unknown> {
  readonly id: NodeId
  /** Network address; defaults to the id. Twins share an id and differ in address. */
  readonly address?: string
  readonly factory: ProtocolFactory<Options>
  readonly protocolOptions?: Partial<Options>
  readonly membership: Membership
  /** The node's disk: it outlives crashes. */
  readonly storage: CrashableStorage
  /** A fresh state machine per incarnation; the Replica restores it from the stored snapshot. */
  readonly createStateMachine: () => StateMachine
  readonly signer?: Signer
  readonly verifier?: Verifier
  /** Virtual ms a storage sync takes. 0 resolves at once (still asynchronously). Default 0. */
  readonly syncLatencyMs?: number
  readonly requestTimeoutMs?: number
  /** Wrap the factory per incarnation, e.g. with a byzantine adversary. */
  readonly wrapFactory?: (factory: ProtocolFactory<Options>, incarnation: number) => ProtocolFactory<Options>
  readonly onCommit?: (entry: Committed, incarnation: number) => void
  readonly onEvent?: (event: ProtocolEvent, incarnation: number) => void
  readonly onError?: (error: unknown, incarnation: number) => void
}

/**
 * One node of a simulated cluster: a core Replica on a simulated endpoint,
 * clock and random stream, with crash (halt, lose volatile state and
 * unsynced writes) and restart (a new Replica and protocol instance on the
 * same storage, a fresh state machine restored from the snapshot).
 */
export class SimulatedNode<Options = unknown> {
  readonly id: NodeId
  readonly address: string
  private current: Replica<Options> | undefined
  private endpoint: SimulatedTransport | undefined
  private disk: LatentStorage | undefined
  private incarnations = -1
  private readonly options: SimulatedNodeOptions<Options>

  constructor(
    private readonly simulation: Simulation,
    private readonly network: SimulatedNetwork,
    options: SimulatedNodeOptions<Options>,
  ) {
    this.options = options
    this.id = options.id
    this.address = options.address ?? options.id
  }

  /** 0 for the first run, 1 after the first restart, ... */
  get incarnation(): number {
    return this.incarnations
  }

  get running(): boolean {
    return this.current?.running ?? false
  }

  /** The Replica of the current incarnation (undefined while crashed). */
  get replica(): Replica<Options> | undefined {
    return this.current?.running === true ? this.current : undefined
  }

  get storage(): CrashableStorage {
    return this.options.storage
  }

  /** Start a new incarnation. */
  start(): Promise<void> {
    if (this.running) throw new Error(`node ${this.address} is already running`)
    const incarnation = ++this.incarnations
    const options = this.options
    this.endpoint = this.network.endpoint(this.id, this.address)
    this.disk = new LatentStorage(options.storage, this.simulation, this.address, options.syncLatencyMs ?? 0)
    const factory = options.wrapFactory?.(options.factory, incarnation) ?? options.factory
    const replica = new Replica<Options>({
      factory,
      ...(options.protocolOptions === undefined ? {} : { protocolOptions: options.protocolOptions }),
      self: this.id,
      membership: options.membership,
      transport: this.endpoint,
      storage: this.disk,
      clock: this.simulation.clock(this.address),
      random: this.simulation.random(`node:${this.address}#${incarnation}`),
      stateMachine: options.createStateMachine(),
      ...(options.signer === undefined ? {} : { signer: options.signer }),
      ...(options.verifier === undefined ? {} : { verifier: options.verifier }),
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      onCommit: (entry) => {
        this.simulation.trace('commit', this.address, incarnation, entry.index, entry.command)
        options.onCommit?.(entry, incarnation)
      },
      onEvent: (event) => options.onEvent?.(event, incarnation),
      onError: (error) => options.onError?.(error, incarnation),
    })
    this.current = replica
    this.simulation.trace('start', this.address, incarnation)
    return replica.start()
  }

  /**
   * Crash: the Replica halts without syncing, the endpoint detaches (messages
   * in flight to it are lost), timers die and the storage loses every write
   * that was not synced yet.
   */
  crash(): void {
    if (this.current === undefined || !this.current.running) return
    this.simulation.trace('crash', this.address)
    this.current.halt()
    this.endpoint?.close()
    this.disk?.abandon()
    this.simulation.clock(this.address).clearAll()
    this.options.storage.crash()
    this.current = undefined
  }

  /** Crash (if running) and start a new incarnation. */
  restart(): Promise<void> {
    this.crash()
    return this.start()
  }

  /** Graceful stop at the end of a run. */
  async stop(): Promise<void> {
    const replica = this.current
    this.current = undefined
    if (replica !== undefined) await replica.stop()
    this.endpoint?.close()
  }
}

/**
 * Storage seen by one incarnation: every call goes to the node's disk, but
 * `sync()` takes `latencyMs` of virtual time, so a crash can land between a
 * write and its sync. After a crash the incarnation's syncs never complete.
 */
class LatentStorage implements Storage {
  private abandoned = false

  constructor(
    private readonly disk: CrashableStorage,
    private readonly simulation: Simulation,
    private readonly owner: string,
    private readonly latencyMs: number,
  ) {}

  abandon(): void {
    this.abandoned = true
  }

  getHardState(key: string) {
    return this.disk.getHardState(key)
  }
  setHardState(key: string, value: Uint8Array) {
    if (!this.abandoned) this.disk.setHardState(key, value)
  }
  firstIndex() {
    return this.disk.firstIndex()
  }
  lastIndex() {
    return this.disk.lastIndex()
  }
  term(index: number) {
    return this.disk.term(index)
  }
  entry(index: number) {
    return this.disk.entry(index)
  }
  entries(from: number, to: number, maxBytes?: number) {
    return this.disk.entries(from, to, maxBytes)
  }
  append(entries: Parameters<Storage['append']>[0]) {
    if (!this.abandoned) this.disk.append(entries)
  }
  truncateSuffix(fromIndex: number) {
    if (!this.abandoned) this.disk.truncateSuffix(fromIndex)
  }
  compactPrefix(uptoIndex: number) {
    if (!this.abandoned) this.disk.compactPrefix(uptoIndex)
  }
  snapshot() {
    return this.disk.snapshot()
  }
  saveSnapshot(...args: Parameters<Storage['saveSnapshot']>) {
    if (!this.abandoned) this.disk.saveSnapshot(...args)
  }
  beginSnapshot(...args: Parameters<Storage['beginSnapshot']>): SnapshotWriter {
    const writer = this.disk.beginSnapshot(...args)
    // Chunks may still be written (nothing shows until the commit); a crashed incarnation's commit is dropped.
    return {
      index: writer.index,
      term: writer.term,
      get bytesWritten() {
        return writer.bytesWritten
      },
      write: (chunk) => writer.write(chunk),
      commit: () => (this.abandoned ? writer.abort() : writer.commit()),
      abort: () => writer.abort(),
    }
  }
  hasPendingWrites() {
    return this.disk.hasPendingWrites()
  }
  sync(): Promise<void> {
    if (this.latencyMs <= 0) return this.abandoned ? new Promise<void>(() => {}) : this.disk.sync()
    return new Promise<void>((resolve, reject) => {
      this.simulation.schedule(
        this.latencyMs,
        () => {
          if (!this.abandoned) this.disk.sync().then(resolve, reject)
        },
        this.owner,
      )
    })
  }
  close() {
    return this.disk.close()
  }
}
