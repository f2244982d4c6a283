// A small deterministic test network that drives a protocol's nodes directly
// (any crash-fault ProtocolFactory: Raft's and Paxos's tests use it), the way
// core's Replica does: each input is a batch (message delivery round or
// timer), then flush(), then the messages marked beforeSync leave, then storage
// sync and persisted(), then the batch's other messages leave.
// Virtual time advances in 1 ms steps; delivery has zero latency unless
// `latencyMs` is set. Each node's clock may run at its own rate (clock drift).
// A protocol's test helpers subclass TestNode (to name the node, e.g. `raft`)
// and TestCluster (for its own client calls).
import {
  membershipOf,
  type ClientRef,
  type Committed,
  type Membership,
  type NodeId,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
  type ProtocolEvent,
  type Snapshot,
  type SynodError,
  type TimerId,
} from '@synod/core'
import { memoryStorage, type MemoryStorage } from '@synod/storage'

export function seededRandom(seed: number): { next(): number } {
  let a = seed >>> 0
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0
      let t = a
      t = Math.imul(t ^ (t >>> 15), t | 1)
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    },
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
export const text = (s: string): Uint8Array => encoder.encode(s)
export const str = (b: Uint8Array): string => decoder.decode(b)

interface Timer {
  readonly id: TimerId
  readonly node: NodeId
  readonly incarnation: number
  readonly at: number
  readonly onFire: () => void
}

export interface Envelope {
  readonly from: NodeId
  readonly to: NodeId
  readonly bytes: Uint8Array
  /** Virtual time at which it may be delivered (latency). */
  at?: number
}

export type Outcome =
  | { readonly kind: 'committed'; readonly index: number }
  | { readonly kind: 'rejected'; readonly error: SynodError }
  | { readonly kind: 'read'; readonly applied: number }

/** One simulated server: a protocol node, its durable storage and a list state machine. */
export class TestNode<N extends ProtocolNode = ProtocolNode, O = unknown> {
  protocol!: N
  /** Crash right after the next batch's sync, before its messages leave (persisted, never answered). */
  crashAfterNextSync = false
  /** Crash right before the next batch's sync: its `beforeSync` messages have left, its writes are lost. */
  crashBeforeNextSync = false
  /**
   * Hold this node's syncs (a slow disk, or a runtime that handles inputs while a sync is in flight):
   * batches run, their `beforeSync` messages leave, but writes stay unsynced, other messages wait and
   * `persisted()` is not called until `releaseSync()`. A crash meanwhile loses the held writes.
   */
  holdSync = false
  private heldSends: Envelope[] = []
  /** Applied commands in order (the state machine). */
  applied: Array<{ index: number; command: string }> = []
  appliedIndex = 0
  events: ProtocolEvent[] = []
  outbox: Envelope[] = []
  /** This batch's messages marked `beforeSync`. */
  earlyOutbox: Envelope[] = []
  incarnation = 0
  running = false
  invalidMessages = 0
  /** This node's clock: local = anchorLocal + (virtual − anchorVirtual) × rate. */
  private clockRate = 1
  private clockAnchorVirtual = 0
  private clockAnchorLocal = 0

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    private readonly cluster: TestCluster<N, O>,
    public membership: Membership,
    readonly options: Partial<O>,
    private readonly factory: ProtocolFactory<O>,
  ) {}

  start(): void {
    this.incarnation++
    this.running = true
    this.outbox = []
    this.earlyOutbox = []
    this.heldSends = []
    this.events = []
    // As the Replica does: restore the state machine from the stored snapshot.
    const snap = this.storage.snapshot()
    this.applied = snap === undefined ? [] : decodeApplied(snap.data)
    this.appliedIndex = snap?.index ?? 0
    this.protocol = this.factory.create(this.context(), this.options) as N
    this.batch(() => this.protocol.start())
  }

  /** Lose volatile state and every unsynced write. */
  crash(): void {
    this.running = false
    this.protocol.stop()
    this.outbox = []
    this.earlyOutbox = []
    this.heldSends = []
    this.holdSync = false
    this.storage.crash()
  }

  get status() {
    return this.protocol.status()
  }

  /** This node's local time. */
  localNow(): number {
    return this.clockAnchorLocal + (this.cluster.now - this.clockAnchorVirtual) * this.clockRate
  }

  /** From now on this node's clock runs at `rate` × virtual time (timers it sets are scaled too). */
  setClockRate(rate: number): void {
    this.clockAnchorLocal = this.localNow()
    this.clockAnchorVirtual = this.cluster.now
    this.clockRate = rate
  }

  /** Run one batch of inputs as the Replica would: inputs, flush, beforeSync sends, sync, persisted, then send. */
  batch(inputs: () => void): void {
    if (!this.running) return
    inputs()
    this.protocol.flush?.()
    const early = this.earlyOutbox
    this.earlyOutbox = []
    this.cluster.enqueue(early)
    if (this.crashBeforeNextSync) {
      this.crashBeforeNextSync = false
      this.crash()
      return
    }
    if (this.holdSync) {
      this.heldSends.push(...this.outbox)
      this.outbox = []
      return
    }
    const synced = this.storage.hasPendingWrites()
    void this.storage.sync()
    if (this.crashAfterNextSync) {
      this.crashAfterNextSync = false
      this.crash()
      return
    }
    const out = this.heldSends.length > 0 ? [...this.heldSends, ...this.outbox] : this.outbox
    this.heldSends = []
    this.outbox = []
    this.cluster.enqueue(out)
    // What the protocol does once durable is the next batch's work (the Replica's loop runs again).
    if (synced && this.protocol.persisted !== undefined) this.batch(() => this.protocol.persisted!())
  }

  /** End `holdSync`: the held writes are synced, `persisted()` runs and the held messages leave. */
  releaseSync(): void {
    this.holdSync = false
    this.batch(() => {})
  }

  private context(): ProtocolContext {
    const incarnation = this.incarnation
    const alive = () => this.running && this.incarnation === incarnation
    return {
      self: this.id,
      membership: this.membership,
      storage: this.storage,
      signer: undefined,
      verifier: undefined,
      random: this.cluster.randomFor(this.id, incarnation),
      send: (to, message, options) => {
        if (alive()) (options?.beforeSync === true ? this.earlyOutbox : this.outbox).push({ from: this.id, to, bytes: message })
      },
      // A fast clock reaches its local deadline sooner in virtual time.
      setTimer: (afterMs, onFire) => this.cluster.setTimer(this.id, incarnation, afterMs / this.clockRate, onFire),
      clearTimer: (id) => this.cluster.clearTimer(id),
      now: () => this.localNow(),
      commit: (entry: Committed) => {
        if (!alive()) return undefined
        if (entry.index <= this.appliedIndex) return undefined // re-commit of what the snapshot holds
        this.appliedIndex = entry.index
        this.applied.push({ index: entry.index, command: str(entry.command) })
        this.cluster.recordCommit(this.id, entry)
        return undefined
      },
      respond: (client: ClientRef, answer: { index: number }) => this.cluster.settle(client, { kind: 'committed', index: answer.index }),
      serveRead: (client: ClientRef) => this.cluster.settle(client, { kind: 'read', applied: this.appliedIndex }),
      reject: (client: ClientRef, error: SynodError) => this.cluster.settle(client, { kind: 'rejected', error }),
      takeSnapshot: () => ({ index: this.appliedIndex, data: encodeApplied(this.applied) }),
      installSnapshot: (snapshot: Snapshot) => {
        this.applied = decodeApplied(snapshot.data)
        this.appliedIndex = snapshot.index
      },
      observe: (event: ProtocolEvent) => {
        if (!alive()) return
        this.events.push(event)
        this.cluster.events.push({ node: this.id, event })
        if (event.type === 'membership') this.membership = event.membership
      },
    }
  }
}

function encodeApplied(applied: Array<{ index: number; command: string }>): Uint8Array {
  return encoder.encode(JSON.stringify(applied))
}
function decodeApplied(bytes: Uint8Array): Array<{ index: number; command: string }> {
  return JSON.parse(decoder.decode(bytes)) as Array<{ index: number; command: string }>
}

export interface ClusterOptions<O = unknown> {
  readonly seed?: number
  /** Options every node's protocol is created with. */
  readonly protocol?: Partial<O>
  /** Members that start as learners. */
  readonly learners?: readonly NodeId[]
  /** One-way message delay in virtual ms (default 0: delivered in the same millisecond). */
  readonly latencyMs?: number
}

export class TestCluster<N extends ProtocolNode = ProtocolNode, O = unknown, T extends TestNode<N, O> = TestNode<N, O>> {
  now = 0
  readonly nodes = new Map<NodeId, T>()
  readonly events: Array<{ node: NodeId; event: ProtocolEvent }> = []
  /** Client outcomes by ClientRef id. */
  readonly outcomes = new Map<number, Outcome>()
  /** Every commit seen by each node: node → index → command. */
  readonly commits = new Map<NodeId, Map<number, string>>()
  private readonly timers = new Map<TimerId, Timer>()
  private nextTimerId = 1
  /** Every message that left a node (before faults and filters) while `recordTraffic` is on. */
  readonly sent: Envelope[] = []
  recordTraffic = false
  protected nextClientId = 1
  private queue: Envelope[] = []
  private readonly blocked = new Set<string>()
  private readonly seed: number
  private readonly latencyMs: number
  /** Optional hook to drop or inspect messages in flight; return false to drop. */
  filter: ((envelope: Envelope) => boolean) | undefined

  constructor(
    protected readonly factory: ProtocolFactory<O>,
    ids: readonly NodeId[],
    options: ClusterOptions<O> = {},
  ) {
    this.seed = options.seed ?? 1
    this.latencyMs = options.latencyMs ?? 0
    const voters = ids.filter((id) => !options.learners?.includes(id))
    const base = membershipOf(voters)
    const membership: Membership = {
      ...base,
      learners: (options.learners ?? []).map((id) => ({ id, publicKey: new Uint8Array(0) })),
    }
    for (const id of ids) this.addNode(id, membership, options.protocol ?? {})
  }

  /** A protocol's helpers override it to build their TestNode subclass. */
  protected createNode(id: NodeId, storage: MemoryStorage, membership: Membership, options: Partial<O>): T {
    return new TestNode<N, O>(id, storage, this, membership, options, this.factory) as T
  }

  addNode(id: NodeId, membership: Membership, options: Partial<O> = {}): T {
    const node = this.createNode(id, memoryStorage(), membership, options)
    this.nodes.set(id, node)
    this.commits.set(id, new Map())
    return node
  }

  node(id: NodeId): T {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  startAll(): void {
    for (const node of this.nodes.values()) node.start()
    this.deliver()
  }

  randomFor(id: NodeId, incarnation: number): { next(): number } {
    let h = this.seed * 31 + incarnation * 7919
    for (let i = 0; i < id.length; i++) h = (h * 33 + id.charCodeAt(i)) >>> 0
    return seededRandom(h)
  }

  setTimer(node: NodeId, incarnation: number, afterMs: number, onFire: () => void): TimerId {
    const id = this.nextTimerId++
    this.timers.set(id, { id, node, incarnation, at: this.now + afterMs, onFire })
    return id
  }

  clearTimer(id: TimerId): void {
    this.timers.delete(id)
  }

  enqueue(envelopes: Envelope[]): void {
    for (const e of envelopes) {
      if (this.recordTraffic) this.sent.push(e)
      if (this.latencyMs > 0) e.at = this.now + this.latencyMs
      this.queue.push(e)
    }
  }

  // ---- faults ----

  /** Cut both directions between `a` and every node of `others`. */
  cut(a: NodeId, others: readonly NodeId[]): void {
    for (const b of others) {
      this.blocked.add(`${a}>${b}`)
      this.blocked.add(`${b}>${a}`)
    }
  }

  isolate(id: NodeId): void {
    this.cut(
      id,
      [...this.nodes.keys()].filter((n) => n !== id),
    )
  }

  /** Split into groups that cannot talk to each other. */
  partition(...groups: NodeId[][]): void {
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) this.blocked.add(`${a}>${b}`)
  }

  heal(): void {
    this.blocked.clear()
  }

  // ---- driving ----

  /** Deliver messages until none are in flight (zero latency). Each receiver handles one round as a batch. */
  deliver(maxRounds = 10_000): void {
    for (let round = 0; this.queue.length > 0; round++) {
      if (round >= maxRounds) throw new Error('network did not quiesce')
      let batch = this.queue
      this.queue = []
      if (this.latencyMs > 0) {
        // Only what is due now; the rest waits in order.
        const due: Envelope[] = []
        for (const e of batch) (e.at! <= this.now ? due : this.queue).push(e)
        if (due.length === 0) break
        batch = due
      }
      const byNode = new Map<NodeId, Envelope[]>()
      for (const e of batch) {
        if (this.blocked.has(`${e.from}>${e.to}`)) continue
        if (this.filter !== undefined && !this.filter(e)) continue
        const target = this.nodes.get(e.to)
        if (target === undefined || !target.running) continue
        let list = byNode.get(e.to)
        if (list === undefined) byNode.set(e.to, (list = []))
        list.push(e)
      }
      for (const [id, list] of byNode) {
        const node = this.nodes.get(id)!
        node.batch(() => {
          for (const e of list) {
            try {
              node.protocol.receive(e.from, e.bytes)
            } catch (error) {
              if ((error as SynodError).code === 'INVALID_MESSAGE') node.invalidMessages++
              else throw error
            }
          }
        })
      }
    }
  }

  /** Advance virtual time by `ms`, firing due timers (each a batch) and delivering messages. */
  tick(ms: number): void {
    const end = this.now + ms
    while (this.now < end) {
      this.now++
      this.fireDue()
      this.deliver()
    }
  }

  /** Advance until `predicate` holds; fails after `budgetMs`. */
  runUntil(predicate: () => boolean, budgetMs = 5000): void {
    const end = this.now + budgetMs
    this.deliver()
    while (!predicate()) {
      if (this.now >= end) throw new Error(`condition not reached within ${budgetMs} ms`)
      this.now++
      this.fireDue()
      this.deliver()
    }
  }

  private fireDue(): void {
    const due = [...this.timers.values()].filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at || a.id - b.id)
    for (const timer of due) {
      if (!this.timers.delete(timer.id)) continue
      const node = this.nodes.get(timer.node)
      if (node === undefined || !node.running || node.incarnation !== timer.incarnation) continue
      node.batch(timer.onFire)
    }
  }

  // ---- clients ----

  /** Propose on `id`; returns the client ref id whose outcome lands in `outcomes`. */
  propose(id: NodeId, command: string): number {
    const client = { id: this.nextClientId++ }
    const node = this.node(id)
    node.batch(() => node.protocol.propose(text(command), client))
    return client.id
  }

  /** Call `id`'s node with a fresh client, as the Replica does: what it throws is that client's rejection. */
  protected clientCall(id: NodeId, call: (node: N, client: ClientRef) => void): number {
    const client = { id: this.nextClientId++ }
    const node = this.node(id)
    node.batch(() => {
      try {
        call(node.protocol, client)
      } catch (error) {
        this.settle(client, { kind: 'rejected', error: error as SynodError })
      }
    })
    return client.id
  }

  settle(client: ClientRef, outcome: Outcome): void {
    if (this.outcomes.has(client.id)) throw new Error(`client ${client.id} answered twice`)
    this.outcomes.set(client.id, outcome)
  }

  recordCommit(node: NodeId, entry: Committed): void {
    const log = this.commits.get(node)!
    const previous = log.get(entry.index)
    const command = str(entry.command)
    if (previous !== undefined && previous !== command) throw new Error(`${node} re-committed index ${entry.index} differently`)
    log.set(entry.index, command)
    if (entry.client !== undefined) {
      if (!this.outcomes.has(entry.client.id)) this.outcomes.set(entry.client.id, { kind: 'committed', index: entry.index })
    }
    // State machine safety (Raft §5.4.3; Paxos: a chosen value never changes): no two nodes commit different commands at one index.
    for (const [other, otherLog] of this.commits) {
      const theirs = otherLog.get(entry.index)
      if (other !== node && theirs !== undefined && theirs !== command)
        throw new Error(`safety violation at index ${entry.index}: ${node} has '${command}', ${other} has '${theirs}'`)
    }
  }

  // ---- queries ----

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.running && n.status.role === 'leader').map((n) => n.id)
  }

  /** The single leader with the highest term, after waiting for one. */
  waitForLeader(budgetMs = 3000): NodeId {
    this.runUntil(() => this.leaders().length > 0, budgetMs)
    const leaders = this.leaders().sort((a, b) => this.node(b).status.term - this.node(a).status.term)
    return leaders[0]!
  }

  appliedCommands(id: NodeId): string[] {
    return this.node(id).applied.map((a) => a.command)
  }

  /** At most one leader per term, over every 'leader' event seen (Raft §5.2 Election Safety). */
  leadersPerTerm(): Map<number, Set<NodeId>> {
    const out = new Map<number, Set<NodeId>>()
    for (const { node, event } of this.events) {
      if (event.type !== 'leader' || event.leader !== node) continue
      let set = out.get(event.term)
      if (set === undefined) out.set(event.term, (set = new Set()))
      set.add(node)
    }
    return out
  }
}
