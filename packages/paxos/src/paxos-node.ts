import {
  NotLeaderError,
  ProposalDroppedError,
  type ClientRef,
  type LogEntry,
  type MembershipChange,
  type NodeId,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolNode,
  type Snapshot,
  type TimerId,
  TrailingLog,
} from '@synod/core'
import { AcceptorStore } from './acceptor-store.js'
import { Configuration, decodeMembership, encodeMembership } from './configuration.js'
import {
  decodeMessage,
  encodeMessage,
  MessageType,
  type AcceptedMessage,
  type AcceptMessage,
  type DecodeLimits,
  type ForwardMessage,
  type ForwardRejectMessage,
  type HeartbeatMessage,
  type LearnMessage,
  type PaxosMessage,
  type PrepareMessage,
  type PromiseMessage,
  type SnapshotAckMessage,
  type SnapshotMessage,
  type TimeoutNowMessage,
} from './messages.js'
import { ACCEPT_RING, resolvePaxosOptions, type PaxosOptions } from './options.js'
import { prepareMembershipChange } from './reconfiguration.js'
import { LeaderLease, leaseTesting } from './lease.js'
import { LeaderReads } from './reads.js'
import { AcceptWindow, flowTesting } from './flow-control.js'
import { crc32c, OutgoingSnapshot, snapshotTesting, type IncomingSnapshot } from './snapshot-transfer.js'
import { LeadershipTransfer } from './transfer.js'
import { decodeValue, encodeCommandValue, encodeConfigValue, isConfigValue, NOOP_VALUE } from './value.js'

export type PaxosRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

const EMPTY = new Uint8Array(0)
/** Chosen values per Learn (or Promise) message, in bytes (at least one slot is always sent). */
const LEARN_BYTES = 1 << 20

/** A slot the leader proposed in its ballot and has not yet seen chosen. */
interface Inflight {
  readonly value: Uint8Array
  /** Voters that accepted it in this ballot (the leader included). */
  readonly acks: Set<NodeId>
  /** The heartbeat tick it was proposed in: retransmitted from the next tick on. */
  readonly tick: number
}

interface Peer {
  /** The peer's chosen index, as it last reported it. */
  chosen: number
  lastHeard: number
  /** The chosen index last sent to it (on an Accept or a heartbeat). */
  sentCommit: number
  /** The first slot of this leadership not yet sent to it in an Accept (it lags when its window was full). */
  next: number
  /** The Accept messages sent to it and not acknowledged (flow-control.ts). */
  readonly window: AcceptWindow
  /** It answered in our ballot since the last heartbeat tick: retransmissions and Learn pushes go only to such peers. */
  answered: boolean
}

/** Test-only switches that turn a defence off, so tests can show what it prevents. */
export const paxosTesting = {
  /** A new leader proposes its own commands in the slots it recovers instead of the accepted values (breaks Paxos). */
  skipRecovery: false,
  /** A transfer's target campaigns with a plain Prepare, which sticky acceptors refuse (the transfer then fails). */
  unforcedTransfer: false,
  /** No stop-sign: the leader proposes past an unchosen configuration slot and skips phase 1 in the new voters (breaks ADR 0014). */
  ignoreStopSign: false,
}

/**
 * One Multi-Paxos replica (Lamport, Paxos Made Simple §3; van Renesse &
 * Altinbuken, Paxos Made Moderately Complex) as a deterministic, sans-I/O
 * state machine: proposer, acceptor and learner in one node. A candidate
 * runs phase 1 once for every slot above its chosen index; as leader it runs
 * phase 2 per batch of slots, pipelined within a window. The chosen index is
 * piggybacked on every Accept and heartbeat; replicas execute chosen slots
 * in order from a contiguous chosen log (the storage log, indexed by slot).
 */
export class PaxosNode implements ProtocolNode {
  readonly options: PaxosOptions
  private readonly ctx: ProtocolContext
  private readonly self: NodeId
  private readonly limits: DecodeLimits
  private readonly store: AcceptorStore
  /** The configuration in force after the chosen index (ADR 0014). */
  private config: Configuration
  /** The configuration of each applied config slot, for the 'membership' event at apply time. */
  private readonly configsToAnnounce = new Map<number, Configuration>()
  private configChanged = false
  /** Leader: the slot of a configuration value not yet chosen; nothing is proposed after it (the stop-sign). 0 when none. */
  private pendingConfigSlot = 0
  /** Leader: a configuration value waits in the queue for its slot. */
  private configQueued = false
  /** Leader: phase 1 again, in the configuration that just took effect, before any slot after it is proposed. */
  private preparing = false
  private readonly transfer: LeadershipTransfer
  /** Reads answered at the leader after a quorum heartbeat round, without a slot (reads.ts). */
  private readonly reads: LeaderReads
  /** Lease reads (option readMode 'lease', lease.ts): when this leader may serve reads without a round. */
  private readonly lease: LeaderLease
  /** Lease mode: a (re)started acceptor promises no other ballot before this time (it may have acknowledged a leader just before). */
  private promiseQuietUntil = Number.NEGATIVE_INFINITY

  private role: PaxosRole = 'follower'
  private leader: NodeId | undefined
  /** The ballot this node campaigns or leads with (0 before its first campaign). */
  private ballot = 0
  /** Every slot up to here is chosen and in the log. */
  private chosen = 0
  private applied = 0
  private started = false
  private stopped = false

  // elections
  private electionTimer: TimerId | undefined
  /** When the election timer is due (local clock), and when the election timeout really ends (it may have been reset since). */
  private electionTimerDue = 0
  private electionDeadline = 0
  /** The randomized election timeout drawn at the last reset. */
  private electionWait = 0
  private lastLeaderContact = -Infinity
  private readonly promises = new Map<NodeId, PromiseMessage>()
  /** Pre-vote: the ballot probed and the voters that would promise it. */
  private probeBallot = 0
  private readonly probes = new Set<NodeId>()
  private fetchedForCandidacy = false
  /** A ballot above our promise seen in a refusal: the next ballot goes above it. */
  private seenBallot = 0
  /** An acceptor refused our current ballot (promised it, or a higher one, to another node). */
  private ballotRefused = false
  /** This candidacy was started by a transfer's TimeoutNow: its Prepares ask acceptors to ignore stickiness. */
  private forceCampaign = false

  // leader
  private heartbeatTimer: TimerId | undefined
  private readonly inflight = new Map<number, Inflight>()
  private nextSlot = 1
  private queue: Uint8Array[] = []
  /** Slots proposed during this batch, sent in flush(): [sendFrom, nextSlot). 0 when none. */
  private sendFrom = 0
  private readonly peers = new Map<NodeId, Peer>()
  private tick = 0
  private chosenAtLastTick = 0
  private leaderSince = 0

  // clients: this incarnation's nonce tags every command it proposes or forwards
  private nonce = 0
  private counter = 1
  private readonly clients = new Map<number, { client: ClientRef; at: number }>()
  /** Leader: slot → counter of this node's own command proposed there (rejected if another value is chosen). */
  private readonly mySlots = new Map<number, number>()
  private forwardBuffer: Array<{ command: Uint8Array; client: ClientRef }> = []
  /** Acceptor: the acknowledgement this batch sends (queueAccepted). */
  private pendingAccepted: { to: NodeId; ballot: number; first: number; count: number; read: number } | undefined
  /** Leader: the Accept last encoded in this flush or tick, reused for every peer that gets the same slots. */
  private acceptCache: { ballot: number; from: number; last: number; commit: number; messages: Uint8Array[]; lasts: number[] } | undefined
  private lastSweep = 0

  // chunked snapshots (snapshot-transfer.ts)
  private readonly outgoing = new Map<NodeId, OutgoingSnapshot>()
  private incoming: IncomingSnapshot | undefined
  private lastTransferDone = Number.NEGATIVE_INFINITY
  /** Chosen slots kept behind the last truncation point (trailing-log.ts), for replicas a little behind it. */
  private readonly trailing: TrailingLog
  /** This node's own snapshot, when the runtime takes it in slices (`ctx.beginSnapshot`, ADR 0025). */
  private readonly localSnapshot = { running: false, generation: 0, taken: 0, abandoned: 0 }

  private readonly stats = {
    elections: 0,
    forwarded: 0,
    learnsSent: 0,
    /** Learns (or promises) served from the trailing log instead of a snapshot. */
    trailingLearns: 0,
    /** Snapshot transfers started, chunks sent, transfers started over (the receiver lost what it had, or the old rule). */
    snapshotsSent: 0,
    snapshotChunks: 0,
    snapshotRestarts: 0,
    snapshotsInstalled: 0,
    corruptChunks: 0,
    recovered: 0,
    noops: 0,
    /** Accept messages not sent because the acceptor's window was full (its slots go later, or by learning). */
    acceptsHeld: 0,
    reprepares: 0,
  }

  constructor(ctx: ProtocolContext, options?: Partial<PaxosOptions>) {
    this.options = resolvePaxosOptions(options)
    this.ctx = ctx
    this.self = ctx.self
    this.config = new Configuration(ctx.membership)
    this.limits = {
      maxCommandBytes: this.options.maxCommandBytes,
      maxSnapshotBytes: this.options.maxSnapshotBytes,
      maxSlotsPerMessage: Math.max(this.options.maxSlotsPerMessage, ACCEPT_RING),
    }
    this.store = new AcceptorStore(ctx.storage)
    this.trailing = new TrailingLog(this.options.snapshotCatchUpSlots, this.options.snapshotCatchUpBytes)
    this.transfer = new LeadershipTransfer(ctx, this.options.electionTimeoutMs, {
      isLeader: () => this.role === 'leader',
      leaderHint: () => (this.leader === this.self ? undefined : this.leader),
      isVoter: (id) => this.config.isVoter(id),
      voterProgress: () => [...this.peers].filter(([id]) => this.config.isVoter(id)).map(([id, p]) => [id, p.chosen] as const),
      caughtUp: (id) => this.inflight.size === 0 && (this.peers.get(id)?.chosen ?? -1) >= this.nextSlot - 1,
      pushLearn: (id) => {
        const peer = this.peers.get(id)
        if (peer !== undefined && peer.chosen < this.chosen) this.sendLearn(id, peer.chosen + 1)
      },
      sendTimeoutNow: (id) => this.send(id, { type: MessageType.TimeoutNow, ballot: this.ballot }),
      resume: () => this.fillWindow(),
    })
    this.lease = new LeaderLease(this.options.electionTimeoutMs * (1 - this.options.maxClockDrift))
    this.reads = new LeaderReads({
      self: this.self,
      quorum: () => this.quorum,
      isVoter: (id) => this.config.isVoter(id),
      serve: (client) => this.ctx.serveRead(client),
      reject: (client, error) => this.ctx.reject(client, error),
    })
  }

  private get quorum(): number {
    return this.config.quorum
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    if (this.started) return
    this.started = true
    const storage = this.ctx.storage
    const snapshot = storage.snapshot()
    if (snapshot !== undefined) {
      this.chosen = this.applied = snapshot.index
      if (snapshot.meta.byteLength > 0) this.config = new Configuration(decodeMembership(snapshot.meta))
      if (this.config.membership.epoch > this.ctx.membership.epoch)
        this.ctx.observe({ type: 'membership', membership: this.config.membership, index: snapshot.index })
    }
    // Everything in the log is chosen: execute it again (the Replica skips what its snapshot holds).
    for (let slot = this.chosen + 1; slot <= storage.lastIndex(); slot++) this.noteChosen(slot, storage.entry(slot)!.data)
    this.chosen = Math.max(this.chosen, storage.lastIndex())
    this.store.load(this.chosen)
    // Lease mode: stay sticky for an election timeout, as if the leader we may have acknowledged just before
    // the crash were still heard from: its lease counts on this acceptor.
    if (this.options.readMode === 'lease' && !leaseTesting.promiseRightAfterRestart) this.promiseQuietUntil = this.ctx.now() + this.options.electionTimeoutMs
    this.nonce = Math.floor(this.ctx.random.next() * 2 ** 26) * 2 ** 26 + Math.floor(this.ctx.random.next() * 2 ** 26) + 1
    this.applyChosen()
    this.ctx.observe({ type: 'role', role: this.role, term: this.store.promised })
    this.configChanged = false
    if (this.config.voters.size === 1 && this.config.isVoter(this.self)) this.campaign()
    else this.resetElectionTimer()
  }

  stop(): void {
    this.stopped = true
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    if (this.heartbeatTimer !== undefined) this.ctx.clearTimer(this.heartbeatTimer)
    this.electionTimer = this.heartbeatTimer = undefined
    this.transfer.stop()
  }

  status(): NodeStatus {
    return {
      id: this.self,
      role: this.role,
      term: this.store.promised,
      leader: this.leader,
      commitIndex: this.chosen,
      lastIndex: Math.max(this.chosen, this.nextSlot - 1, ...this.store.accepted.keys()),
      membership: this.config.membership,
      detail: {
        ballot: this.ballot,
        // The daemon promotes a learner once its match reaches the leader's commit index (as with Raft).
        ...(this.role === 'leader'
          ? { progress: Object.fromEntries([...this.peers].map(([id, p]) => [id, { match: p.chosen, next: p.next, inflightAccepts: p.window.count }])) }
          : {}),
        pendingConfigSlot: this.pendingConfigSlot,
        preparing: this.preparing,
        transferTarget: this.transfer.target,
        transfers: { ...this.transfer.stats },
        promised: this.store.promised,
        applied: this.applied,
        inflight: this.inflight.size,
        queued: this.queue.length,
        accepted: this.store.accepted.size,
        // The first slot this node can still send as a Learn (below it: the snapshot).
        catchUpFirstIndex: this.trailing.lastIndex() === this.ctx.storage.firstIndex() - 1 ? (this.trailing.firstIndex() ?? this.ctx.storage.firstIndex()) : this.ctx.storage.firstIndex(),
        localSnapshots: { running: this.localSnapshot.running, taken: this.localSnapshot.taken, abandoned: this.localSnapshot.abandoned },
        readsPending: this.reads.pending,
        leaseUntil: this.role === 'leader' ? this.lease.expiry() : undefined,
        ...this.reads.stats,
        ...this.stats,
      },
    }
  }

  // ---------------------------------------------------------------- clients

  propose(command: Uint8Array, client: ClientRef): void {
    if (this.stopped) return
    if (command.byteLength > this.options.maxCommandBytes) {
      this.ctx.reject(client, new ProposalDroppedError(`command of ${command.byteLength} bytes is over maxCommandBytes`))
      return
    }
    this.sweepClients()
    if (this.role === 'leader') {
      if (this.transfer.active) {
        this.ctx.reject(client, this.transfer.refusal())
        return
      }
      const counter = this.counter++
      const value = encodeCommandValue(this.nonce, counter, command)
      this.clients.set(counter, { client, at: this.ctx.now() })
      const slot = this.enqueue(value)
      if (slot === false) {
        this.clients.delete(counter)
        this.ctx.reject(client, new ProposalDroppedError(`the leader's window and queue are full (${this.options.maxQueuedProposals} queued)`))
      } else if (slot !== undefined) this.mySlots.set(slot, counter)
      return
    }
    if (this.options.forwardProposals && this.role === 'follower' && this.leader !== undefined && this.leader !== this.self) {
      this.forwardBuffer.push({ command, client })
      return
    }
    this.ctx.reject(client, new NotLeaderError(this.leader === this.self ? undefined : this.leader))
  }

  /**
   * A linearizable read. The leader answers it without a slot once a quorum heartbeat round sent after
   * it confirms the ballot and its index is executed (reads.ts). Elsewhere — a follower, or a leader
   * still preparing or behind an unchosen configuration — it is ordered through the log like a command
   * (forwarded to the leader), as the state machine answers reads in `apply` too.
   */
  read(request: Uint8Array, client: ClientRef): void {
    if (this.stopped) return
    if (this.role === 'leader' && !this.preparing && this.pendingConfigSlot === 0) {
      // Lease mode: within the lease no other node can have completed phase 1, so no round is needed.
      if (this.options.readMode === 'lease' && this.lease.valid(this.ctx.now())) this.reads.addLeased(client, this.nextSlot - 1, this.applied)
      else this.reads.add(client, this.nextSlot - 1, this.applied)
      return
    }
    this.propose(request, client)
  }

  /**
   * Change the membership (ADR 0014): the leader proposes the new configuration as one slot value;
   * it governs the slots after its own, so nothing is proposed after it until it is chosen and the
   * new voters promised our ballot. Answered with the slot once executed.
   */
  reconfigure(change: MembershipChange, client: ClientRef): void {
    if (this.stopped) return
    const next = prepareMembershipChange(change, {
      leader: this.role === 'leader',
      leaderHint: this.leader === this.self ? undefined : this.leader,
      pending: this.pendingConfigSlot !== 0 || this.configQueued || this.preparing,
      transferring: this.transfer.active,
      current: this.config.membership,
    })
    if (next instanceof Error) return this.ctx.reject(client, next)
    const counter = this.counter++
    this.clients.set(counter, { client, at: this.ctx.now() })
    const slot = this.enqueue(encodeConfigValue(this.nonce, counter, next))
    if (slot === false) {
      this.clients.delete(counter)
      this.ctx.reject(client, new ProposalDroppedError(`the leader's window and queue are full (${this.options.maxQueuedProposals} queued)`))
    } else if (slot === undefined) this.configQueued = true
    else this.mySlots.set(slot, counter)
  }

  /** Hand leadership to `target` (or the most up-to-date voter): see transfer.ts. */
  transferLeadership(target: NodeId | undefined, client: ClientRef): void {
    if (this.stopped) return
    this.transfer.request(target, client)
    // The target's forced Prepare ignores stickiness: the lease means nothing from here on.
    if (this.transfer.active) this.lease.revoke()
  }

  /** The leader handed over to us: phase 1 now, with a ballot acceptors promise despite stickiness. */
  private handleTimeoutNow(from: NodeId, m: TimeoutNowMessage): void {
    if (from !== this.leader || m.ballot < this.store.promised || !this.config.isVoter(this.self)) return
    this.campaign(true, !paxosTesting.unforcedTransfer)
  }

  /** Forget clients that were never answered (their slot went to a lost leader): the Replica timed them out long ago. */
  private sweepClients(): void {
    const now = this.ctx.now()
    const horizon = 100 * this.options.electionTimeoutMs
    if (now - this.lastSweep < horizon) return
    this.lastSweep = now
    for (const [counter, c] of this.clients) if (now - c.at > horizon) this.clients.delete(counter)
  }

  flush(): void {
    if (this.stopped) return
    if (this.role === 'leader') {
      const from = this.sendFrom
      this.sendFrom = 0
      // Reads arrived in this batch: a heartbeat round carrying a new round number confirms them.
      const readRound = this.reads.roundDue
      if (readRound) {
        const round = this.reads.roundToSend()
        if (this.options.readMode === 'lease') this.lease.sent(round, this.ctx.now())
      }
      const now = this.ctx.now()
      for (const [id, peer] of this.peers) {
        if (from > 0 && from < peer.next) peer.next = from
        // New slots, and those held back while its window was full (once an acknowledgement freed room).
        if (peer.next < this.nextSlot) this.sendAccepts(id, peer.next, this.nextSlot - 1)
        // Slots were chosen in this batch and no Accept carried the news: tell the peer now rather than
        // at the next heartbeat, so followers execute (and answer forwarded clients) one delay later.
        // Not to a peer silent for two ticks: it hears the news on the next tick's heartbeat.
        const live = flowTesting.unbounded || now - peer.lastHeard < 2 * this.options.heartbeatIntervalMs
        if (readRound || (peer.sentCommit < this.chosen && live)) this.sendHeartbeat(id, peer)
      }
    }
    this.acceptCache = undefined
    this.sendPendingAccepted()
    if (this.forwardBuffer.length > 0) this.sendForwarded()
    // Last: the batch's accepted runs, one record each, after its log appends and before its sync (ADR 0024).
    this.store.flush()
  }

  private sendForwarded(): void {
    const buffer = this.forwardBuffer
    this.forwardBuffer = []
    if (this.role !== 'follower' || this.leader === undefined || this.leader === this.self) {
      const error = new NotLeaderError(this.leader === this.self ? undefined : this.leader)
      for (const p of buffer) this.ctx.reject(p.client, error)
      return
    }
    const now = this.ctx.now()
    for (let start = 0; start < buffer.length; start += this.options.maxSlotsPerMessage) {
      const part = buffer.slice(start, start + this.options.maxSlotsPerMessage)
      const firstCounter = this.counter
      for (const p of part) this.clients.set(this.counter++, { client: p.client, at: now })
      this.send(this.leader, { type: MessageType.Forward, nonce: this.nonce, firstCounter, commands: part.map((p) => p.command) })
      this.stats.forwarded += part.length
    }
  }

  // ---------------------------------------------------------------- messages

  receive(from: NodeId, bytes: Uint8Array): void {
    // Any sender: a node behind a configuration change hears from members it does not know yet (ADR 0014).
    if (this.stopped || from === this.self) return
    const m = decodeMessage(bytes, this.limits)
    switch (m.type) {
      case MessageType.Prepare:
        return this.handlePrepare(from, m)
      case MessageType.Promise:
        return this.handlePromise(from, m)
      case MessageType.Accept:
      case MessageType.Heartbeat:
        return this.handleAccept(from, m)
      case MessageType.Accepted:
        return this.handleAccepted(from, m)
      case MessageType.Forward:
        return this.handleForward(from, m)
      case MessageType.ForwardReject:
        return this.handleForwardReject(from, m)
      case MessageType.Fetch:
        return this.sendLearn(from, m.from)
      case MessageType.Learn:
        return this.handleLearn(from, m)
      case MessageType.Snapshot:
        return this.handleSnapshot(from, m)
      case MessageType.TimeoutNow:
        return this.handleTimeoutNow(from, m)
      case MessageType.SnapshotAck:
        return this.handleSnapshotAck(from, m)
    }
  }

  // ---------------------------------------------------------------- phase 1 (acceptor)

  private handlePrepare(from: NodeId, m: PrepareMessage): void {
    if (!this.config.isVoter(from)) {
      // Not a voter here: a removed node (ignored), or a voter of a configuration this node has not
      // learned yet — then its chosen watermark is ahead of ours: catch up from it, it will retry.
      if (m.watermark > this.chosen && this.role !== 'leader') this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
      return
    }
    // Leader stickiness: while a live leader is heard from, do not help a disconnected node depose it
    // (unless the leader itself asked for it: a transfer's forced Prepare).
    const sticky =
      this.options.checkQuorum &&
      !m.force &&
      m.ballot > this.store.promised &&
      (this.role === 'leader' ||
        (this.role === 'follower' && this.leader !== undefined && this.ctx.now() - this.lastLeaderContact < this.options.electionTimeoutMs) ||
        this.ctx.now() < this.promiseQuietUntil)
    // Each ballot is promised to one node only (ADR 0014): that makes its leader unique.
    const refused = !this.store.canPromise(m.ballot, from) || sticky
    if (refused || m.probe) {
      // A probe's answer changes nothing here: no promise, no timer reset.
      this.send(from, { type: MessageType.Promise, ballot: m.ballot, ok: !refused, probe: m.probe, promised: this.store.promised, chosen: this.chosen, behind: false, chosenValues: [], accepted: [] })
      return
    }
    const reprepare = m.ballot === this.store.promised && from === this.leader && this.role === 'follower'
    this.store.promise(m.ballot, from)
    // Our own leader preparing the slots of a new configuration stays our leader.
    if (!reprepare && (this.role !== 'follower' || this.leader !== undefined)) this.becomeFollower(undefined)
    this.resetElectionTimer()
    this.send(from, this.promiseFor(m.ballot, m.watermark))
  }

  /** Phase 1b: what this acceptor knows above the candidate's chosen watermark. */
  private promiseFor(ballot: number, watermark: number): PromiseMessage {
    let behind = false
    const chosenValues: Array<readonly [number, Uint8Array]> = []
    if (watermark < this.chosen) {
      const entries = this.chosen - watermark > this.options.maxSlotsPerMessage ? undefined : this.chosenEntries(watermark + 1, this.chosen + 1)
      if (entries === undefined) behind = true
      else {
        if (entries.length < this.chosen - watermark) behind = true
        else for (const e of entries) chosenValues.push([e.index, e.data])
      }
    }
    const accepted: Array<readonly [number, number, Uint8Array]> = []
    const above = Math.max(watermark, this.chosen)
    for (const [slot, a] of this.store.accepted) if (slot > above) accepted.push([slot, a.ballot, a.value])
    accepted.sort((x, y) => x[0] - y[0])
    return { type: MessageType.Promise, ballot, ok: true, probe: false, promised: this.store.promised, chosen: this.chosen, behind, chosenValues, accepted }
  }

  // ---------------------------------------------------------------- phase 1 (proposer)

  /**
   * Phase 1 for every slot above our chosen index. A new ballot (the lowest above every ballot
   * seen) unless `newBallot` is false: the same candidacy again after a configuration change, to
   * the new voters. `force` (a transfer's TimeoutNow) asks acceptors to ignore stickiness.
   */
  private campaign(newBallot = true, force = false): void {
    if (this.stopped || this.role === 'leader' || !this.config.isVoter(this.self)) return
    if (newBallot || this.role !== 'candidate' || this.ballot < this.store.promised) {
      this.ballot = this.highestBallot() + 1
      this.ballotRefused = false
      this.promises.clear()
      this.fetchedForCandidacy = false
      this.stats.elections++
    }
    this.store.promise(this.ballot, this.self)
    this.setRole('candidate')
    this.leader = undefined
    this.forceCampaign = force
    for (const id of this.promises.keys()) if (!this.config.isVoter(id)) this.promises.delete(id)
    this.promises.set(this.self, this.promiseFor(this.ballot, this.chosen))
    this.sendPrepares()
    this.resetElectionTimer()
    this.checkPromises()
  }

  /** Prepare to every voter that has not promised yet (candidates, and a leader preparing a new configuration). */
  private sendPrepares(): void {
    for (const peer of this.config.voters)
      if (peer !== this.self && !this.promises.has(peer))
        this.send(peer, { type: MessageType.Prepare, ballot: this.ballot, watermark: this.chosen, probe: false, force: this.forceCampaign })
  }

  /** Pre-vote (option preVote): ask whether a quorum would promise our next ballot, changing no state. */
  private probe(): void {
    if (this.stopped || this.role === 'leader' || !this.config.isVoter(this.self)) return
    this.probeBallot = this.highestBallot() + 1
    this.probes.clear()
    this.probes.add(this.self)
    this.setRole('pre-candidate')
    this.leader = undefined
    for (const peer of this.config.voters)
      if (peer !== this.self) this.send(peer, { type: MessageType.Prepare, ballot: this.probeBallot, watermark: this.chosen, probe: true, force: false })
    this.resetElectionTimer()
    if (this.probes.size >= this.quorum) this.campaign()
  }

  /** No leader heard (or our candidacy stalled): probe first with pre-vote, then phase 1 with a new ballot. */
  private onElectionTimeout(): void {
    if (!this.config.isVoter(this.self)) return this.resetElectionTimer()
    // A candidacy nobody refused (messages lost, an acceptor restarting) tries the same ballot again:
    // acceptors that promised it to us still do. A refused one needs a higher ballot.
    if (this.role === 'candidate' && !this.ballotRefused) this.campaign(false, this.forceCampaign)
    else if (this.options.preVote) this.probe()
    else this.campaign()
  }

  private handlePromise(from: NodeId, m: PromiseMessage): void {
    if (!this.config.isVoter(from)) return
    if (m.probe) {
      if (!m.ok || this.role !== 'pre-candidate' || m.ballot !== this.probeBallot) return
      this.probes.add(from)
      if (this.probes.size >= this.quorum) this.campaign()
      return
    }
    if (!m.ok) {
      if (m.ballot === this.ballot) this.ballotRefused = true
      this.seeBallot(m.promised)
      return
    }
    if (!(this.role === 'candidate' || (this.role === 'leader' && this.preparing)) || m.ballot !== this.ballot) return
    if (m.behind) {
      // It has chosen slots we lack and could not send: catch up first, then its next promise counts.
      if (!this.fetchedForCandidacy) this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
      this.fetchedForCandidacy = true
      return
    }
    this.promises.set(from, m)
    this.checkPromises()
  }

  /** A higher ballot exists: remember it (so our next ballot is higher) and stop campaigning or leading. */
  private seeBallot(ballot: number): void {
    if (ballot <= this.highestBallot()) return
    // Not promised (its owner is unknown here): only remembered, so our next ballot is above it.
    this.seenBallot = ballot
    if (this.role !== 'follower') this.becomeFollower(undefined)
  }

  private highestBallot(): number {
    return Math.max(this.store.promised, this.seenBallot)
  }

  private checkPromises(): void {
    if (!(this.role === 'candidate' || (this.role === 'leader' && this.preparing)) || this.promises.size < this.quorum) return
    // Chosen values reported by any acceptor, and per slot the accepted value of the highest ballot.
    const known = new Map<number, Uint8Array>()
    const adopted = new Map<number, { ballot: number; value: Uint8Array }>()
    let top = this.chosen
    for (const p of this.promises.values()) {
      for (const [slot, value] of p.chosenValues) {
        known.set(slot, value)
        top = Math.max(top, slot)
      }
      for (const [slot, ballot, value] of p.accepted) {
        const current = adopted.get(slot)
        if (current === undefined || ballot > current.ballot) adopted.set(slot, { ballot, value })
        top = Math.max(top, slot)
      }
    }
    const ballot = this.ballot
    // Slots others know chosen and we do not: learn them directly (they are contiguous from ours).
    while (known.has(this.chosen + 1)) this.learnChosen(this.chosen + 1, 0, known.get(this.chosen + 1)!)
    if (this.configChanged) {
      // A configuration we did not know took effect: these promises were of the old voters. Execute
      // what we learned, then prepare again in the new configuration (or stop, if we are not a voter).
      this.applyChosen()
      return
    }
    if (this.role === 'leader') {
      this.preparing = false
      this.stats.reprepares++
    } else this.becomeLeader()
    this.nextSlot = this.chosen + 1
    for (let slot = this.chosen + 1; slot <= top; slot++) {
      let value = known.get(slot) ?? adopted.get(slot)?.value
      if (value === undefined) this.stats.noops++
      else this.stats.recovered++
      if (paxosTesting.skipRecovery && value !== undefined) value = undefined
      this.proposeAt(slot, value ?? NOOP_VALUE, ballot)
      // A configuration governs the slots after it: they are recovered in it, once it is chosen (the stop-sign).
      if (value !== undefined && isConfigValue(value) && !paxosTesting.ignoreStopSign) {
        top = slot
        break
      }
    }
    this.nextSlot = Math.max(this.nextSlot, top + 1)
    this.applyChosen()
    this.fillWindow()
  }

  // ---------------------------------------------------------------- roles and timers

  private becomeLeader(): void {
    this.setRole('leader')
    this.leader = this.self
    this.promises.clear()
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    this.electionTimer = undefined
    const now = this.ctx.now()
    this.leaderSince = now
    this.peers.clear()
    this.syncPeers()
    this.inflight.clear()
    this.pendingConfigSlot = 0
    this.configQueued = false
    this.preparing = false
    this.chosenAtLastTick = this.chosen
    this.ctx.observe({ type: 'leader', leader: this.self, term: this.ballot })
    this.transfer.onLeader(this.self)
    this.reads.reset()
    this.lease.reset() // no lease before a quorum acknowledges a round of this leadership
    // Lease mode: the first heartbeats are a round of their own, so the lease starts one round trip after election.
    if (this.options.readMode === 'lease') this.lease.sent(this.reads.newRound(), now)
    this.armHeartbeat()
    // Tell everyone at once (the recovered slots, if any, follow in flush()).
    for (const [id, peer] of this.peers) this.sendHeartbeat(id, peer)
  }

  /** Peers are every other member of the configuration: voters are counted, learners only taught. */
  private syncPeers(): void {
    const now = this.ctx.now()
    for (const id of this.config.others(this.self))
      if (!this.peers.has(id))
        this.peers.set(id, {
          chosen: 0,
          lastHeard: now,
          sentCommit: 0,
          next: this.chosen + 1,
          window: new AcceptWindow(this.options.maxInflightAccepts, this.options.maxInflightAcceptBytes),
          answered: false,
        })
    for (const id of [...this.peers.keys()]) if (!this.config.isMember(id)) this.peers.delete(id)
  }

  private becomeFollower(leader: NodeId | undefined): void {
    const wasLeader = this.role === 'leader'
    this.leader = leader
    this.promises.clear()
    this.preparing = false
    this.pendingConfigSlot = 0
    this.configQueued = false
    if (leader !== undefined && leader !== this.self) this.transfer.onLeader(leader)
    if (this.heartbeatTimer !== undefined) this.ctx.clearTimer(this.heartbeatTimer)
    this.heartbeatTimer = undefined
    if (wasLeader) {
      // Queued commands were never given a slot: their clients may retry elsewhere.
      const error = new NotLeaderError(leader)
      for (const value of this.queue) this.rejectOwn(value, error)
      this.queue = []
      this.inflight.clear()
      this.sendFrom = 0
    }
    this.setRole('follower')
    this.resetElectionTimer()
  }

  private rejectOwn(value: Uint8Array, error: NotLeaderError): void {
    const v = decodeValue(value, this.options.maxCommandBytes)
    if (v.kind === 'noop' || v.nonce !== this.nonce) return
    const c = this.clients.get(v.counter)
    if (c === undefined) return
    this.clients.delete(v.counter)
    this.ctx.reject(c.client, error)
  }

  private setRole(role: PaxosRole): void {
    if (this.role === role) return
    if (this.role === 'leader') {
      this.reads.rejectAll(this.leader === this.self ? undefined : this.leader)
      this.lease.reset()
    }
    this.role = role
    this.ctx.observe({ type: 'role', role, term: this.store.promised })
  }

  private resetElectionTimer(): void {
    if (this.stopped) return
    const t = this.options.electionTimeoutMs
    this.electionWait = t + Math.floor(this.ctx.random.next() * t)
    this.electionDeadline = this.ctx.now() + this.electionWait
    // Re-armed lazily: a timer due before the new deadline waits for the rest when it fires. A follower
    // resets this on every Accept; a clear and a set of a runtime timer each time showed in profiles.
    if (this.electionTimer !== undefined) {
      if (this.electionTimerDue <= this.electionDeadline) return
      this.ctx.clearTimer(this.electionTimer)
    }
    this.armElectionTimer(this.electionWait)
  }

  private armElectionTimer(wait: number): void {
    this.electionTimerDue = this.ctx.now() + wait
    this.electionTimer = this.ctx.setTimer(wait, () => {
      this.electionTimer = undefined
      const rest = this.electionDeadline - this.ctx.now()
      if (rest > 0) this.armElectionTimer(rest)
      else this.onElectionTimeout()
    })
  }

  private armHeartbeat(): void {
    this.heartbeatTimer = this.ctx.setTimer(this.options.heartbeatIntervalMs, () => {
      this.heartbeatTimer = undefined
      this.onHeartbeat()
    })
  }

  private onHeartbeat(): void {
    if (this.stopped || this.role !== 'leader') return
    const now = this.ctx.now()
    if (this.options.checkQuorum && now - this.leaderSince >= this.options.electionTimeoutMs) {
      let live = 1
      for (const [id, p] of this.peers) if (this.config.isVoter(id) && now - p.lastHeard < this.options.electionTimeoutMs) live++
      if (live < this.quorum) {
        this.becomeFollower(undefined)
        return
      }
    }
    this.tick++
    // Lease mode: every tick is a new round, whose acknowledgements extend the lease from now.
    if (this.options.readMode === 'lease') this.lease.sent(this.reads.newRound(), now)
    if (this.preparing) this.sendPrepares()
    for (const [id, peer] of this.peers) {
      // Flow control: a peer silent since the last tick gets only the heartbeat (which it answers once
      // reachable again); no Learn, no retransmission piles up for it meanwhile.
      const reachable = peer.answered || flowTesting.unbounded
      peer.answered = false
      if (peer.chosen < this.chosenAtLastTick && reachable) this.sendLearn(id, peer.chosen + 1)
      // Retransmit from the first slot this peer has not acknowledged, if it was sent a tick ago.
      for (let slot = this.chosen + 1; slot < this.nextSlot; slot++) {
        const entry = this.inflight.get(slot)
        if (entry === undefined || entry.acks.has(id)) continue
        if (entry.tick < this.tick - 1 && reachable) {
          // It answers but did not acknowledge: those Accepts were lost (or refused). Start its window over.
          if (!flowTesting.unbounded) {
            peer.window.reset()
            peer.next = slot
          }
          this.sendAccepts(id, slot, this.nextSlot - 1)
        }
        break
      }
      this.sendHeartbeat(id, peer)
    }
    this.acceptCache = undefined
    this.chosenAtLastTick = this.chosen
    this.transfer.progress()
    this.armHeartbeat()
  }

  // ---------------------------------------------------------------- phase 2 (proposer)

  /** Give `value` the next slot if the window has room, else queue it. The slot, undefined when queued, false when refused. */
  private enqueue(value: Uint8Array): number | undefined | false {
    if (this.queue.length === 0 && this.canPropose()) {
      const slot = this.nextSlot++
      this.proposeAt(slot, value, this.ballot)
      return slot
    }
    if (this.queue.length >= this.options.maxQueuedProposals) return false
    this.queue.push(value)
    return undefined
  }

  /**
   * A new slot may be given out: the window has room, no configuration is pending (nothing is
   * proposed after a configuration slot until it is chosen and prepared: ADR 0014), and no
   * leadership transfer is under way.
   */
  private canPropose(): boolean {
    return (
      this.role === 'leader' &&
      ((this.pendingConfigSlot === 0 && !this.preparing) || paxosTesting.ignoreStopSign) &&
      !this.transfer.active &&
      this.nextSlot - 1 - this.chosen < this.options.maxInflightSlots
    )
  }

  private fillWindow(): void {
    let n = 0
    while (n < this.queue.length && this.canPropose()) {
      const slot = this.nextSlot++
      const value = this.queue[n++]!
      const v = decodeValue(value, this.options.maxCommandBytes)
      if (v.kind !== 'noop' && v.nonce === this.nonce) this.mySlots.set(slot, v.counter)
      if (v.kind === 'config') this.configQueued = false
      this.proposeAt(slot, value, this.ballot)
    }
    if (n > 0) this.queue = this.queue.slice(n)
  }

  /** Phase 2a at `slot`: accept it ourselves (persisted with this batch) and send it in flush(). */
  private proposeAt(slot: number, value: Uint8Array, ballot: number): void {
    if (isConfigValue(value)) this.pendingConfigSlot = slot
    this.store.accept(slot, ballot, value)
    this.inflight.set(slot, { value, acks: new Set([this.self]), tick: this.tick })
    if (this.sendFrom === 0 || slot < this.sendFrom) this.sendFrom = slot
    if (this.quorum === 1) this.advanceChosen()
  }

  private sendHeartbeat(to: NodeId, peer: Peer): void {
    peer.sentCommit = this.chosen
    this.send(to, { type: MessageType.Heartbeat, ballot: this.ballot, commit: this.chosen, read: this.reads.round })
  }

  private sendAccepts(to: NodeId, from: number, last: number): void {
    const start = Math.max(from, this.chosen + 1)
    // Every peer usually gets the same slots: encode them once per flush (or tick), not once per acceptor.
    let c = this.acceptCache
    if (c === undefined || c.ballot !== this.ballot || c.from !== start || c.last !== last || c.commit !== this.chosen) {
      const lasts: number[] = []
      c = { ballot: this.ballot, from: start, last, commit: this.chosen, messages: this.encodeAccepts(start, last, lasts), lasts }
      this.acceptCache = c
    }
    if (c.messages.length === 0) return
    const peer = this.peers.get(to)
    const bounded = peer !== undefined && !flowTesting.unbounded
    let sent = 0
    for (; sent < c.messages.length; sent++) {
      // Its window is full: the rest waits (peer.next stays at it) until an acknowledgement frees room.
      if (bounded && peer.window.full()) break
      const bytes = c.messages[sent]!
      this.ctx.send(to, bytes)
      if (peer !== undefined) {
        peer.window.add(c.lasts[sent]!, bytes.byteLength)
        peer.next = Math.max(peer.next, c.lasts[sent]! + 1)
      }
    }
    this.stats.acceptsHeld += c.messages.length - sent
    if (peer !== undefined && sent > 0) peer.sentCommit = this.chosen
  }

  /** Accept messages for the in-flight slots [first, last] (stopping at the first one not in flight), at most maxSlotsPerMessage each. */
  private encodeAccepts(first: number, last: number, lasts: number[]): Uint8Array[] {
    const max = this.options.maxSlotsPerMessage
    const messages: Uint8Array[] = []
    while (first <= last) {
      const values: Uint8Array[] = []
      let slot = first
      for (; slot <= last && values.length < max; slot++) {
        const entry = this.inflight.get(slot)
        if (entry === undefined) break
        values.push(entry.value)
      }
      if (values.length === 0) break
      messages.push(encodeMessage({ type: MessageType.Accept, ballot: this.ballot, first, values, commit: this.chosen }))
      lasts.push(first + values.length - 1)
      if (slot <= last && this.inflight.get(slot) === undefined) break
      first = slot
    }
    return messages
  }

  private handleAccepted(from: NodeId, m: AcceptedMessage): void {
    if (!m.ok) {
      this.seeBallot(m.promised)
      return
    }
    if (this.role !== 'leader' || m.ballot !== this.ballot) return
    const peer = this.peers.get(from)
    if (peer === undefined) return
    peer.lastHeard = this.ctx.now()
    peer.chosen = m.chosen
    peer.answered = true
    // Everything up to the last slot it acknowledged, or up to its chosen index, has arrived (or no longer matters).
    peer.window.freeUpTo(Math.max(m.count > 0 ? m.first + m.count - 1 : 0, m.chosen))
    // Learners accept too (so they learn by ballot), but only voters of the configuration count.
    if (this.config.isVoter(from)) for (let slot = m.first; slot < m.first + m.count; slot++) this.inflight.get(slot)?.acks.add(from)
    this.advanceChosen()
    if (m.read > 0) {
      const round = this.reads.acknowledged(from, m.read, this.applied)
      if (round > 0 && this.options.readMode === 'lease') this.lease.acknowledged(round)
    }
    this.transfer.progress()
  }

  private advanceChosen(): void {
    let entry = this.inflight.get(this.chosen + 1)
    if (entry === undefined || entry.acks.size < this.quorum) return
    const run: LogEntry[] = []
    while (entry !== undefined && entry.acks.size >= this.quorum) {
      this.learnChosen(this.chosen + 1, this.ballot, entry.value, run)
      entry = this.inflight.get(this.chosen + 1)
    }
    this.ctx.storage.append(run)
    this.applyChosen()
    if (this.role === 'leader') this.fillWindow()
  }

  // ---------------------------------------------------------------- phase 2 (acceptor)

  private handleAccept(from: NodeId, m: AcceptMessage | HeartbeatMessage): void {
    if (m.ballot < this.store.promised) {
      this.send(from, { type: MessageType.Accepted, ballot: m.ballot, ok: false, promised: this.store.promised, first: 1, count: 0, chosen: this.chosen, read: 0 })
      return
    }
    // Only the node that won a ballot's phase 1 sends Accepts in it: if we promised that ballot to
    // another candidate, that one lost (ADR 0014), so the owner moves to the sender.
    this.store.promise(m.ballot, from)
    if (this.role !== 'follower' || this.leader !== from) this.becomeFollower(from)
    else this.resetElectionTimer()
    this.lastLeaderContact = this.ctx.now()
    let first = 1
    let count = 0
    if (m.type === MessageType.Accept) {
      first = m.first
      for (let i = 0; i < m.values.length; i++) {
        const slot = m.first + i
        // Already chosen here: the leader's value is the chosen one (Paxos safety), so acknowledge it.
        if (slot > this.chosen) {
          if (slot > this.chosen + ACCEPT_RING) break // outside the window this acceptor can store
          this.store.accept(slot, m.ballot, m.values[i]!)
        }
        count++
      }
    }
    this.learnUpTo(m.commit, m.ballot)
    // A heartbeat's read round comes back: acknowledged in this ballot, it confirms the leader's reads.
    const read = m.type === MessageType.Heartbeat ? m.read : 0
    this.queueAccepted(from, m.ballot, first, count, read)
  }

  /**
   * One Accepted per leader and batch: acknowledgements of consecutive slots (and heartbeats) in one
   * ballot are merged and sent in flush(), after the batch's sync like every reply.
   */
  private queueAccepted(to: NodeId, ballot: number, first: number, count: number, read: number): void {
    const p = this.pendingAccepted
    if (p !== undefined && p.to === to && p.ballot === ballot && (p.count === 0 || count === 0 || p.first + p.count === first)) {
      if (p.count === 0) {
        p.first = first
        p.count = count
      } else p.count += count
      if (read > p.read) p.read = read
      return
    }
    this.sendPendingAccepted()
    this.pendingAccepted = { to, ballot, first, count, read }
  }

  private sendPendingAccepted(): void {
    const p = this.pendingAccepted
    if (p === undefined) return
    this.pendingAccepted = undefined
    this.send(p.to, { type: MessageType.Accepted, ballot: p.ballot, ok: true, promised: this.store.promised, first: p.first, count: p.count, chosen: this.chosen, read: p.read })
  }

  /**
   * The leader of `ballot` says slots up to `commit` are chosen. A slot whose
   * accepted value is of that ballot holds the leader's value, hence the
   * chosen one; any other slot is fetched (the leader pushes it).
   */
  private learnUpTo(commit: number, ballot: number): void {
    const run: LogEntry[] = []
    while (this.chosen < commit) {
      const a = this.store.accepted.get(this.chosen + 1)
      if (a === undefined || a.ballot !== ballot) break
      this.learnChosen(this.chosen + 1, ballot, a.value, run)
    }
    if (run.length === 0) return
    this.ctx.storage.append(run)
    this.applyChosen()
  }

  // ---------------------------------------------------------------- learning and execution

  /**
   * Append the chosen value of the next slot to the log (executed by applyChosen), or to `run`, which
   * the caller appends in one go before anything reads the log (one storage append per run of slots).
   */
  private learnChosen(slot: number, ballot: number, value: Uint8Array, run?: LogEntry[]): void {
    if (slot !== this.chosen + 1) throw new Error(`paxos: learning slot ${slot} with chosen at ${this.chosen}`)
    const entry = { index: slot, term: ballot, data: value }
    if (run === undefined) this.ctx.storage.append([entry])
    else run.push(entry)
    this.chosen = slot
    this.store.forget(slot)
    this.inflight.delete(slot)
    this.noteChosen(slot, value)
  }

  /** A chosen configuration takes effect for the slots after it: quorums change now, the event comes at apply time. */
  private noteChosen(slot: number, value: Uint8Array): void {
    if (!isConfigValue(value)) return
    const v = decodeValue(value, this.options.maxCommandBytes)
    if (v.kind !== 'config') return
    this.config = new Configuration(v.membership)
    this.configsToAnnounce.set(slot, this.config)
    this.configChanged = true
    if (slot === this.pendingConfigSlot) this.pendingConfigSlot = 0
  }

  private applyChosen(): void {
    const storage = this.ctx.storage
    while (this.applied < this.chosen) {
      const index = this.applied + 1
      const entry = storage.entry(index)
      if (entry === undefined) throw new Error(`paxos: chosen slot ${index} is missing from the log`)
      this.applied = index
      const v = decodeValue(entry.data, this.options.maxCommandBytes)
      const mine = this.mySlots.get(index)
      if (mine !== undefined) this.mySlots.delete(index)
      let client: ClientRef | undefined
      if (v.kind !== 'noop' && v.nonce === this.nonce) {
        client = this.clients.get(v.counter)?.client
        this.clients.delete(v.counter)
      }
      if (mine !== undefined && !(v.kind !== 'noop' && v.nonce === this.nonce && v.counter === mine)) {
        // Our command lost its slot to another value: it was never chosen anywhere, so it may be retried.
        const lost = this.clients.get(mine)
        this.clients.delete(mine)
        if (lost !== undefined) this.ctx.reject(lost.client, new NotLeaderError(this.leader === this.self ? undefined : this.leader, 'the proposal lost its slot and was not chosen; retry'))
      }
      if (v.kind === 'command') this.ctx.commit(client === undefined ? { index, command: v.command } : { index, command: v.command, client })
      else if (v.kind === 'config') {
        const config = this.configsToAnnounce.get(index)
        this.configsToAnnounce.delete(index)
        this.ctx.observe({ type: 'membership', membership: config?.membership ?? v.membership, index })
        if (client !== undefined) this.ctx.respond(client, { index, result: EMPTY })
      }
    }
    this.reads.serveUpTo(this.applied)
    this.maybeSnapshot()
    if (this.configChanged) this.onConfigChanged()
  }

  /** The configuration changed (ADR 0014): the leader prepares the new voters, a removed node stops campaigning or leading. */
  private onConfigChanged(): void {
    this.configChanged = false
    this.transfer.cancelIfTarget((id) => !this.config.isVoter(id))
    const voter = this.config.isVoter(this.self)
    if (this.role === 'leader') {
      // The quorum that acknowledged the lease may not be a quorum of the new configuration.
      this.lease.expire()
      this.syncPeers()
      if (!voter) return this.becomeFollower(undefined)
      if (!paxosTesting.ignoreStopSign) this.reprepare()
    } else if (this.role === 'candidate') {
      if (voter) this.campaign(false, this.forceCampaign)
      else this.becomeFollower(undefined)
    } else if (this.role === 'pre-candidate' && !voter) this.becomeFollower(undefined)
  }

  /** Phase 1 again with our ballot, for the slots after the configuration, in the new configuration's voters. */
  private reprepare(): void {
    this.preparing = true
    this.forceCampaign = false
    this.promises.clear()
    this.promises.set(this.self, this.promiseFor(this.ballot, this.chosen))
    this.sendPrepares()
    this.checkPromises()
  }

  // ---------------------------------------------------------------- catch-up and snapshots

  /** Send chosen slots from `from` on (a Learn), or the snapshot when they are truncated. */
  private sendLearn(to: NodeId, from: number): void {
    if (from > this.chosen) return
    const slots = this.chosenEntries(from, Math.min(this.chosen + 1, from + this.options.maxSlotsPerMessage))
    if (slots === undefined) return this.sendSnapshot(to)
    const entries = slots.map((e) => [e.term, e.data] as const)
    this.send(to, { type: MessageType.Learn, first: from, entries, chosen: this.chosen })
    this.stats.learnsSent++
  }

  /**
   * Chosen slots from `from` (below `end`, at most LEARN_BYTES, at least one), from the log or, below
   * its truncation point, from the trailing log (only up to the truncation point: the receiver fetches
   * the rest next). Undefined when `from` was truncated from both: the replica needs the snapshot.
   */
  private chosenEntries(from: number, end: number): readonly LogEntry[] | undefined {
    const storage = this.ctx.storage
    const first = storage.firstIndex()
    if (from >= first) return storage.entries(from, end, LEARN_BYTES)
    const held = this.trailing.firstIndex()
    // The window must run on into the log: after an installed snapshot it is cleared.
    if (held === undefined || from < held || this.trailing.lastIndex() !== first - 1) return undefined
    this.stats.trailingLearns++
    return this.trailing.slice(from, Math.min(end, first), LEARN_BYTES)
  }

  private handleLearn(from: NodeId, m: LearnMessage): void {
    // A leader learns only through its own quorums (see README: a Learn could carry a later ballot's value).
    if (this.role === 'leader') return
    if (m.first > this.chosen + 1) {
      this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
      return
    }
    const before = this.chosen
    for (let i = 0; i < m.entries.length; i++) {
      const slot = m.first + i
      if (slot <= this.chosen) continue
      const [ballot, value] = m.entries[i]!
      this.learnChosen(slot, ballot, value)
    }
    if (this.chosen > before) this.applyChosen()
    if (this.chosen < m.chosen && this.chosen > before) this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
  }

  /** Start (or continue, or resume after a stall) the chunked transfer of our snapshot to `to`. */
  private sendSnapshot(to: NodeId): void {
    const latest = this.ctx.storage.snapshot()
    if (latest === undefined) return
    const now = this.ctx.now()
    let t = this.outgoing.get(to)
    // A transfer nobody acknowledged for long (the replica went away) is dropped: start afresh.
    if (t !== undefined && now - t.lastProgressAt >= 10 * this.options.electionTimeoutMs) t = undefined
    if (t === undefined) {
      const meta = latest.meta.byteLength > 0 ? latest.meta : encodeMembership(this.ctx.membership)
      // This transfer sends this snapshot to the end, whatever we take meanwhile.
      t = new OutgoingSnapshot({ ...latest, meta }, now)
      this.outgoing.set(to, t)
      this.stats.snapshotsSent++
    } else if (t.acked === 0 && latest.index > t.snapshot.index) {
      // Nothing of it was acknowledged yet (the replica was unreachable): nothing is lost by taking the newest.
      // (Its progress clock is kept: a replica that never answers holds compaction back for one election timeout only.)
      t = new OutgoingSnapshot({ ...latest, meta: latest.meta.byteLength > 0 ? latest.meta : encodeMembership(this.ctx.membership) }, t.lastProgressAt)
      t.resumedAt = now
      this.outgoing.set(to, t)
    } else if (t.stalled(now, 2 * this.options.heartbeatIntervalMs)) t.resume(now) // a lost chunk or answer
    this.sendChunks(to, t)
  }

  private sendChunks(to: NodeId, t: OutgoingSnapshot): void {
    if (snapshotTesting.restartWithNewest) {
      // The old rule (test switch): start over whenever a newer snapshot exists.
      const latest = this.ctx.storage.snapshot()
      if (latest !== undefined && latest.index > t.snapshot.index) {
        this.stats.snapshotRestarts++
        t = new OutgoingSnapshot({ ...latest, meta: latest.meta.byteLength > 0 ? latest.meta : encodeMembership(this.ctx.membership) }, this.ctx.now())
        this.outgoing.set(to, t)
      }
    }
    const { index, term, meta, data } = t.snapshot
    for (const { offset, chunk, checksum } of t.next(this.options.snapshotChunkBytes)) {
      this.stats.snapshotChunks++
      this.send(to, { type: MessageType.Snapshot, index, term, meta, total: data.byteLength, offset, chunk, checksum, chosen: this.chosen })
    }
  }

  private handleSnapshotAck(from: NodeId, m: SnapshotAckMessage): void {
    const t = this.outgoing.get(from)
    if (t === undefined || m.index !== t.snapshot.index) return
    if (m.done) {
      this.outgoing.delete(from)
      // Held back while the transfer ran: the receiver fetches the slots after it next (see maybeSnapshot).
      this.lastTransferDone = this.ctx.now()
      return
    }
    const outcome = t.acknowledged(m.nextOffset, this.ctx.now())
    if (outcome === 'ignore') return
    if (outcome === 'restart') this.stats.snapshotRestarts++
    this.sendChunks(from, t)
  }

  /** One chunk of a snapshot: taken in order only, checked against its running checksum, installed when complete. */
  private handleSnapshot(from: NodeId, m: SnapshotMessage): void {
    if (this.role === 'leader') return
    const ack = (nextOffset: number, done = false) => this.send(from, { type: MessageType.SnapshotAck, index: m.index, nextOffset, done })
    if (m.index <= this.chosen) {
      // Covered already: the transfer is over; fetch what follows if still behind.
      ack(m.total, true)
      if (this.chosen < m.chosen) this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
      return
    }
    let incoming = this.incoming
    const same = incoming !== undefined && incoming.from === from && incoming.index === m.index && incoming.data.byteLength === m.total
    if (m.offset === 0 && !same) {
      // The one buffer the snapshot is assembled in, then handed to storage and the state machine.
      incoming = { from, index: m.index, term: m.term, meta: m.meta.slice(), data: new Uint8Array(m.total), received: 0, checksum: 0 }
      this.incoming = incoming
    } else if (!same || incoming!.received !== m.offset) {
      // Out of order (a chunk was lost) or a repeat: say where we are; 0 when this transfer is not ours (we restarted).
      ack(same ? incoming!.received : 0)
      return
    }
    incoming = incoming!
    // The chunk's checksum covers the data up to its end: a corrupt chunk is refused (and resent) before it is
    // taken in, and the last one verifies the whole snapshot before anything is installed.
    const checksum = crc32c(m.chunk, incoming.checksum)
    if (checksum !== m.checksum && !snapshotTesting.skipChecksum) {
      this.stats.corruptChunks++
      ack(incoming.received)
      return
    }
    incoming.data.set(m.chunk, m.offset)
    incoming.received += m.chunk.byteLength
    incoming.checksum = checksum
    if (incoming.received < m.total) {
      ack(incoming.received)
      return
    }
    this.incoming = undefined
    this.installSnapshot(from, { index: incoming.index, term: incoming.term, data: incoming.data, meta: incoming.meta })
    ack(m.total, true)
    if (this.chosen < m.chosen) this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
  }

  private installSnapshot(from: NodeId, snapshot: Snapshot): void {
    // The assembled buffer is ours alone: storage keeps it as is (one copy in memory).
    this.ctx.storage.saveSnapshot(snapshot, { handOver: true })
    this.trailing.clear()
    // Our own snapshot in slices (if one runs) was of the replaced state: its answer is ignored.
    if (this.localSnapshot.running) {
      this.localSnapshot.generation++
      this.localSnapshot.running = false
      this.localSnapshot.abandoned++
    }
    this.ctx.installSnapshot(snapshot)
    this.chosen = this.applied = snapshot.index
    const membership = decodeMembership(snapshot.meta)
    if (membership.epoch !== this.config.membership.epoch) {
      this.config = new Configuration(membership)
      this.ctx.observe({ type: 'membership', membership, index: snapshot.index })
      this.onConfigChanged()
    }
    this.store.forgetUpTo(snapshot.index)
    for (const slot of this.mySlots.keys()) if (slot <= snapshot.index) this.mySlots.delete(slot)
    for (const slot of this.configsToAnnounce.keys()) if (slot <= snapshot.index) this.configsToAnnounce.delete(slot)
    this.stats.snapshotsInstalled++
    this.ctx.observe({ type: 'custom', name: 'snapshot-installed', detail: { index: snapshot.index, from } })
  }

  /**
   * Whether compaction waits: a snapshot transfer from this node is running (or just ended, and its
   * receiver now fetches the slots after it), or, on the leader, a live voter lags by more than a
   * Learn message. Truncating now would make such a replica need a newer snapshot again — under
   * steady writes, forever. Bounded by the caller (at most 4 × snapshotEvery held back).
   */
  private catchUpInProgress(): boolean {
    if (snapshotTesting.restartWithNewest) return false
    const now = this.ctx.now()
    const recent = this.options.electionTimeoutMs
    for (const t of this.outgoing.values()) if (now - t.lastProgressAt < recent) return true
    if (now - this.lastTransferDone < recent) return true
    if (this.role !== 'leader') return false
    for (const p of this.peers.values()) if (now - p.lastHeard < recent && p.chosen + this.options.maxSlotsPerMessage < this.applied) return true
    return false
  }

  private maybeSnapshot(): void {
    const every = this.options.snapshotEvery
    if (every === 0) return
    const storage = this.ctx.storage
    const last = storage.snapshot()?.index ?? 0
    if (this.applied - last < every) return
    if (this.applied - last < 4 * every && this.catchUpInProgress()) return
    if (this.localSnapshot.running) return
    // No-ops after the last command do not change the state: it is the state at `applied` (the runtime's
    // index is that of the last command, which may be lower). The configuration in force after `applied`
    // (= chosen here) rides in the snapshot's meta.
    const at = { index: this.applied, meta: encodeMembership(this.config.membership) }
    if (this.ctx.beginSnapshot === undefined || snapshotTesting.oneShotSnapshots) {
      this.saveTakenSnapshot(this.ctx.takeSnapshot().data, at)
      return
    }
    // Taken a slice at a time between batches while slots keep being executed (ADR 0025): the one-shot
    // snapshot blocked its batch and, with the kv state machine, cost more CPU (generic CBOR).
    const generation = ++this.localSnapshot.generation
    this.localSnapshot.running = true
    this.ctx.beginSnapshot((taken) => {
      if (generation !== this.localSnapshot.generation) return
      this.localSnapshot.running = false
      if (taken === undefined) this.localSnapshot.abandoned++
      else this.saveTakenSnapshot(taken.data, at)
    })
  }

  /** Store the state machine's snapshot `data` as the state at `at.index` (begun some batches ago when taken in slices). */
  private saveTakenSnapshot(data: Uint8Array, at: { index: number; meta: Uint8Array }): void {
    if (this.stopped) return
    const storage = this.ctx.storage
    // A snapshot received meanwhile covers it already (the state was replaced), or the slot left the log.
    if (at.index <= (storage.snapshot()?.index ?? 0) || at.index > this.applied || storage.entry(at.index) === undefined) {
      this.localSnapshot.abandoned++
      return
    }
    this.trailing.retain(storage, at.index) // before saveSnapshot drops the slots
    storage.saveSnapshot({ index: at.index, term: storage.term(at.index) ?? 0, data, meta: at.meta })
    this.localSnapshot.taken++
    this.ctx.observe({ type: 'snapshot', index: at.index })
  }

  // ---------------------------------------------------------------- forwarding

  private handleForward(from: NodeId, m: ForwardMessage): void {
    if (this.role !== 'leader' || this.transfer.active) {
      // During a transfer `leader` is ourselves: the follower answers ProposalDroppedError (retryable).
      this.send(from, { type: MessageType.ForwardReject, nonce: m.nonce, firstCounter: m.firstCounter, count: m.commands.length, leader: this.leader ?? '' })
      return
    }
    for (let i = 0; i < m.commands.length; i++) {
      if (this.enqueue(encodeCommandValue(m.nonce, m.firstCounter + i, m.commands[i]!)) === false) {
        this.send(from, { type: MessageType.ForwardReject, nonce: m.nonce, firstCounter: m.firstCounter + i, count: m.commands.length - i, leader: this.self })
        return
      }
    }
  }

  private handleForwardReject(from: NodeId, m: ForwardRejectMessage): void {
    if (m.nonce !== this.nonce) return
    const error =
      m.leader === from
        ? new ProposalDroppedError("the leader's window and queue are full")
        : new NotLeaderError(m.leader === '' || m.leader === this.self ? undefined : m.leader)
    for (let counter = m.firstCounter; counter < m.firstCounter + m.count; counter++) {
      const c = this.clients.get(counter)
      if (c === undefined) continue
      this.clients.delete(counter)
      this.ctx.reject(c.client, error)
    }
  }

  private send(to: NodeId, message: PaxosMessage): void {
    this.ctx.send(to, encodeMessage(message))
  }
}
