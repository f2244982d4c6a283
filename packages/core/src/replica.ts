import { DEFAULT_MAX_MESSAGE_BYTES } from './codec.js'
import { Counters } from './counters.js'
import {
  ConfigError,
  InvalidMessageError,
  OverloadedError,
  ProposalDroppedError,
  StoppedError,
  SynodError,
  TimeoutError,
  UnsupportedError,
} from './errors.js'
import { changedMembers, isMember, MAX_MEMBER_META_BYTES, type Membership, type MembershipChange, type NodeId } from './membership.js'
import {
  CONTRACT_VERSION,
  type ClientRef,
  type Committed,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolEvent,
  type ProtocolFactory,
  type ProtocolNode,
} from './protocol.js'
import type { Clock, Random, RestoreJob, Signer, SnapshotJob, StateMachine, TimerId, Transport, Verifier } from './runtime-contracts.js'
import type { Snapshot, SnapshotSink, Storage } from './storage.js'

export interface CommandResult {
  /** Log index at which the command was decided (0 for reads served locally). */
  readonly index: number
  /** The state machine's answer. */
  readonly result: Uint8Array
  /** Protocol-specific proof passed through from the commit (e.g. a reply certificate part). */
  readonly proof?: Uint8Array
}

export interface ReplicaOptions<Options = unknown> {
  readonly factory: ProtocolFactory<Options>
  readonly protocolOptions?: Partial<Options>
  readonly self: NodeId
  readonly membership: Membership
  readonly transport: Transport
  readonly storage: Storage
  readonly clock: Clock
  readonly random: Random
  readonly stateMachine: StateMachine
  readonly signer?: Signer
  readonly verifier?: Verifier
  /**
   * Inputs waiting beyond this are refused: client requests with OverloadedError, messages dropped and
   * counted. Client requests and protocol inputs are bounded separately, so clients cannot crowd out
   * heartbeats. Default 16384.
   */
  readonly maxQueuedInputs?: number
  /**
   * Admission control: client requests waiting for an answer (queued or inside the protocol) beyond
   * this are refused at once with OverloadedError, before the node drowns in work it cannot finish
   * within the request timeout. Default 16384.
   */
  readonly maxPendingRequests?: number
  /** Inputs handed to the protocol per batch, i.e. per storage sync. Default 4096. */
  readonly maxBatchInputs?: number
  /** Larger incoming messages are dropped and counted. Default 16 MiB. */
  readonly maxMessageBytes?: number
  /** Client requests without an answer after this fail with TimeoutError (outcome unknown). Default 5000 ms. */
  readonly requestTimeoutMs?: number
  /** Raw protocol commits, before the runtime filters re-commits: for checkers and history recorders. */
  readonly onCommit?: (entry: Committed) => void
  readonly onEvent?: (event: ProtocolEvent) => void
  /** Unexpected errors (protocol bugs, failing storage). The replica keeps going where it safely can. */
  readonly onError?: (error: unknown) => void
}

type Input =
  | { readonly kind: 'start' }
  | { readonly kind: 'message'; readonly from: NodeId; readonly message: Uint8Array }
  | { readonly kind: 'timer'; readonly id: TimerId; readonly onFire: () => void }
  | { readonly kind: 'propose'; readonly command: Uint8Array; readonly client: ClientRef }
  | { readonly kind: 'read'; readonly request: Uint8Array; readonly client: ClientRef }
  | { readonly kind: 'reconfigure'; readonly change: MembershipChange; readonly client: ClientRef }
  | { readonly kind: 'transfer'; readonly target: NodeId | undefined; readonly client: ClientRef }

interface Reply {
  readonly client: PendingClient
  readonly settle: () => void
}

interface PendingClient {
  readonly resolve: (result: CommandResult) => void
  readonly reject: (error: Error) => void
  readonly timer: TimerId
  /** For reads: the request to answer from the state machine. */
  readonly readRequest?: Uint8Array
}

const URGENT = { urgent: true } as const
const EMPTY = new Uint8Array(0)

type OnTaken = (taken: { index: number; data: Uint8Array } | undefined) => void
type Held =
  | { readonly kind: 'commit'; readonly entry: Committed }
  | { readonly kind: 'read'; readonly client: ClientRef }
  | { readonly kind: 'snapshot'; readonly onTaken: OnTaken; readonly into: SnapshotSink | undefined }

/**
 * Drives one protocol node: feeds it queued inputs in batches and carries out
 * its effects in the order that keeps promises safe — (0) send the messages
 * the protocol marked `beforeSync` (they promise nothing about this node's
 * disk), (1) make the batch's storage writes durable with one sync and tell
 * the protocol (`persisted`), (2) send the batch's other messages,
 * (3) answer the batch's clients. The simulator and the daemon run this same
 * class; only the Transport, Storage and Clock differ.
 */
export class Replica<Options = unknown> {
  readonly self: NodeId
  readonly counters = new Counters()
  private readonly options: ReplicaOptions<Options>
  private readonly maxQueuedInputs: number
  private readonly maxPendingRequests: number
  private readonly maxBatchInputs: number
  private readonly maxMessageBytes: number
  private readonly requestTimeoutMs: number
  private protocol: ProtocolNode | undefined
  /**
   * Inputs in three lanes, each FIFO, taken in this order per batch: liveness messages (the factory's
   * `isUrgent`), other protocol inputs (messages, timers), client requests. A busy node thus answers a
   * heartbeat or a vote before the client work queued ahead of it.
   */
  private urgent: Input[] = []
  private queue: Input[] = []
  private requests: Input[] = []
  private outbox: Array<{ to: NodeId; message: Uint8Array }> = []
  /** Messages the protocol marked `beforeSync`: they leave ahead of the batch's sync. */
  private earlyOutbox: Array<{ to: NodeId; message: Uint8Array }> = []
  /** Answers of the current batch, released after its sync; on halt they are failed instead. */
  private replies: Reply[] = []
  private repliesInFlight: Reply[] = []
  private readonly pending = new Map<number, PendingClient>()
  private readonly liveTimers = new Set<TimerId>()
  private nextClientId = 1
  private draining = false
  private state: 'new' | 'running' | 'stopped' | 'failed' = 'new'
  private appliedIndex = 0
  private currentMembership: Membership
  private idle: Promise<void> = Promise.resolve()
  /**
   * A received snapshot being restored in slices (ADR 0025), one step per timer input, and what the
   * protocol did meanwhile that needs the restored state: commits, reads, a snapshot — in order.
   */
  private restoring: { readonly job: RestoreJob; readonly held: Held[] } | undefined
  /** The snapshot the state machine is taking in slices (ADR 0025), one step per timer input. */
  private snapshotJob:
    | { readonly job: SnapshotJob; readonly index: number; readonly onTaken: OnTaken; readonly into: SnapshotSink | undefined }
    | undefined

  constructor(options: ReplicaOptions<Options>) {
    if (options.factory.contract !== CONTRACT_VERSION)
      throw new SynodError(
        'CONTRACT_MISMATCH',
        `protocol '${options.factory.name}' implements ${String(options.factory.contract)}, this runtime speaks ${CONTRACT_VERSION}`,
      )
    this.options = options
    this.self = options.self
    this.maxQueuedInputs = options.maxQueuedInputs ?? 16_384
    this.maxPendingRequests = options.maxPendingRequests ?? 16_384
    this.maxBatchInputs = options.maxBatchInputs ?? 4096
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000
    this.currentMembership = options.membership
  }

  /** Restore the state machine from the stored snapshot, start the protocol and the transport. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new SynodError('ALREADY_STARTED', 'a replica can be started once')
    const snapshot = this.options.storage.snapshot()
    if (snapshot !== undefined) {
      this.options.stateMachine.restore(snapshot.data)
      this.appliedIndex = snapshot.index
    }
    this.protocol = this.options.factory.create(this.context(), this.options.protocolOptions)
    this.state = 'running'
    this.options.transport.onMessage((from, message) => this.deliver(from, message))
    this.enqueue({ kind: 'start' })
    await this.options.transport.start()
  }

  /** Order a command. Resolves once it is committed and applied here; rejects with a typed SynodError. */
  propose(command: Uint8Array): Promise<CommandResult> {
    return this.request((client) => ({ kind: 'propose', command, client }))
  }

  /**
   * Linearizable read. Uses the protocol's read path when it has one, and
   * otherwise orders the request like a command (the state machine must
   * then accept read-only requests in `apply`).
   */
  read(request: Uint8Array): Promise<CommandResult> {
    if (this.protocol !== undefined && this.protocol.read === undefined) return this.propose(request)
    return this.request((client) => ({ kind: 'read', request, client }), request)
  }

  /**
   * Change the membership (add a voter or a learner, promote a learner,
   * remove a member). Resolves with the log index of the change once it is
   * committed; rejects with UnsupportedError when the protocol cannot change
   * its membership, NotLeaderError (with the leader hint) on a node that
   * cannot order the change, ProposalDroppedError while an earlier change is
   * still pending, ConfigError for a change that makes no sense.
   */
  reconfigure(change: MembershipChange): Promise<CommandResult> {
    if (this.protocol !== undefined && this.protocol.reconfigure === undefined)
      return Promise.reject(new UnsupportedError(`membership change in protocol '${this.options.factory.name}'`))
    if (changedMembers(change).some((m) => (m.meta?.byteLength ?? 0) > MAX_MEMBER_META_BYTES))
      return Promise.reject(new ConfigError(`member meta is over ${MAX_MEMBER_META_BYTES} bytes`, 'meta'))
    return this.request((client) => ({ kind: 'reconfigure', change, client }))
  }

  /**
   * Hand leadership to `target` (default: the voter the protocol finds most
   * up to date), e.g. before stopping or removing the leader. Resolves once
   * another node leads; rejects with UnsupportedError when the protocol has
   * no leader transfer, NotLeaderError on a node that does not lead,
   * TimeoutError when the protocol gave the transfer up.
   */
  async transferLeadership(target?: NodeId): Promise<void> {
    if (this.protocol !== undefined && this.protocol.transferLeadership === undefined)
      throw new UnsupportedError(`leadership transfer in protocol '${this.options.factory.name}'`)
    await this.request((client) => ({ kind: 'transfer', target, client }))
  }

  /** The membership this replica currently follows (the last 'membership' event, else the initial one). */
  membership(): Membership {
    return this.currentMembership
  }

  /** Read the local state without coordination: may be stale. */
  readLocal(request: Uint8Array): CommandResult {
    return { index: this.appliedIndex, result: this.options.stateMachine.query(request) }
  }

  status(): NodeStatus & { appliedIndex: number; counters: Record<string, number> } {
    if (this.protocol === undefined) throw new StoppedError('replica (not started)')
    return { ...this.protocol.status(), appliedIndex: this.appliedIndex, counters: this.counters.snapshot() }
  }

  get running(): boolean {
    return this.state === 'running'
  }

  /** Resolves when the queue is empty and no batch is in flight. */
  settled(): Promise<void> {
    return this.idle
  }

  /** Graceful stop: finish the batch in flight, sync storage, stop the transport, fail waiting clients. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    const wasRunning = this.state === 'running'
    this.halt()
    await this.idle
    if (wasRunning) {
      try {
        await this.options.storage.sync()
      } catch (error) {
        this.options.onError?.(error)
      }
    }
    await this.options.transport.stop()
  }

  /**
   * Stop at once with no sync, as a crash does: the simulator uses it to
   * crash a node. Unsynced writes are the storage's business to lose.
   */
  halt(): void {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    for (const id of this.liveTimers) this.options.clock.clearTimer(id)
    this.liveTimers.clear()
    this.urgent = []
    this.queue = []
    this.requests = []
    this.outbox = []
    this.earlyOutbox = []
    const unanswered = [...this.repliesInFlight, ...this.replies]
    this.replies = []
    this.repliesInFlight = []
    for (const reply of unanswered) reply.client.reject(new StoppedError())
    this.abandonSnapshotJob(false)
    this.restoring?.job.abort()
    this.restoring = undefined
    try {
      this.protocol?.stop()
    } catch (error) {
      this.options.onError?.(error)
    }
    this.failAllPending(new StoppedError())
  }

  // ---- inputs ----

  private deliver(from: NodeId, message: Uint8Array): void {
    if (this.state !== 'running') return
    this.counters.add('messages.received')
    if (message.byteLength > this.maxMessageBytes) return this.drop('oversized')
    if (!isMember(this.currentMembership, from) && !this.knownPeers.has(from)) return this.drop('non-member')
    if (this.options.factory.isUrgent?.(message) === true) {
      if (this.urgent.length >= this.maxQueuedInputs) return this.drop('queue-full')
      this.urgent.push({ kind: 'message', from, message })
      return this.scheduleDrain()
    }
    if (this.queue.length >= this.maxQueuedInputs) return this.drop('queue-full')
    this.enqueue({ kind: 'message', from, message })
  }

  /** Peers admitted through membership events (the initial membership is always admitted). */
  private readonly knownPeers = new Set<NodeId>()

  private request(build: (client: ClientRef) => Input, readRequest?: Uint8Array): Promise<CommandResult> {
    if (this.state === 'failed') return Promise.reject(new StoppedError('replica (failed; see logs)'))
    if (this.state !== 'running') return Promise.reject(new StoppedError())
    if (this.requests.length >= this.maxQueuedInputs)
      return Promise.reject(new OverloadedError(`replica input queue is full (${this.maxQueuedInputs})`))
    if (this.pending.size >= this.maxPendingRequests) {
      this.counters.add('requests.overloaded')
      return Promise.reject(new OverloadedError(`${this.pending.size} requests are in flight (maxPendingRequests)`))
    }
    return new Promise<CommandResult>((resolve, reject) => {
      const client: ClientRef = { id: this.nextClientId++ }
      const timer = this.options.clock.setTimer(this.requestTimeoutMs, () => {
        if (this.pending.delete(client.id)) {
          this.counters.add('requests.timeout')
          reject(new TimeoutError(this.requestTimeoutMs))
        }
      })
      this.pending.set(client.id, readRequest === undefined ? { resolve, reject, timer } : { resolve, reject, timer, readRequest })
      this.requests.push(build(client))
      this.scheduleDrain()
    })
  }

  private enqueue(input: Input): void {
    this.queue.push(input)
    this.scheduleDrain()
  }

  /** The next batch: urgent messages, then other protocol inputs, then client requests, at most maxBatchInputs. */
  private takeBatch(): Input[] {
    let batch: Input[] = []
    for (const lane of ['urgent', 'queue', 'requests'] as const) {
      const inputs = this[lane]
      const room = this.maxBatchInputs - batch.length
      if (inputs.length === 0 || room <= 0) continue
      if (inputs.length <= room) {
        batch = batch.length === 0 ? inputs : batch.concat(inputs)
        this[lane] = []
      } else {
        batch = batch.concat(inputs.slice(0, room))
        this[lane] = inputs.slice(room)
      }
    }
    return batch
  }

  private scheduleDrain(): void {
    if (this.draining || this.state !== 'running') return
    this.draining = true
    this.idle = new Promise<void>((resolve) => {
      queueMicrotask(() => {
        this.drain().then(resolve, (error: unknown) => {
          this.fail(error)
          resolve()
        })
      })
    })
  }

  private async drain(): Promise<void> {
    try {
      while (
        this.state === 'running' &&
        (this.urgent.length > 0 ||
          this.queue.length > 0 ||
          this.requests.length > 0 ||
          this.outbox.length > 0 ||
          this.earlyOutbox.length > 0 ||
          this.replies.length > 0)
      ) {
        const batch = this.takeBatch()
        this.counters.add('batches')
        for (const input of batch) {
          if (this.state !== 'running') return
          this.dispatch(input)
        }
        // Let the protocol emit what it coalesced over the batch; before the sync, so it is covered by it.
        if (this.state === 'running' && this.protocol?.flush !== undefined) this.guard(() => this.protocol!.flush!())
        const sends = this.outbox
        const replies = this.replies
        this.outbox = []
        this.replies = []
        this.repliesInFlight = replies
        // (0) what promises nothing about our disk overlaps with the sync (e.g. the Raft leader's appends)
        if (this.earlyOutbox.length > 0) {
          const early = this.earlyOutbox
          this.earlyOutbox = []
          this.transmit(early)
          this.counters.add('messages.sentBeforeSync', early.length)
        }
        // (1) durable before anything else of this batch leaves the node
        if (this.options.storage.hasPendingWrites()) {
          await this.options.storage.sync()
          this.counters.add('storage.syncs')
          if (this.state !== 'running') return
          // What the protocol does on learning it is durable is handled like a next batch's effects.
          if (this.protocol?.persisted !== undefined) this.guard(() => this.protocol!.persisted!())
        }
        if (this.state !== 'running') return
        // (2) then the messages
        this.transmit(sends)
        // (3) then the answers
        this.repliesInFlight = []
        for (const reply of replies) reply.settle()
      }
    } finally {
      this.draining = false
    }
  }

  private transmit(sends: ReadonlyArray<{ to: NodeId; message: Uint8Array }>): void {
    const factory = this.options.factory
    if (factory.isUrgent === undefined) for (const { to, message } of sends) this.options.transport.send(to, message)
    else for (const { to, message } of sends) this.options.transport.send(to, message, factory.isUrgent(message) ? URGENT : undefined)
    this.counters.add('messages.sent', sends.length)
  }

  private dispatch(input: Input): void {
    const protocol = this.protocol!
    switch (input.kind) {
      case 'start':
        this.guard(() => protocol.start())
        return
      case 'message':
        try {
          protocol.receive(input.from, input.message)
        } catch (error) {
          if (error instanceof InvalidMessageError) this.drop('invalid')
          else this.protocolError(error)
        }
        return
      case 'timer':
        if (!this.liveTimers.delete(input.id)) return // cleared after it fired
        this.guard(input.onFire)
        return
      case 'propose':
        this.counters.add('proposals')
        try {
          protocol.propose(input.command, input.client)
        } catch (error) {
          this.rejectClient(input.client, error instanceof SynodError ? error : new ProposalDroppedError(String(error)))
          if (!(error instanceof SynodError)) this.protocolError(error)
        }
        return
      case 'reconfigure':
        this.counters.add('reconfigurations')
        return this.clientCall(input.client, () => protocol.reconfigure!(input.change, input.client))
      case 'transfer':
        this.counters.add('transfers')
        return this.clientCall(input.client, () => protocol.transferLeadership!(input.target, input.client))
      case 'read':
        this.counters.add('reads')
        return this.clientCall(input.client, () => protocol.read!(input.request, input.client))
    }
  }

  /**
   * A client request handed to the protocol: what it throws goes to that
   * client (typed errors as they are, anything else as ProposalDroppedError
   * and counted as a protocol error). `propose` inlines the same for speed.
   */
  private clientCall(client: ClientRef, call: () => void): void {
    try {
      call()
    } catch (error) {
      this.rejectClient(client, error instanceof SynodError ? error : new ProposalDroppedError(String(error)))
      if (!(error instanceof SynodError)) this.protocolError(error)
    }
  }

  private guard(step: () => void): void {
    try {
      step()
    } catch (error) {
      this.protocolError(error)
    }
  }

  private drop(reason: string): void {
    this.counters.add(`dropped.${reason}`)
  }

  private protocolError(error: unknown): void {
    this.counters.add('protocol.errors')
    this.options.onError?.(error)
  }

  /** Storage failed to sync: promises can no longer be kept, so stop taking part. */
  private fail(error: unknown): void {
    this.options.onError?.(error)
    if (this.state !== 'running') return
    this.halt()
    this.state = 'failed'
  }

  private failAllPending(error: Error): void {
    for (const [id, p] of this.pending) {
      this.options.clock.clearTimer(p.timer)
      this.pending.delete(id)
      p.reject(error)
    }
  }

  private takePending(client: ClientRef): PendingClient | undefined {
    const p = this.pending.get(client.id)
    if (p === undefined) return undefined
    this.pending.delete(client.id)
    this.options.clock.clearTimer(p.timer)
    return p
  }

  private rejectClient(client: ClientRef, error: Error): void {
    const p = this.takePending(client)
    if (p !== undefined) this.replies.push({ client: p, settle: () => p.reject(error) })
  }

  // ---- the context handed to the protocol ----

  private context(): ProtocolContext {
    const options = this.options
    const clock = options.clock
    return {
      self: options.self,
      membership: options.membership,
      storage: options.storage,
      signer: options.signer,
      verifier: options.verifier,
      random: options.random,
      send: (to, message, sendOptions) => {
        if (this.state !== 'running') return
        ;(sendOptions?.beforeSync === true ? this.earlyOutbox : this.outbox).push({ to, message })
        this.scheduleDrain()
      },
      setTimer: (afterMs, onFire) => {
        const id: TimerId = clock.setTimer(afterMs, () => {
          if (this.state === 'running') this.enqueue({ kind: 'timer', id, onFire })
        })
        this.liveTimers.add(id)
        return id
      },
      clearTimer: (id) => {
        if (this.liveTimers.delete(id)) clock.clearTimer(id)
      },
      now: () => clock.now(),
      commit: (entry) => this.commit(entry),
      serveRead: (client) => {
        if (this.restoring !== undefined) return void this.restoring.held.push({ kind: 'read', client })
        this.serveRead(client)
      },
      respond: (client, answer) => {
        const p = this.takePending(client)
        if (p === undefined) return
        const result: CommandResult =
          answer.proof === undefined
            ? { index: answer.index, result: answer.result }
            : { index: answer.index, result: answer.result, proof: answer.proof }
        this.replies.push({ client: p, settle: () => p.resolve(result) })
      },
      reject: (client, error) => this.rejectClient(client, error),
      query: (request) => options.stateMachine.query(request),
      takeSnapshot: () => {
        this.finishRestore() // the one-shot snapshot is of the restored state and what was held since
        return { index: this.appliedIndex, data: options.stateMachine.snapshot() }
      },
      beginSnapshot: (onTaken, snapshotOptions) => {
        const into = snapshotOptions?.into
        if (this.restoring !== undefined) return void this.restoring.held.push({ kind: 'snapshot', onTaken, into })
        this.beginSnapshot(onTaken, into)
      },
      installSnapshot: (snapshot: Snapshot, installOptions) => {
        // The state the job was taking is being replaced: its snapshot would be of nothing any more.
        this.abandonSnapshotJob()
        const machine = options.stateMachine
        const restoring = this.restoring
        if (restoring !== undefined) {
          // Replaced again: the held commits are covered by this snapshot (skipped when released), held snapshots abandoned.
          restoring.job.abort()
          for (const held of restoring.held) if (held.kind === 'snapshot') held.onTaken(undefined)
        }
        const held = restoring === undefined ? [] : restoring.held.filter((h) => h.kind !== 'snapshot')
        this.restoring = undefined
        this.appliedIndex = snapshot.index
        if (installOptions?.inSlices === true && machine.beginRestore !== undefined) {
          this.restoring = { job: machine.beginRestore(snapshot.data), held }
          this.scheduleRestoreStep()
        } else {
          machine.restore(snapshot.data)
          this.release(held)
        }
        this.counters.add('snapshots.installed')
      },
      observe: (event) => {
        if (event.type === 'membership') {
          this.currentMembership = event.membership
          for (const m of [...event.membership.voters, ...event.membership.learners]) this.knownPeers.add(m.id)
        }
        options.onEvent?.(event)
      },
    }
  }

  // ---- snapshots in slices (ADR 0025)

  private beginSnapshot(onTaken: OnTaken, into: SnapshotSink | undefined): void {
    const machine = this.options.stateMachine
    this.abandonSnapshotJob()
    if (machine.beginSnapshot === undefined) {
      const data = machine.snapshot()
      if (into !== undefined) into.write(data)
      onTaken({ index: this.appliedIndex, data: into === undefined ? data : EMPTY })
      return
    }
    this.snapshotJob = { job: machine.beginSnapshot(into === undefined ? undefined : { into }), index: this.appliedIndex, onTaken, into }
    this.counters.add('snapshots.begun')
    this.scheduleSnapshotStep()
  }

  /** One step per timer input: between steps the Replica handles whatever arrived (urgent first). */
  private scheduleSnapshotStep(): void {
    const clock = this.options.clock
    const id: TimerId = clock.setTimer(0, () => {
      if (this.state === 'running') this.enqueue({ kind: 'timer', id, onFire: () => this.snapshotStep() })
    })
    this.liveTimers.add(id)
  }

  private snapshotStep(): void {
    const current = this.snapshotJob
    if (current === undefined) return
    this.counters.add('snapshots.steps')
    let data: Uint8Array | undefined
    try {
      data = current.job.step()
      // What a job did not write into the sink itself (all of it, for a job that does not stream) follows.
      if (data !== undefined && current.into !== undefined && data.byteLength > 0) {
        current.into.write(data)
        data = EMPTY
      }
    } catch (error) {
      this.protocolError(error)
      return this.abandonSnapshotJob()
    }
    if (data === undefined) return this.scheduleSnapshotStep()
    this.snapshotJob = undefined
    this.counters.add('snapshots.taken')
    current.onTaken({ index: current.index, data })
  }

  // ---- restore in slices (ADR 0025)

  private scheduleRestoreStep(): void {
    const id: TimerId = this.options.clock.setTimer(0, () => {
      if (this.state === 'running') this.enqueue({ kind: 'timer', id, onFire: () => this.restoreStep() })
    })
    this.liveTimers.add(id)
  }

  private restoreStep(): void {
    const restoring = this.restoring
    if (restoring === undefined) return
    this.counters.add('snapshots.restoreSteps')
    let done: boolean
    try {
      done = restoring.job.step()
    } catch (error) {
      // The state machine cannot load the snapshot storage now holds: no state to go on from.
      this.fail(error)
      return
    }
    if (!done) return this.scheduleRestoreStep()
    this.restoring = undefined
    this.release(restoring.held)
  }

  /** Run the restore to its end now (a one-shot snapshot was asked for). */
  private finishRestore(): void {
    const restoring = this.restoring
    if (restoring === undefined) return
    while (!restoring.job.step()) this.counters.add('snapshots.restoreSteps')
    this.restoring = undefined
    this.release(restoring.held)
  }

  /** What the protocol did while the state was being restored, in order, now on the restored state. */
  private release(held: readonly Held[]): void {
    for (const h of held) {
      if (h.kind === 'commit') this.apply(h.entry)
      else if (h.kind === 'read') this.serveRead(h.client)
      else this.beginSnapshot(h.onTaken, h.into)
    }
  }

  /** Give the running job up; the protocol is told (`onTaken(undefined)`) unless the replica is stopping. */
  private abandonSnapshotJob(notify = true): void {
    const current = this.snapshotJob
    if (current === undefined) return
    this.snapshotJob = undefined
    this.counters.add('snapshots.abandoned')
    try {
      current.job.abort()
    } catch (error) {
      this.options.onError?.(error)
    }
    if (notify) current.onTaken(undefined)
  }

  private commit(entry: Committed): Uint8Array | undefined {
    this.options.onCommit?.(entry)
    if (this.restoring !== undefined) {
      this.restoring.held.push({ kind: 'commit', entry })
      return undefined
    }
    return this.apply(entry)
  }

  /** Answer a read from the current state (after its read index is applied). */
  private serveRead(client: ClientRef): void {
    const p = this.takePending(client)
    if (p === undefined) return
    let result: Uint8Array
    try {
      result = this.options.stateMachine.query(p.readRequest ?? new Uint8Array(0))
    } catch (error) {
      this.replies.push({ client: p, settle: () => p.reject(error as Error) })
      return
    }
    const index = this.appliedIndex
    this.replies.push({ client: p, settle: () => p.resolve({ index, result }) })
  }

  private apply(entry: Committed): Uint8Array | undefined {
    if (entry.index <= this.appliedIndex) {
      // Re-commit after a restart of entries the restored snapshot already holds.
      this.counters.add('commits.skipped')
      return undefined
    }
    this.appliedIndex = entry.index
    this.counters.add('commits')
    let result: Uint8Array | undefined
    let failure: Error | undefined
    try {
      result = this.options.stateMachine.apply(entry.command, entry.index)
    } catch (error) {
      failure = error as Error
      this.counters.add('apply.errors')
      this.options.onError?.(error)
    }
    if (entry.client !== undefined) {
      const p = this.takePending(entry.client)
      if (p !== undefined) {
        if (failure !== undefined) {
          const error = failure
          this.replies.push({ client: p, settle: () => p.reject(error) })
        } else {
          const answer: CommandResult =
            entry.proof === undefined ? { index: entry.index, result: result! } : { index: entry.index, result: result!, proof: entry.proof }
          this.replies.push({ client: p, settle: () => p.resolve(answer) })
        }
      }
    }
    return result
  }
}
