import {
  MAX_MEMBER_META_BYTES,
  ConfigError,
  NotLeaderError,
  ProposalDroppedError,
  TimeoutError,
  type ClientRef,
  type LogEntry,
  type MembershipChange,
  type Membership,
  type NodeId,
  type SingleMembershipChange,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolNode,
  type SnapshotWriter,
  type Storage,
  type SynodError,
  type TimerId,
  TrailingLog,
} from '@synod/core'
import { ByteReader, ByteWriter } from './binary.js'
import {
  EntryKind,
  commandEntryData,
  configEntryData,
  decodeMembership,
  encodeMembership,
  entryCommand,
  entryForwardTag,
  entryKind,
  entryMembership,
  forwardedEntryData,
  noopEntryData,
} from './entry.js'
import {
  decodeMessage,
  encodeMessage,
  MessageType,
  ProposeRejectReason,
  type AppendMessage,
  type AppendResponseMessage,
  type DecodeLimits,
  type HeartbeatMessage,
  type ProposeMessage,
  type ProposeRejectMessage,
  type RaftMessage,
  type ReadIndexMessage,
  type SnapshotMessage,
  type SnapshotResponseMessage,
  type VoteMessage,
  type VoteResponseMessage,
} from './messages.js'
import { FollowerReads, followerReadTesting, readIndexAnswer, readIndexRefusal, type ReadView, type RemoteRead } from './follower-reads.js'
import { LeaderLease, leaseTesting } from './lease.js'
import { resolveRaftOptions, type RaftOptions } from './options.js'
import { Progress } from './progress.js'
import { crc32c } from './checksum.js'
import { DurableLog, parallelAppendTesting } from './durable-log.js'
import { nextSnapshotChunks, resumeSnapshot, snapshotAcknowledged, snapshotTesting } from './snapshot-transfer.js'

export type RaftRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

/**
 * A membership change, core's MembershipChange: a single-server change
 * (dissertation §4.1) or several at once by joint consensus (`type: 'joint'`, §4.3).
 */
export type ConfigChange = MembershipChange

const EMPTY_RESULT = new Uint8Array(0)
const ENTRY_CHUNK_BYTES = 64 * 1024
/** AppendEntries of a leader that writes its log in parallel: they may leave before its own sync. */
const BEFORE_SYNC = { beforeSync: true } as const

/** Storage key of the persisted hard state: term, vote and (at config changes) commit. */
export const HARD_STATE_KEY = 'raft.hardState'

interface ProposalRef {
  readonly client: ClientRef
  readonly term: number
}

/** A read waiting on the leader: a local client's, or a follower's ReadIndex request (`remote`). */
interface ReadWaiter {
  readonly client?: ClientRef
  readonly remote?: RemoteRead
}

/** Follower ReadIndex requests a leader holds at most (each stands for one follower batch of reads). */
const MAX_REMOTE_READS = 4096

interface PendingRead extends ReadWaiter {
  readonly index: number
  /** The ReadIndex round that must be acknowledged by a quorum. */
  readonly round: number
}

interface IncomingSnapshot {
  /** The leader sending it, and its term: a chunk from another leader or term starts over. */
  readonly from: NodeId
  readonly leaderTerm: number
  readonly index: number
  readonly term: number
  readonly totalBytes: number
  /**
   * Where the snapshot's bytes go as they arrive (ADR 0027): a storage writer, so the follower holds
   * no buffer of its own (a durable store writes each chunk to the snapshot's file at once).
   */
  readonly writer: SnapshotWriter
  received: number
  /** CRC-32C of the bytes received so far, checked against every chunk's. */
  checksum: number
}

/**
 * One Raft server as a deterministic, sans-I/O state machine (Ongaro &
 * Ousterhout 2014; Ongaro's dissertation for PreVote, CheckQuorum, ReadIndex,
 * leader transfer and membership changes). It reacts to messages, timers and
 * client requests and acts only through the ProtocolContext. Sends produced
 * while handling a batch of inputs are coalesced and emitted in `flush()`,
 * which the Replica calls once per batch before its storage sync.
 */
const restoreInSlices = { inSlices: true } as const

export class RaftNode implements ProtocolNode {
  readonly options: RaftOptions
  private readonly ctx: ProtocolContext
  private readonly self: NodeId
  private readonly limits: DecodeLimits

  // Persistent (§5.1, Figure 2)
  private term = 0
  private vote: NodeId | undefined
  // Volatile
  private role: RaftRole = 'follower'
  private leader: NodeId | undefined
  private commit = 0
  private applied = 0
  private config: Membership
  /** The voters of the configuration in force (the incoming voters while joint). */
  private voters = new Set<NodeId>()
  /** While joint (§4.3): the outgoing voters, whose majority every decision needs too. */
  private outgoing: Set<NodeId> | undefined
  private learners = new Set<NodeId>()
  private stopped = false
  private started = false

  // Elections
  private electionTimer: TimerId | undefined
  private electionTimerDue = 0
  /** Start of the current election wait (reset by leader contact). */
  private electionStart = 0
  private randomizedElectionTimeout = 0
  private readonly votes = new Map<NodeId, boolean>()

  // Leader state
  private readonly progress = new Map<NodeId, Progress>()
  private heartbeatTimer: TimerId | undefined
  /** Apply pacing: the timer that applies the next slice of committed entries in a batch of its own. */
  private applyTimer: TimerId | undefined
  private lastQuorumCheck = 0
  private pendingConfigIndex = 0
  private uncommittedBytes = 0
  private transferTarget: NodeId | undefined
  /** The Replica client waiting for a transfer to complete. */
  private transferClient: ClientRef | undefined
  private transferStart = 0
  /** TimeoutNow goes to the target once per transfer. */
  private transferTimeoutNowSent = false
  /** Log index → the local client whose proposal this node appended there, with the term it was appended in. */
  private readonly proposals = new Map<number, ProposalRef>()
  /** The client of a joint change whose joint entry is applied: answered when the configuration leaves joint. */
  private awaitingLeave: ClientRef | undefined

  // Reads (§6.4)
  /** Lease reads (§6.4.1): when this leader may serve reads without a heartbeat round. */
  private readonly lease: LeaderLease
  /** Lease mode: a (re)started node grants no vote before this time (it may have acknowledged a leader just before). */
  private voteQuietUntil = 0
  private readRound = 0
  private readRoundPending = false
  /**
   * The last heartbeat round sent (by a flush for reads, or by the heartbeat timer). A flush sends a read round
   * only once a quorum acknowledged this one: one read round in flight at a time, so under many concurrent reads
   * (each its own batch in a daemon) the rounds per second are bounded by the round trip, not by the read rate;
   * the reads that arrive meanwhile share the next round (etcd's server does the same with its read loop).
   */
  private readRoundSent = 0
  private readsAwaitingConfirmation: PendingRead[] = []
  private readsAwaitingApply: PendingRead[] = []
  /** Reads that arrived before this leader committed an entry of its term. */
  private readsAwaitingTermCommit: ReadWaiter[] = []
  /** Follower ReadIndex requests this leader holds (in the lists above). */
  private remoteReads = 0
  /** Follower reads (etcd's MsgReadIndex): the follower side. */
  private readonly followerReads: FollowerReads

  /**
   * Proposals of the current batch not yet handed to storage: appending them in one call
   * per batch instead of one per proposal is the main cost saving on the hot path.
   * Every other access to the log goes through `storage`, which appends them first.
   */
  private unappended: LogEntry[] = []
  private entryChunk = new Uint8Array(0)
  private entryChunkOffset = 0

  /** How far our own log is durable: the leader's own match index (§10.2.1). */
  private durable = new DurableLog(0)

  // Follower state
  private pendingAck: { to: NodeId; index: number } | undefined
  // Proposal forwarding (follower side): this incarnation's nonce, the next counter,
  // the batch's proposals to send, and those sent but not yet applied (by counter).
  private forwardNonce = 0
  private forwardCounter = 1
  private forwardBuffer: Array<{ command: Uint8Array; client: ClientRef }> = []
  private readonly forwarded = new Map<number, { client: ClientRef; at: number }>()
  private lastForwardSweep = 0
  /** Forwarded proposals: sent (as follower), accepted and refused (as leader). */
  private readonly forwardStats = { sent: 0, accepted: 0, rejected: 0 }
  private incomingSnapshot: IncomingSnapshot | undefined
  /**
   * InstallSnapshot as leader: transfers started and completed, chunks sent, and restarts (a transfer
   * that began again at offset 0 after sending data: only when the follower lost what it had).
   */
  private readonly snapshotStats = { started: 0, completed: 0, chunks: 0, restarts: 0, abandoned: 0 }
  /**
   * InstallSnapshot as follower: chunks taken in, snapshots installed, chunks dropped because their
   * checksum did not match (asked for again), and transfers begun again from 0 (a new leader, term
   * or snapshot, or a restart that lost the partial one).
   */
  private readonly receiveStats = { chunks: 0, installed: 0, corruptChunks: 0, restarted: 0 }
  /** This node's own snapshot, when the runtime takes it in slices (`ctx.beginSnapshot`, ADR 0025). */
  private readonly localSnapshot: { running: boolean; generation: number; taken: number; abandoned: number; writer?: SnapshotWriter | undefined } = {
    running: false,
    generation: 0,
    taken: 0,
    abandoned: 0,
  }
  /** reportUnreachable calls that found a follower to act on. */
  private unreachableReports = 0
  /** Committed entries kept behind the last compaction point (etcd's SnapshotCatchUpEntries). */
  private readonly trailing: TrailingLog

  constructor(ctx: ProtocolContext, options?: Partial<RaftOptions>) {
    this.options = resolveRaftOptions(options)
    this.ctx = ctx
    this.self = ctx.self
    this.config = ctx.membership
    this.limits = { maxEntryBytes: this.options.maxEntryBytes, maxSnapshotBytes: this.options.maxSnapshotBytes }
    this.lease = new LeaderLease(this.options.electionTimeoutMs * (1 - this.options.maxClockDrift))
    this.trailing = new TrailingLog(this.options.snapshotCatchUpEntries, this.options.snapshotCatchUpBytes)
    this.followerReads = new FollowerReads(ctx, this.options.electionTimeoutMs, (to, m) => this.send(to, m))
    this.indexConfig()
  }

  /** The log and hard state, with this batch's buffered proposals appended first. */
  private get storage(): Storage {
    if (this.unappended.length > 0) {
      const entries = this.unappended
      this.unappended = []
      this.ctx.storage.append(entries)
    }
    return this.ctx.storage
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    if (this.started) return
    this.started = true
    const storage = this.storage
    let persistedCommit = 0
    const hard = storage.getHardState(HARD_STATE_KEY)
    if (hard !== undefined) {
      const decoded = decodeHardState(hard)
      this.term = decoded.term
      this.vote = decoded.vote
      persistedCommit = decoded.commit
    }
    const snapshot = storage.snapshot()
    if (snapshot !== undefined) {
      this.commit = this.applied = snapshot.index
      this.setConfig(decodeMembership(snapshot.meta), snapshot.index)
    }
    // What the store holds at start survived (or will be synced with this first batch).
    this.durable = new DurableLog(storage.hasPendingWrites() ? 0 : storage.lastIndex())
    this.emitRole()
    // A node that acknowledged a leader's heartbeat just before it crashed must keep refusing votes
    // for an election timeout, as it would have without the crash: that leader's lease counts on it.
    if (this.options.readMode === 'lease' && !leaseTesting.grantVotesRightAfterRestart) this.voteQuietUntil = this.ctx.now() + this.options.electionTimeoutMs
    // The commit index is volatile, except that it is recorded when a config entry is
    // applied, so that a restarted node uses the configuration it had agreed to.
    const recovered = Math.min(persistedCommit, storage.lastIndex())
    if (recovered > this.commit) {
      this.commit = recovered
      this.applyCommitted()
    }
    this.resetElectionTimeout()
    if (this.isSoleVoter()) this.campaign(false)
  }

  stop(): void {
    this.stopped = true
    // Snapshots being written into storage are given up (a durable store removes their files).
    this.incomingSnapshot?.writer.abort()
    this.incomingSnapshot = undefined
    this.localSnapshot.writer?.abort()
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    if (this.heartbeatTimer !== undefined) this.ctx.clearTimer(this.heartbeatTimer)
    if (this.applyTimer !== undefined) this.ctx.clearTimer(this.applyTimer)
    this.electionTimer = this.heartbeatTimer = this.applyTimer = undefined
    this.followerReads.stop()
  }

  status(): NodeStatus {
    const progress: Record<string, unknown> = {}
    for (const [id, pr] of this.progress)
      progress[id] = { match: pr.match, next: pr.next, state: pr.state, learner: pr.isLearner, ...(pr.state === 'snapshot' ? { pendingSnapshot: pr.pendingSnapshot } : {}) }
    return {
      id: this.self,
      role: this.role,
      term: this.term,
      leader: this.leader,
      commitIndex: this.commit,
      lastIndex: this.storage.lastIndex(),
      membership: this.config,
      detail: {
        applied: this.applied,
        vote: this.vote,
        firstIndex: this.storage.firstIndex(),
        durableIndex: this.durable.index,
        catchUpFirstIndex: this.logFirstIndex(),
        snapshotIndex: this.storage.snapshot()?.index ?? 0,
        transferTarget: this.transferTarget,
        progress,
        forwarding: { ...this.forwardStats, waiting: this.forwarded.size },
        leaseUntil: this.role === 'leader' ? this.lease.expiry() : undefined,
        snapshots: { ...this.snapshotStats },
        snapshotsReceived: { ...this.receiveStats },
        localSnapshots: { running: this.localSnapshot.running, taken: this.localSnapshot.taken, abandoned: this.localSnapshot.abandoned },
        unreachableReports: this.unreachableReports,
        followerReads: { ...this.followerReads.stats },
      },
    }
  }

  // ---------------------------------------------------------------- client API

  propose(command: Uint8Array, client: ClientRef): void {
    if (this.stopped) return
    if (this.role !== 'leader' && this.canForward()) {
      if (command.byteLength > this.options.maxEntryBytes) {
        this.ctx.reject(client, new ProposalDroppedError(`command of ${command.byteLength} bytes is over maxEntryBytes`))
        return
      }
      this.forwardBuffer.push({ command, client })
      return
    }
    const refusal = this.proposalRefusal(command.byteLength)
    if (refusal !== undefined) {
      this.ctx.reject(client, refusal)
      return
    }
    const buffered = this.unappended
    const index = (buffered.length === 0 ? this.ctx.storage.lastIndex() : buffered[buffered.length - 1]!.index) + 1
    buffered.push({ index, term: this.term, data: this.commandEntry(command) })
    this.proposals.set(index, { client, term: this.term })
    this.uncommittedBytes += command.byteLength
    if (this.isSoleVoter()) this.maybeCommit()
  }

  /**
   * A Command entry's payload, carved out of a shared chunk: one allocation
   * per 64 KiB of proposals instead of one per proposal (a chunk is never
   * written again once handed out, so stores may keep views into it).
   */
  private commandEntry(command: Uint8Array): Uint8Array {
    const size = command.byteLength + 1
    if (size > ENTRY_CHUNK_BYTES / 4) return commandEntryData(command)
    if (this.entryChunkOffset + size > this.entryChunk.byteLength) {
      this.entryChunk = new Uint8Array(ENTRY_CHUNK_BYTES)
      this.entryChunkOffset = 0
    }
    const start = this.entryChunkOffset
    const data = this.entryChunk.subarray(start, start + size)
    data[0] = EntryKind.Command
    data.set(command, 1)
    this.entryChunkOffset = start + size
    return data
  }

  read(_request: Uint8Array, client: ClientRef): void {
    if (this.stopped) return
    if (this.role !== 'leader') {
      if (this.canReadThroughLeader()) {
        if (followerReadTesting.serveAtOwnCommit) this.followerReads.serveAtOwnCommit(client, this.commit, this.readView(), this.applied)
        else this.followerReads.add(client) // asked for in flush(), one request per batch
        return
      }
      this.ctx.reject(client, new NotLeaderError(this.leader))
      return
    }
    // A new leader does not know the commit index until it commits an entry of its term (§6.4 step 1).
    if (!this.committedInCurrentTerm()) {
      this.readsAwaitingTermCommit.push({ client })
      return
    }
    this.registerRead({ client })
  }

  private readView(): ReadView {
    return { role: this.role, term: this.term, leader: this.leader }
  }

  private canReadThroughLeader(): boolean {
    return this.options.followerReads && this.role === 'follower' && this.leader !== undefined && this.leader !== this.self
  }

  /**
   * Propose a membership change: a single-server change (dissertation §4.1)
   * or, with `type: 'joint'`, several at once by joint consensus (§4.3). Only
   * one change may be pending: the next is refused until the previous one is
   * applied, and while a joint configuration is in force. Returns the log
   * index of the config entry; the change takes effect on every node when
   * that entry is applied (a 'membership' event). A joint change appends
   * C(old,new) (`outgoing` = the old voters); the leader that applies it
   * appends C(new) by itself. Throws NotLeaderError on a non-leader and
   * ProposalDroppedError or ConfigError when the change cannot be made now.
   */
  proposeConfigChange(change: ConfigChange): number {
    return this.appendConfigChange(change, undefined)
  }

  /** The change's entry; `client` is registered before a sole voter commits it on the spot. */
  private appendConfigChange(change: ConfigChange, client: ClientRef | undefined): number {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader)
    if (this.transferTarget !== undefined) throw new ProposalDroppedError('leadership transfer in progress')
    if (this.pendingConfigIndex > this.applied)
      throw new ProposalDroppedError(`the configuration change or no-op at index ${this.pendingConfigIndex} is not applied yet`)
    if (this.outgoing !== undefined) throw new ProposalDroppedError('a joint configuration is in force; it is left first')
    const next = applyConfigChange(this.config, change)
    const index = this.appendAsLeader(configEntryData(next))
    this.pendingConfigIndex = index
    if (client !== undefined) this.proposals.set(index, { client, term: this.term })
    if (this.isSoleVoter()) this.maybeCommit()
    return index
  }

  /**
   * The ProtocolNode entry for `Replica.reconfigure`: proposes the change and
   * answers `client` when its config entry is committed (or rejects it if the
   * entry is overwritten by another leader's log). A joint change is answered
   * when the final configuration C(new) is committed, with the index of that
   * entry, so that an answered change is a change that is complete; it is
   * rejected only if the joint entry is overwritten (once C(old,new) is
   * committed, C(new) always follows, whichever node leads).
   */
  reconfigure(change: MembershipChange, client: ClientRef): void {
    if (this.stopped) return
    this.appendConfigChange(change, client)
  }

  /**
   * Hand leadership to `target` (dissertation §3.10): stop accepting
   * proposals, bring the target's log up to date, then send it TimeoutNow so
   * it starts an election at once. Aborted if it has not happened within an
   * election timeout. Without a target, the voter with the longest matching
   * log is chosen. Throws NotLeaderError on a non-leader and ConfigError when
   * no voter can take over.
   *
   * With `client` (the Replica's `transferLeadership`): answered with
   * `ctx.respond` once this node learns that another node leads, rejected
   * with TimeoutError if the transfer is abandoned or this node leads again.
   */
  transferLeadership(target?: NodeId, client?: ClientRef): void {
    if (this.stopped) return
    if (this.role !== 'leader') throw new NotLeaderError(this.leader)
    const chosen = target ?? this.transferCandidate()
    if (chosen === undefined) throw new ConfigError('no other voter to hand leadership to', 'target')
    if (chosen === this.self) {
      if (client !== undefined) this.ctx.respond(client, { index: 0, result: EMPTY_RESULT })
      return
    }
    if (!this.voters.has(chosen)) throw new ConfigError(`${chosen} is not a voter`, 'target')
    if (client !== undefined) {
      if (this.transferClient !== undefined) throw new ProposalDroppedError('another leadership transfer is waiting for its answer')
      this.transferClient = client
    }
    if (this.transferTarget === chosen) return
    this.transferTarget = chosen
    this.transferStart = this.ctx.now()
    this.transferTimeoutNowSent = false
    // The target's election bypasses the voters' stickiness, so the lease means nothing from here on.
    this.lease.revoke()
    this.maybeSendTimeoutNow(chosen, this.progress.get(chosen)!)
  }

  /**
   * The runtime learned that messages to `peer` are not getting through (a failed dial, a closed
   * connection, a send queue that overflowed): etcd's ReportUnreachable, and ReportSnapshot's
   * failure case for our chunked InstallSnapshot. A leader stops pipelining to it: a follower in
   * the replicate state goes back to probing (one append per heartbeat answer instead of one per
   * batch into a broken link, and from its match point rather than from far ahead), and a snapshot
   * transfer goes back to the last acknowledged chunk, resent as soon as the follower answers a
   * heartbeat. Only flow control changes: never a term, a vote or CheckQuorum's view, so a wrong or
   * late report costs at most a round trip. Ignored on a non-leader and for an unknown peer.
   * Not yet part of core's ProtocolNode contract: the runtime has to call it on the node.
   */
  reportUnreachable(peer: NodeId): void {
    if (this.stopped || this.role !== 'leader') return
    const pr = this.progress.get(peer)
    if (pr === undefined) return
    this.unreachableReports++
    const now = this.ctx.now()
    if (pr.state === 'replicate') pr.becomeProbe(now)
    else if (pr.state === 'snapshot') {
      resumeSnapshot(pr)
      pr.snapshotResumeOnContact = true
    }
  }

  /** Once the target holds our whole log: TimeoutNow, once per transfer. */
  private maybeSendTimeoutNow(to: NodeId, pr: Progress): void {
    if (to !== this.transferTarget || this.transferTimeoutNowSent || pr.match !== this.storage.lastIndex()) return
    this.transferTimeoutNowSent = true
    this.send(to, { type: MessageType.TimeoutNow, term: this.term })
  }

  /** The voter (of the new configuration) whose log matches ours furthest; the first listed on a tie. */
  private transferCandidate(): NodeId | undefined {
    let best: NodeId | undefined
    let bestMatch = -1
    for (const id of this.voters) {
      if (id === this.self) continue
      const match = this.progress.get(id)?.match ?? 0
      if (match > bestMatch) {
        best = id
        bestMatch = match
      }
    }
    return best
  }

  /** Another node leads now: the transfer's client (if any) is answered. */
  private settleTransfer(leader: NodeId | undefined): void {
    const client = this.transferClient
    if (client === undefined) return
    if (leader === this.self) {
      this.transferClient = undefined
      this.ctx.reject(client, new TimeoutError(this.options.electionTimeoutMs, 'leadership transfer (this node leads again)'))
    } else if (leader !== undefined) {
      this.transferClient = undefined
      this.ctx.respond(client, { index: 0, result: EMPTY_RESULT })
    }
  }

  /** Emit what the batch coalesced: one AppendEntries per follower, one ack, one ReadIndex round. */
  flush(): void {
    if (this.stopped) return
    if (this.role === 'leader') {
      // A waiting read round goes out once the previous one is confirmed (see readRoundSent).
      const readRound = this.readRoundPending && this.quorumAcknowledgedRound() >= this.readRoundSent
      if (readRound) {
        this.readRoundPending = false
        this.readRoundSent = this.readRound
      }
      if (readRound && this.options.readMode === 'lease') this.lease.sent(this.readRound, this.ctx.now())
      for (const [id, pr] of this.progress) {
        const sent = this.sendAppends(id, pr)
        if (readRound && !pr.isLearner) this.sendHeartbeat(id, pr)
        else if (!sent && Math.min(pr.match, this.commit) > pr.sentCommit) this.sendHeartbeat(id, pr)
      }
    } else if (this.pendingAck !== undefined) {
      const ack = this.pendingAck
      this.pendingAck = undefined
      const response: RaftMessage = { type: MessageType.AppendResponse, term: this.term, reject: false, index: ack.index, hintIndex: 0, hintTerm: 0 }
      // Persist before promise: the acknowledgement leaves after the sync (the switch is the broken variant).
      if (parallelAppendTesting.ackBeforeSync) this.ctx.send(ack.to, encodeMessage(response), BEFORE_SYNC)
      else this.send(ack.to, response)
    }
    if (this.forwardBuffer.length > 0) this.sendForwarded()
    if (this.followerReads.busy) this.followerReads.flush(this.readView())
    // The sync that follows makes the log durable up to here.
    this.durable.flushed(this.storage.lastIndex())
  }

  /**
   * The runtime's sync made everything up to the last flush() durable: a
   * leader that writes in parallel counts its own copy from here (§10.2.1).
   */
  persisted(): void {
    if (this.stopped) return
    this.durable.persisted()
    if (this.role === 'leader' && this.options.appendInParallel) this.maybeCommit()
  }

  // ---------------------------------------------------------------- proposal forwarding (etcd's MsgProp)

  private canForward(): boolean {
    return this.options.forwardProposals && this.role === 'follower' && this.leader !== undefined && this.leader !== this.self
  }

  /** Hand the batch's proposals to the leader, in messages of at most maxAppendBytes. */
  private sendForwarded(): void {
    const buffer = this.forwardBuffer
    this.forwardBuffer = []
    if (!this.canForward()) {
      // Leadership was lost during the batch.
      const error = new NotLeaderError(this.leader === this.self ? undefined : this.leader)
      for (const p of buffer) this.ctx.reject(p.client, error)
      return
    }
    // A fresh 52-bit nonce per incarnation, drawn when first needed (so nodes that never forward draw
    // nothing): a restarted node never mistakes an old forwarded entry for a new proposal.
    if (this.forwardNonce === 0)
      this.forwardNonce = Math.floor(this.ctx.random.next() * 2 ** 26) * 2 ** 26 + Math.floor(this.ctx.random.next() * 2 ** 26) + 1
    const now = this.ctx.now()
    this.sweepForwarded(now)
    let start = 0
    while (start < buffer.length) {
      let end = start
      let bytes = 0
      while (end < buffer.length && (end === start || bytes + buffer[end]!.command.byteLength <= this.options.maxAppendBytes)) {
        bytes += buffer[end]!.command.byteLength
        end++
      }
      const firstCounter = this.forwardCounter
      const commands: Uint8Array[] = []
      for (let i = start; i < end; i++) {
        this.forwarded.set(this.forwardCounter++, { client: buffer[i]!.client, at: now })
        commands.push(buffer[i]!.command)
      }
      this.send(this.leader!, { type: MessageType.Propose, term: this.term, nonce: this.forwardNonce, firstCounter, commands })
      this.forwardStats.sent += commands.length
      start = end
    }
  }

  /**
   * Forget forwarded proposals that were never seen applied (lost, overwritten):
   * their clients have timed out in the Replica long before (outcome unknown).
   */
  private sweepForwarded(now: number): void {
    const horizon = 20 * this.options.electionTimeoutMs
    if (this.forwarded.size === 0 || now - this.lastForwardSweep < horizon) return
    this.lastForwardSweep = now
    for (const [counter, p] of this.forwarded) if (now - p.at > horizon) this.forwarded.delete(counter)
  }

  /** Leader: append a follower's proposals as Forwarded entries, or tell it why not. */
  private handlePropose(from: NodeId, m: ProposeMessage): void {
    let bytes = 0
    for (const command of m.commands) bytes += command.byteLength
    const refusal = this.proposalRefusal(bytes)
    if (refusal !== undefined) {
      this.refuseProposal(from, m, refusal instanceof NotLeaderError ? ProposeRejectReason.NotLeader : ProposeRejectReason.Dropped)
      this.forwardStats.rejected += m.commands.length
      return
    }
    const buffered = this.unappended
    let index = (buffered.length === 0 ? this.ctx.storage.lastIndex() : buffered[buffered.length - 1]!.index) + 1
    m.commands.forEach((command, i) => {
      buffered.push({ index: index++, term: this.term, data: forwardedEntryData(m.nonce, m.firstCounter + i, command) })
    })
    this.uncommittedBytes += bytes
    this.forwardStats.accepted += m.commands.length
    if (this.isSoleVoter()) this.maybeCommit()
  }

  /** Tell a forwarding follower its proposals were not appended, with our term and the leader we know. */
  private refuseProposal(from: NodeId, m: ProposeMessage, reason: ProposeRejectReason): void {
    const leader = this.role === 'leader' ? this.self : (this.leader ?? '')
    this.send(from, { type: MessageType.ProposeReject, term: this.term, nonce: m.nonce, firstCounter: m.firstCounter, count: m.commands.length, reason, leader })
  }

  /** Follower: the leader refused some of our forwarded proposals. */
  private handleProposeReject(m: ProposeRejectMessage): void {
    if (this.forwardNonce === 0 || m.nonce !== this.forwardNonce) return
    const error =
      m.reason === ProposeRejectReason.NotLeader
        ? new NotLeaderError(m.leader === '' || m.leader === this.self ? undefined : m.leader)
        : new ProposalDroppedError('the leader refused the forwarded proposal (transfer in progress or too much uncommitted data)')
    for (let counter = m.firstCounter; counter < m.firstCounter + m.count; counter++) {
      const p = this.forwarded.get(counter)
      if (p === undefined) continue
      this.forwarded.delete(counter)
      this.ctx.reject(p.client, error)
    }
  }

  // ---------------------------------------------------------------- messages

  receive(from: NodeId, bytes: Uint8Array): void {
    if (this.stopped) return
    const m = decodeMessage(bytes, this.limits)
    if (from === this.self) return
    if (m.term > this.term) {
      if (m.type === MessageType.Vote) {
        // Leader stickiness (dissertation §4.2.3): while we hear from a leader, ignore
        // vote requests unless the leader itself asked for this election.
        if (!m.transfer && (this.inLeaderLease() || this.ctx.now() < this.voteQuietUntil)) return
        if (!m.preVote) this.becomeFollower(m.term, undefined)
      } else if (m.type === MessageType.VoteResponse && m.preVote && m.granted) {
        // A granted PreVote carries the term we would campaign in; nothing to adopt.
      } else {
        const fromLeader = m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot
        this.becomeFollower(m.term, fromLeader ? from : undefined)
      }
    } else if (m.term < this.term) {
      // A stale leader (e.g. after a partition): tell it our term so it steps down.
      // Without this, with PreVote/CheckQuorum it could never learn it (etcd does the same).
      if (m.type === MessageType.Append || m.type === MessageType.Heartbeat) {
        this.send(from, { type: MessageType.AppendResponse, term: this.term, reject: true, index: 0, hintIndex: 0, hintTerm: 0 })
      } else if (m.type === MessageType.Vote && m.preVote) {
        this.send(from, { type: MessageType.VoteResponse, term: this.term, granted: false, preVote: true })
      } else if (m.type === MessageType.Propose) {
        // A follower behind on terms: refuse, with our term and the leader we know.
        this.refuseProposal(from, m, ProposeRejectReason.NotLeader)
      } else if (m.type === MessageType.ReadIndex) {
        this.send(from, readIndexRefusal(this.term, { from, nonce: m.nonce, counter: m.counter }, this.leader))
      }
      return // §5.1: stale-term messages are otherwise ignored
    }

    switch (m.type) {
      case MessageType.Vote:
        return this.handleVote(from, m)
      case MessageType.VoteResponse:
        return this.handleVoteResponse(from, m)
      case MessageType.Append:
        this.acceptLeader(from)
        return this.handleAppend(from, m)
      case MessageType.Heartbeat:
        this.acceptLeader(from)
        return this.handleHeartbeat(from, m)
      case MessageType.Snapshot:
        this.acceptLeader(from)
        return this.handleSnapshotChunk(from, m)
      case MessageType.TimeoutNow:
        if (this.role !== 'leader' && this.isPromotable()) this.campaign(true)
        return
      case MessageType.AppendResponse:
        if (this.role === 'leader') this.handleAppendResponse(from, m)
        return
      case MessageType.HeartbeatResponse:
        if (this.role === 'leader') this.handleHeartbeatResponse(from, m.context)
        return
      case MessageType.SnapshotResponse:
        if (this.role === 'leader') this.handleSnapshotResponse(from, m)
        return
      case MessageType.Propose:
        return this.handlePropose(from, m)
      case MessageType.ProposeReject:
        return this.handleProposeReject(m)
      case MessageType.ReadIndex:
        return this.handleReadIndex(from, m)
      case MessageType.ReadIndexResponse:
        if (this.role === 'follower') this.followerReads.answered(from, m, this.applied)
        return
    }
  }

  /** A message of the current term from the leader. */
  private acceptLeader(from: NodeId): void {
    if (this.role !== 'follower') this.becomeFollower(this.term, from)
    else if (this.leader !== from) {
      this.leader = from
      this.ctx.observe({ type: 'leader', leader: from, term: this.term })
      this.settleTransfer(from)
    }
    this.electionStart = this.ctx.now()
  }

  // ---------------------------------------------------------------- elections (§5.2)

  private handleVote(from: NodeId, m: VoteMessage): void {
    const storage = this.storage
    const lastIndex = storage.lastIndex()
    const lastTerm = storage.term(lastIndex) ?? 0
    // §5.4.1: grant only to a candidate whose log is at least as up to date as ours.
    const upToDate = m.lastTerm > lastTerm || (m.lastTerm === lastTerm && m.lastIndex >= lastIndex)
    const canVote = this.vote === from || (this.vote === undefined && this.leader === undefined) || (m.preVote && m.term > this.term)
    const quiet = !m.transfer && this.vote !== from && this.ctx.now() < this.voteQuietUntil
    if (canVote && upToDate && !quiet) {
      if (!m.preVote) {
        this.vote = from
        this.persistHardState() // durable before the reply leaves (the Replica syncs first)
        this.electionStart = this.ctx.now()
      }
      this.send(from, { type: MessageType.VoteResponse, term: m.term, granted: true, preVote: m.preVote })
    } else {
      this.send(from, { type: MessageType.VoteResponse, term: this.term, granted: false, preVote: m.preVote })
    }
  }

  private handleVoteResponse(from: NodeId, m: VoteResponseMessage): void {
    const expecting = (this.role === 'pre-candidate' && m.preVote) || (this.role === 'candidate' && !m.preVote)
    if (!expecting) return
    if (!this.votes.has(from)) this.votes.set(from, m.granted)
    const result = this.voteResult()
    if (result === 'won') {
      if (this.role === 'pre-candidate') this.campaign(false)
      else this.becomeLeader()
    } else if (result === 'lost') {
      this.becomeFollower(this.term, undefined)
    }
  }

  private onElectionTimer(): void {
    this.electionTimer = undefined
    if (this.stopped || this.role === 'leader') return
    const elapsed = this.ctx.now() - this.electionStart
    if (elapsed < this.randomizedElectionTimeout) {
      // At least 1 ms: with a skewed clock the remainder can be a rounding residue (1e-13 ms) that a
      // timer cannot advance time by, and the node would re-arm for ever. Late by < 1 ms, never early.
      this.armElectionTimer(Math.max(1, this.randomizedElectionTimeout - elapsed))
      return
    }
    if (this.isPromotable()) this.campaign(false, this.options.preVote)
    else this.resetElectionTimeout()
  }

  /** Start an election: a PreVote round first unless `transfer` or PreVote is off. */
  private campaign(transfer: boolean, preVote = false): void {
    if (this.applied < this.commit) {
      // Configurations take effect when applied: campaign (and count votes) only in the configuration
      // of everything known committed, so finish a paced apply first (etcd refuses instead).
      this.applyCommitted(false)
      if (!this.isPromotable()) {
        this.resetElectionTimeout()
        return
      }
    }
    this.resetElectionTimeout()
    const storage = this.storage
    const lastIndex = storage.lastIndex()
    const lastTerm = storage.term(lastIndex) ?? 0
    this.votes.clear()
    this.votes.set(this.self, true)
    let term: number
    if (preVote && !transfer) {
      this.setRole('pre-candidate')
      this.leader = undefined
      term = this.term + 1
    } else {
      this.term += 1
      this.vote = this.self
      this.leader = undefined
      this.persistHardState()
      this.setRole('candidate')
      term = this.term
    }
    if (this.voteResult() === 'won') {
      if (this.role === 'pre-candidate') this.campaign(transfer, false)
      else this.becomeLeader()
      return
    }
    for (const id of this.allVoters()) {
      if (id === this.self) continue
      this.send(id, { type: MessageType.Vote, term, lastIndex, lastTerm, preVote: this.role === 'pre-candidate', transfer })
    }
  }

  private becomeFollower(term: number, leader: NodeId | undefined): void {
    const wasLeader = this.role === 'leader'
    if (term > this.term) {
      this.term = term
      this.vote = undefined
      this.persistHardState()
    }
    const previousLeader = this.leader
    this.leader = leader
    this.setRole('follower')
    if (wasLeader) this.leaveLeadership()
    this.resetElectionTimeout()
    if (leader !== undefined && leader !== previousLeader) this.ctx.observe({ type: 'leader', leader, term: this.term })
    this.settleTransfer(leader)
  }

  private becomeLeader(): void {
    const storage = this.storage
    this.setRole('leader')
    this.leader = this.self
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    this.electionTimer = undefined
    const now = this.ctx.now()
    const next = storage.lastIndex() + 1
    this.progress.clear()
    for (const id of this.allVoters()) if (id !== this.self) this.progress.set(id, this.newProgress(next, false, now))
    for (const id of this.learners) if (id !== this.self && !this.progress.has(id)) this.progress.set(id, this.newProgress(next, true, now))
    this.uncommittedBytes = 0
    this.transferTarget = undefined
    this.lastQuorumCheck = now
    this.lease.reset() // no lease until a quorum acknowledges a round of this leadership
    this.ctx.observe({ type: 'leader', leader: this.self, term: this.term })
    this.settleTransfer(this.self)
    // §5.4.2/§8: commit an entry of our own term so earlier entries commit and reads can be served.
    // No config change until that no-op is applied (the single-server change bug, §4.1 errata): applying
    // everything that was in our log is not enough when it was all known committed before we led.
    this.pendingConfigIndex = this.appendAsLeader(noopEntryData())
    // Lease mode: a first heartbeat round with the no-op, so the lease starts one round trip after election.
    if (this.options.readMode === 'lease' && !this.isSoleVoter()) {
      this.readRound++
      this.readRoundPending = true
    }
    this.armHeartbeatTimer()
    if (this.isSoleVoter()) this.maybeCommit()
  }

  private leaveLeadership(): void {
    if (this.heartbeatTimer !== undefined) this.ctx.clearTimer(this.heartbeatTimer)
    this.heartbeatTimer = undefined
    this.progress.clear()
    this.transferTarget = undefined
    this.uncommittedBytes = 0
    this.lease.reset()
    // Reads have no effects: failing them is always safe. Proposals are NOT failed here:
    // their entries may still commit under the next leader; they are answered when applied,
    // rejected if their entries get overwritten, or else time out in the Replica.
    const error = new NotLeaderError(this.leader)
    for (const list of [this.readsAwaitingConfirmation, this.readsAwaitingApply, this.readsAwaitingTermCommit])
      for (const r of list) {
        if (r.client !== undefined) this.ctx.reject(r.client, error)
        // A follower's request: refused at once (it would otherwise wait for its timeout).
        else if (r.remote !== undefined) this.send(r.remote.from, readIndexRefusal(this.term, r.remote, this.leader))
      }
    this.remoteReads = 0
    this.readsAwaitingConfirmation = []
    this.readsAwaitingApply = []
    this.readsAwaitingTermCommit = []
    this.readRoundPending = false
    this.readRoundSent = 0
  }

  private inLeaderLease(): boolean {
    if (!this.options.checkQuorum || this.leader === undefined) return false
    if (this.role === 'leader') return true
    return this.ctx.now() - this.electionStart < this.options.electionTimeoutMs
  }

  private resetElectionTimeout(): void {
    const base = this.options.electionTimeoutMs
    this.randomizedElectionTimeout = base + Math.floor(this.ctx.random.next() * base)
    this.electionStart = this.ctx.now()
    if (this.role === 'leader') return
    // Re-arm lazily: a timer that fires early just waits for the rest.
    const due = this.electionStart + this.randomizedElectionTimeout
    if (this.electionTimer === undefined || this.electionTimerDue > due) this.armElectionTimer(this.randomizedElectionTimeout)
  }

  private armElectionTimer(afterMs: number): void {
    if (this.stopped) return
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    this.electionTimerDue = this.ctx.now() + afterMs
    this.electionTimer = this.ctx.setTimer(afterMs, () => this.onElectionTimer())
  }

  // ---------------------------------------------------------------- leader: heartbeats, CheckQuorum

  private armHeartbeatTimer(): void {
    if (this.stopped) return
    this.heartbeatTimer = this.ctx.setTimer(this.options.heartbeatIntervalMs, () => this.onHeartbeatTimer())
  }

  private onHeartbeatTimer(): void {
    this.heartbeatTimer = undefined
    if (this.stopped || this.role !== 'leader') return
    const now = this.ctx.now()
    if (now - this.lastQuorumCheck >= this.options.electionTimeoutMs) {
      this.lastQuorumCheck = now
      if (this.options.checkQuorum && !this.quorumRecentlyActive()) {
        // Dissertation §6.2: a leader cut off from a quorum steps down, so clients go elsewhere.
        this.becomeFollower(this.term, undefined)
        return
      }
      for (const pr of this.progress.values()) pr.recentActive = false
    }
    // §3.10: a transfer that has not completed within an election timeout is abandoned.
    if (this.transferTarget !== undefined && now - this.transferStart >= this.options.electionTimeoutMs) {
      this.transferTarget = undefined
      this.settleTransfer(this.self)
    }
    // Every heartbeat round is a new round, so that its acknowledgements can extend the lease from its send time.
    this.readRound++
    if (this.options.readMode === 'lease') this.lease.sent(this.readRound, now)
    for (const [id, pr] of this.progress) this.sendHeartbeat(id, pr)
    this.readRoundPending = false
    this.readRoundSent = this.readRound
    this.armHeartbeatTimer()
  }

  private quorumRecentlyActive(): boolean {
    return this.hasQuorum((id) => id === this.self || this.progress.get(id)?.recentActive === true)
  }

  private sendHeartbeat(to: NodeId, pr: Progress): void {
    const commit = Math.min(pr.match, this.commit)
    if (commit > pr.sentCommit) pr.sentCommit = commit
    this.send(to, { type: MessageType.Heartbeat, term: this.term, commit, context: this.readRound })
  }

  private handleHeartbeatResponse(from: NodeId, context: number): void {
    const pr = this.progress.get(from)
    if (pr === undefined) return
    pr.recentActive = true
    const now = this.ctx.now()
    if (pr.state === 'probe') pr.probeSent = false
    else if (pr.state === 'replicate') {
      if (pr.inflights.full()) pr.inflights.freeFirst()
      // Everything was sent but nothing acknowledged for a heartbeat interval: an empty append at the
      // end of what we sent is either acknowledged or rejected, and a reject (a lost message, a
      // restarted follower) drops the follower back to probing. Only on a stall: while entries are
      // being acknowledged it would be one extra message per heartbeat answer for nothing.
      const storage = this.storage
      const lastIndex = storage.lastIndex()
      const quietSince = Math.max(pr.lastProgressAt, pr.inflightSince)
      if (pr.match < lastIndex && pr.next > lastIndex && now - quietSince >= this.options.heartbeatIntervalMs) {
        const prevTerm = this.logTerm(pr.next - 1)
        if (prevTerm !== undefined) this.sendAppend(from, pr, pr.next - 1, prevTerm, [])
      }
    } else if (pr.state === 'snapshot' && (pr.snapshotResumeOnContact || now - pr.lastProgressAt >= 2 * this.options.heartbeatIntervalMs)) {
      // Nothing acknowledged for a while (a lost chunk or answer, a healed partition), or the link was
      // reported broken (reportUnreachable) and the follower answers again: resume at the acknowledged offset.
      pr.lastProgressAt = now
      pr.snapshotResumeOnContact = false
      resumeSnapshot(pr)
      this.sendSnapshotChunks(from, pr)
    }
    if (context > pr.readAck && !pr.isLearner) {
      pr.readAck = context
      if (this.options.readMode === 'lease') this.lease.acknowledged(this.quorumAcknowledgedRound())
      this.confirmReads()
    }
  }

  /** The highest heartbeat round a quorum (of every voter set) has acknowledged; the leader acknowledges its own. */
  private quorumAcknowledgedRound(): number {
    let round = this.readRound
    for (const set of this.voterSets()) {
      const acks: number[] = []
      for (const id of set) acks.push(id === this.self ? this.readRound : (this.progress.get(id)?.readAck ?? 0))
      acks.sort((a, b) => b - a)
      round = Math.min(round, acks[majorityOf(set.size) - 1] ?? 0)
    }
    return round
  }

  // ---------------------------------------------------------------- replication (§5.3)

  private appendAsLeader(data: Uint8Array): number {
    const storage = this.storage
    const index = storage.lastIndex() + 1
    storage.append([{ index, term: this.term, data }])
    return index
  }

  private proposalRefusal(bytes: number): SynodError | undefined {
    if (this.role !== 'leader') return new NotLeaderError(this.leader)
    if (this.transferTarget !== undefined) return new ProposalDroppedError(`leadership transfer to ${this.transferTarget} in progress`)
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.options.maxUncommittedBytes)
      return new ProposalDroppedError(`leader has ${this.uncommittedBytes} uncommitted bytes (maxUncommittedBytes)`)
    return undefined
  }

  /** Send what the follower may receive now; true if anything was sent. */
  private sendAppends(to: NodeId, pr: Progress): boolean {
    const storage = this.storage
    const lastIndex = storage.lastIndex()
    let sent = false
    if (pr.state === 'probe' && !pr.probeSent && pr.next > lastIndex && pr.match < lastIndex) {
      // Nothing new to send, but the follower's match point is unknown (e.g. a new member): probe it.
      const prevTerm = this.logTerm(pr.next - 1)
      if (prevTerm !== undefined) {
        this.sendAppend(to, pr, pr.next - 1, prevTerm, [])
        return true
      }
    }
    while (!pr.paused() && pr.next <= lastIndex) {
      const prevIndex = pr.next - 1
      const prevTerm = this.logTerm(prevIndex)
      if (prevTerm === undefined || pr.next < this.logFirstIndex()) {
        // The entries were compacted away, also from the trailing window: InstallSnapshot (§7).
        this.startSnapshot(to, pr)
        return true
      }
      const entries = this.logEntries(pr.next, lastIndex + 1, this.options.maxAppendBytes)
      this.sendAppend(to, pr, prevIndex, prevTerm, entries)
      sent = true
      if (pr.state !== 'replicate') break
    }
    return sent
  }

  private sendAppend(to: NodeId, pr: Progress, prevIndex: number, prevTerm: number, entries: readonly LogEntry[]): void {
    const commit = this.commit
    const append: RaftMessage = { type: MessageType.Append, term: this.term, prevIndex, prevTerm, commit, entries }
    // It vouches for nothing on our disk: the term is durable since the election, and `commit` counts durable copies only.
    if (this.options.appendInParallel) this.ctx.send(to, encodeMessage(append), BEFORE_SYNC)
    else this.send(to, append)
    if (commit > pr.sentCommit) pr.sentCommit = commit
    if (pr.state === 'probe') pr.probeSent = true
    if (entries.length === 0) return
    const last = entries[entries.length - 1]!.index
    if (pr.state === 'replicate') {
      let bytes = 0
      for (let i = 0; i < entries.length; i++) bytes += entries[i]!.data.byteLength
      pr.next = last + 1
      if (pr.inflights.count === 0) pr.inflightSince = this.ctx.now()
      pr.inflights.add(last, bytes)
    }
  }

  private handleAppend(from: NodeId, m: AppendMessage): void {
    const storage = this.storage
    if (m.prevIndex < this.commit) {
      // Everything up to our commit index is already ours; tell the leader where we are.
      this.queueAck(from, this.commit)
      return
    }
    if (storage.term(m.prevIndex) !== m.prevTerm) {
      // Consistency check failed (§5.3). Hint the leader past the whole conflicting term.
      const hintIndex = this.findConflictByTerm(Math.min(m.prevIndex, storage.lastIndex()), m.prevTerm)
      this.send(from, {
        type: MessageType.AppendResponse,
        term: this.term,
        reject: true,
        index: m.prevIndex,
        hintIndex,
        hintTerm: this.logTerm(hintIndex) ?? 0,
      })
      return
    }
    const entries = m.entries
    let firstNew = entries.length
    const lastIndex = storage.lastIndex()
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      if (entry.index > lastIndex) {
        firstNew = i
        break
      }
      if (storage.term(entry.index) !== entry.term) {
        // §5.3: delete the conflicting entry and all that follow it.
        if (entry.index <= this.commit) throw new Error(`raft: leader conflicts with committed entry ${entry.index}`)
        this.truncateFrom(entry.index)
        firstNew = i
        break
      }
    }
    if (firstNew < entries.length) storage.append(firstNew === 0 ? entries : entries.slice(firstNew))
    const lastNew = m.prevIndex + entries.length
    if (m.commit > this.commit) this.commitTo(Math.min(m.commit, lastNew))
    this.queueAck(from, lastNew)
  }

  /** Acks are coalesced per batch: one reply to the leader for everything appended. */
  private queueAck(to: NodeId, index: number): void {
    if (this.pendingAck === undefined || this.pendingAck.to !== to) this.pendingAck = { to, index }
    else if (index > this.pendingAck.index) this.pendingAck.index = index
  }

  private handleHeartbeat(from: NodeId, m: HeartbeatMessage): void {
    // The leader sends min(match, commit): entries we are known to hold.
    if (m.commit > this.commit) this.commitTo(Math.min(m.commit, this.storage.lastIndex()))
    this.send(from, { type: MessageType.HeartbeatResponse, term: this.term, context: m.context })
  }

  private handleAppendResponse(from: NodeId, m: AppendResponseMessage): void {
    const pr = this.progress.get(from)
    if (pr === undefined) return
    pr.recentActive = true
    const now = this.ctx.now()
    if (m.reject) {
      let hint = m.hintIndex
      if (m.hintTerm > 0) hint = this.findConflictByTerm(m.hintIndex, m.hintTerm)
      if (pr.maybeDecrease(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe(now)
      }
      return
    }
    if (!pr.maybeUpdate(m.index, now)) return
    if (pr.state === 'probe') pr.becomeReplicate(now)
    else if (pr.state === 'snapshot') {
      // Installed (or the follower got that far otherwise): back to appending at once, from match + 1.
      // Also as soon as the log (with its trailing window) covers the gap from match + 1, as etcd
      // does: a late acknowledgement can show the follower needs no snapshot any more.
      if (pr.match >= pr.pendingSnapshot) {
        this.snapshotStats.completed++
        pr.becomeReplicate(now)
      } else if (pr.match + 1 >= this.logFirstIndex() && !snapshotTesting.stayInSnapshotUntilInstalled) {
        this.snapshotStats.abandoned++
        pr.becomeReplicate(now)
      }
    } else pr.inflights.freeUpTo(m.index)
    if (!pr.isLearner) this.maybeCommit()
    this.maybeSendTimeoutNow(from, pr)
  }

  /** Largest index ≤ `index` whose term is ≤ `term` (etcd's findConflictByTerm). */
  private findConflictByTerm(index: number, term: number): number {
    for (let i = index; i > 0; i--) {
      const t = this.logTerm(i)
      if (t === undefined || t <= term) return i
    }
    return 0
  }

  private truncateFrom(index: number): void {
    this.storage.truncateSuffix(index)
    this.durable.truncated(index)
    // Those entries are gone from our log; proposals made there did not make it through us.
    // They are rejected because whatever commits at those indexes now is another entry.
    this.rejectProposalsFrom(index)
  }

  private rejectProposalsFrom(index: number): void {
    if (this.proposals.size === 0) return
    const error = new NotLeaderError(this.leader, 'the proposal was overwritten by a newer leader and not committed; retry')
    for (const [i, ref] of this.proposals) {
      if (i >= index) {
        this.proposals.delete(i)
        this.ctx.reject(ref.client, error)
      }
    }
  }

  // ---------------------------------------------------------------- commit and apply (§5.4.2)

  private maybeCommit(): void {
    const storage = this.storage
    const lastIndex = storage.lastIndex()
    // Our own copy counts once it is durable (§10.2.1); before, appends left only after our sync anyway.
    const selfMatch = this.options.appendInParallel && !parallelAppendTesting.countSelfBeforeSync ? Math.min(this.durable.index, lastIndex) : lastIndex
    // The highest index a majority of the voters holds; while joint, the lower of the two majorities' (§4.3).
    let candidate = this.majorityMatch(this.voters, selfMatch)
    if (this.outgoing !== undefined) candidate = Math.min(candidate, this.majorityMatch(this.outgoing, selfMatch))
    // Figure 8: only entries of the current term are committed by counting replicas.
    if (candidate > this.commit && storage.term(candidate) === this.term) this.commitTo(candidate)
  }

  private commitTo(index: number): void {
    if (index <= this.commit) return
    const hadTermCommit = this.role === 'leader' && this.committedInCurrentTerm()
    this.commit = index
    this.applyCommitted()
    if (this.role === 'leader' && !hadTermCommit && this.committedInCurrentTerm()) {
      const waiting = this.readsAwaitingTermCommit
      this.readsAwaitingTermCommit = []
      for (const r of waiting) this.registerRead(r)
    }
  }

  /** The local client of the proposal appended at `index`, if it is still that entry (else it is told). */
  private localClient(index: number, term: number): ClientRef | undefined {
    if (this.proposals.size === 0) return undefined
    const ref = this.proposals.get(index)
    if (ref === undefined) return undefined
    this.proposals.delete(index)
    if (ref.term === term) return ref.client
    this.ctx.reject(ref.client, new NotLeaderError(this.leader, 'the proposal was overwritten and not committed; retry'))
    return undefined
  }

  /** The client of a Forwarded entry when this node forwarded it in this incarnation. */
  private forwardedClient(data: Uint8Array): ClientRef | undefined {
    if (this.forwarded.size === 0 || this.forwardNonce === 0) return undefined
    const tag = entryForwardTag(data)
    if (tag.nonce !== this.forwardNonce) return undefined
    const client = this.forwarded.get(tag.counter)?.client
    this.forwarded.delete(tag.counter)
    return client
  }

  /**
   * Apply committed entries, at most maxApplyEntriesPerBatch / maxApplyBytesPerBatch of them unless
   * `paced` is false; the rest follow in later batches (a 0 ms timer), between which the node handles
   * heartbeats, votes and appends (etcd's MaxCommittedSizePerReady).
   */
  private applyCommitted(paced = true): void {
    const storage = this.storage
    const maxEntries = paced ? this.options.maxApplyEntriesPerBatch : Number.POSITIVE_INFINITY
    const maxBytes = paced ? this.options.maxApplyBytesPerBatch : Number.POSITIVE_INFINITY
    let entries = 0
    let bytes = 0
    while (this.applied < this.commit) {
      if (entries >= maxEntries || bytes >= maxBytes) {
        this.scheduleApply()
        break
      }
      const index = this.applied + 1
      const entry = storage.entry(index)
      if (entry === undefined) throw new Error(`raft: committed entry ${index} is missing from the log`)
      this.applied = index
      entries++
      bytes += entry.data.byteLength
      const kind = entryKind(entry.data)
      if (kind === EntryKind.Command || kind === EntryKind.Forwarded) {
        // A local proposal is answered through `proposals`; a follower's forwarded one by its origin.
        const client = kind === EntryKind.Command ? this.localClient(index, entry.term) : this.forwardedClient(entry.data)
        const command = entryCommand(entry.data)
        if (this.role === 'leader' && entry.term === this.term) this.uncommittedBytes = Math.max(0, this.uncommittedBytes - command.byteLength)
        this.ctx.commit(client === undefined ? { index, command } : { index, command, client })
      } else if (kind === EntryKind.Config) {
        const membership = entryMembership(entry.data)
        const ref = this.proposals.size > 0 ? this.proposals.get(index) : undefined
        if (ref !== undefined) {
          this.proposals.delete(index)
          if (ref.term !== entry.term)
            this.ctx.reject(ref.client, new NotLeaderError(this.leader, 'the configuration change was overwritten and not committed; retry'))
          else if (membership.outgoing !== undefined) this.awaitingLeave = ref.client // answered with C(new)
          else this.ctx.respond(ref.client, { index, result: EMPTY_RESULT })
        } else if (this.awaitingLeave !== undefined && membership.outgoing === undefined) {
          // The entry after a joint one is always its C(new), whichever leader appended it.
          this.ctx.respond(this.awaitingLeave, { index, result: EMPTY_RESULT })
          this.awaitingLeave = undefined
        }
        // Remember the commit point so a restart uses this configuration (see start()).
        // Written before setConfig, which may append C(new) (a config change is only
        // appended once the previous one is durably known to be committed).
        this.persistHardState()
        this.setConfig(membership, index)
      }
    }
    if (this.readsAwaitingApply.length > 0) this.serveAppliedReads()
    this.followerReads.serve(this.applied)
    this.maybeLeaveJoint()
    this.maybeSnapshot()
  }

  private scheduleApply(): void {
    if (this.applyTimer !== undefined || this.stopped) return
    this.applyTimer = this.ctx.setTimer(0, () => {
      this.applyTimer = undefined
      if (!this.stopped) this.applyCommitted()
    })
  }

  // ---------------------------------------------------------------- reads (§6.4)

  private committedInCurrentTerm(): boolean {
    return this.storage.term(this.commit) === this.term
  }

  private registerRead(waiter: ReadWaiter): void {
    // Without a lease (none acknowledged yet, lapsed, or revoked by a transfer) a lease read is a ReadIndex read.
    if (this.isSoleVoter() || (this.options.readMode === 'lease' && this.lease.valid(this.ctx.now()))) {
      this.readConfirmed({ ...waiter, index: this.commit, round: 0 })
      this.serveAppliedReads()
      return
    }
    // All reads of a batch share one heartbeat round, local and followers' alike.
    if (!this.readRoundPending) {
      this.readRound++
      this.readRoundPending = true
    }
    this.readsAwaitingConfirmation.push({ ...waiter, index: this.commit, round: this.readRound })
  }

  /** Leadership confirmed for `read`: a local read waits for its index to apply, a follower gets the index. */
  private readConfirmed(read: PendingRead): void {
    if (read.remote === undefined) {
      this.readsAwaitingApply.push(read)
      return
    }
    this.remoteReads = Math.max(0, this.remoteReads - 1)
    this.followerReads.stats.answered++
    this.send(read.remote.from, readIndexAnswer(this.term, read.remote, read.index))
  }

  /** A follower asks for a read index (etcd's MsgReadIndex): answered once a quorum confirms this leadership. */
  private handleReadIndex(from: NodeId, m: ReadIndexMessage): void {
    const remote: RemoteRead = { from, nonce: m.nonce, counter: m.counter }
    if (this.role !== 'leader' || this.remoteReads >= MAX_REMOTE_READS) {
      this.followerReads.stats.refused++
      this.send(from, readIndexRefusal(this.term, remote, this.role === 'leader' ? this.self : this.leader))
      return
    }
    this.remoteReads++
    if (!this.committedInCurrentTerm()) {
      this.readsAwaitingTermCommit.push({ remote })
      return
    }
    if (followerReadTesting.skipLeaderConfirmation) {
      this.readConfirmed({ remote, index: this.commit, round: 0 })
      return
    }
    this.registerRead({ remote })
  }

  private confirmReads(): void {
    while (this.readsAwaitingConfirmation.length > 0) {
      const read = this.readsAwaitingConfirmation[0]!
      if (!this.hasQuorum((id) => id === this.self || (this.progress.get(id)?.readAck ?? 0) >= read.round)) break
      // Every read up to this round is confirmed at once.
      let n = 0
      while (n < this.readsAwaitingConfirmation.length && this.readsAwaitingConfirmation[n]!.round <= read.round) n++
      for (const r of this.readsAwaitingConfirmation.splice(0, n)) this.readConfirmed(r)
    }
    this.serveAppliedReads()
  }

  private serveAppliedReads(): void {
    let n = 0
    const reads = this.readsAwaitingApply
    while (n < reads.length && reads[n]!.index <= this.applied) {
      this.ctx.serveRead(reads[n]!.client!)
      n++
    }
    if (n > 0) this.readsAwaitingApply = reads.slice(n)
  }

  // ---------------------------------------------------------------- snapshots (§7)

  private maybeSnapshot(): void {
    const threshold = this.options.snapshotThreshold
    if (threshold === 0) return
    const storage = this.storage
    const snapshotIndex = storage.snapshot()?.index ?? 0
    if (this.applied - snapshotIndex < threshold) return
    // A leader holds compaction back (up to 4 thresholds, at least 1024 entries) while a live follower
    // still needs these entries: otherwise, under steady writes, a follower that just installed a
    // snapshot finds the log compacted past it again (etcd keeps SnapshotCatchUpEntries for this).
    if (this.role === 'leader' && this.applied - snapshotIndex < Math.max(4 * threshold, 1024) && this.followerCatchingUp()) return
    if (this.localSnapshot.running) return
    // The state machine has applied every command up to `applied`; no-ops and config
    // entries after the last command do not change it, so it is the state at `applied`,
    // and `config` the configuration there.
    // (The runtime's index is that of the last command applied, which may be lower: no-ops and config
    // entries do not reach the state machine. The snapshot is saved at `applied`, as Raft's log sees it.)
    const at = { index: this.applied, meta: encodeMembership(this.config) }
    if (this.ctx.beginSnapshot === undefined || snapshotTesting.oneShotSnapshots) {
      this.saveTakenSnapshot(this.ctx.takeSnapshot().data, at)
      return
    }
    // Taken a slice at a time between batches while entries keep being applied (ADR 0025), each
    // slice written straight into storage (ADR 0027): the snapshot never exists as one buffer.
    const term = storage.term(at.index)
    if (term === undefined) return
    const writer = storage.beginSnapshot(at.index, term, at.meta)
    const generation = ++this.localSnapshot.generation
    this.localSnapshot.running = true
    this.localSnapshot.writer = writer
    this.ctx.beginSnapshot(
      (taken) => {
        if (generation !== this.localSnapshot.generation) return writer.abort()
        this.localSnapshot.running = false
        this.localSnapshot.writer = undefined
        if (taken === undefined) {
          this.localSnapshot.abandoned++
          writer.abort()
        } else this.saveTakenSnapshot(writer, at)
      },
      { into: writer },
    )
  }

  /**
   * Store the state machine's snapshot (`data`, or the bytes already written into `writer`) as the
   * state at `at.index` (begun some batches ago when taken in slices).
   */
  private saveTakenSnapshot(taken: Uint8Array | SnapshotWriter, at: { index: number; meta: Uint8Array }): void {
    const storage = this.storage
    const term = storage.term(at.index)
    // A snapshot received from the leader meanwhile covers it already (the state was replaced).
    if (this.stopped || at.index <= (storage.snapshot()?.index ?? 0) || term === undefined || at.index > this.applied) {
      if (!(taken instanceof Uint8Array)) taken.abort()
      if (!this.stopped) this.localSnapshot.abandoned++
      return
    }
    this.trailing.retain(storage, at.index) // before the snapshot drops the entries
    if (taken instanceof Uint8Array) storage.saveSnapshot({ index: at.index, term, data: taken, meta: at.meta })
    else taken.commit()
    this.localSnapshot.taken++
    this.ctx.observe({ type: 'snapshot', index: at.index })
  }

  /** A follower that recently made progress and still needs entries up to our applied index (or is receiving a snapshot). */
  private followerCatchingUp(): boolean {
    if (snapshotTesting.oldTransfer) return false
    const now = this.ctx.now()
    for (const pr of this.progress.values()) {
      if (now - pr.lastProgressAt >= this.options.electionTimeoutMs) continue
      if (pr.state === 'snapshot' || pr.next <= this.applied) return true
    }
    return false
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    const snapshot = this.storage.snapshot()
    if (snapshot === undefined) return
    // This transfer sends this snapshot to the end, whatever the leader takes meanwhile.
    pr.becomeSnapshot(snapshot, this.ctx.now())
    this.snapshotStats.started++
    this.sendSnapshotChunks(to, pr)
  }

  /** Send the transfer's next chunks, pipelined within the in-flight window (at least one chunk). */
  private sendSnapshotChunks(to: NodeId, pr: Progress): void {
    if (snapshotTesting.oldTransfer) this.oldTransferRestart(pr)
    const snapshot = pr.snapshot
    if (snapshot === undefined) return
    const chunkBytes = snapshotTesting.unchunked ? Math.max(1, snapshot.size) : this.options.snapshotChunkBytes
    let window = chunkBytes * this.options.maxInflightMessages
    if (this.options.maxInflightBytes > 0) window = Math.min(window, this.options.maxInflightBytes)
    if (snapshotTesting.oldTransfer) window = chunkBytes
    for (const { offset, chunk, checksum } of nextSnapshotChunks(pr, chunkBytes, Math.max(window, chunkBytes))) {
      this.snapshotStats.chunks++
      this.send(to, {
        type: MessageType.Snapshot,
        term: this.term,
        index: snapshot.index,
        snapshotTerm: snapshot.term,
        totalBytes: snapshot.size,
        offset,
        checksum,
        meta: snapshot.meta,
        chunk,
      })
    }
  }

  /** The old transfer (test switch only): start over with the leader's newest snapshot. */
  private oldTransferRestart(pr: Progress): void {
    const latest = this.storage.snapshot()
    if (latest === undefined || latest.index === pr.pendingSnapshot) return
    if (pr.snapshotSent > 0) this.snapshotStats.restarts++
    pr.becomeSnapshot(latest, pr.lastProgressAt)
  }

  private handleSnapshotResponse(from: NodeId, m: SnapshotResponseMessage): void {
    const pr = this.progress.get(from)
    if (pr === undefined) return
    pr.recentActive = true
    if (pr.state !== 'snapshot' || m.index !== pr.pendingSnapshot) return
    const outcome = snapshotAcknowledged(pr, m.nextOffset)
    if (outcome === 'ignore') return
    if (outcome === 'restart') this.snapshotStats.restarts++
    if (outcome === 'progress') pr.lastProgressAt = this.ctx.now()
    this.sendSnapshotChunks(from, pr)
  }

  private handleSnapshotChunk(from: NodeId, m: SnapshotMessage): void {
    if (m.index <= this.commit) {
      // Stale or already covered (§7): report where we are.
      this.queueAck(from, this.commit)
      return
    }
    let incoming = this.incomingSnapshot
    // The same transfer (same leader, term and snapshot) continues where it is; any other starts over.
    const same =
      incoming !== undefined && incoming.from === from && incoming.leaderTerm === m.term && incoming.index === m.index && incoming.totalBytes === m.totalBytes
    if (m.offset === 0 && !same) {
      if (incoming !== undefined) {
        this.receiveStats.restarted++
        incoming.writer.abort()
        this.incomingSnapshot = undefined
      }
      // Chunks go into storage as they arrive; storage sizes what it keeps from totalBytes (one copy at most).
      const writer = this.storage.beginSnapshot(m.index, m.snapshotTerm, m.meta, { size: m.totalBytes })
      incoming = { from, leaderTerm: m.term, index: m.index, term: m.snapshotTerm, totalBytes: m.totalBytes, writer, received: 0, checksum: 0 }
      this.incomingSnapshot = incoming
    } else if (!same || incoming!.received !== m.offset) {
      // Out of order (a chunk was lost) or a repeat: say where we are; the leader resumes there.
      // Offset 0 when this transfer is not ours (we restarted and lost it, or it is another leader's).
      const nextOffset = same ? incoming!.received : 0
      this.send(from, { type: MessageType.SnapshotResponse, term: this.term, index: m.index, nextOffset })
      return
    }
    incoming = incoming!
    // The chunk's checksum covers the snapshot up to its end: check it before taking the chunk in,
    // so a corrupted chunk is dropped and asked for again (as a lost one), and the last chunk's
    // checksum verifies the whole snapshot before anything is installed.
    const checksum = crc32c(m.chunk, incoming.checksum)
    if (checksum !== m.checksum && !snapshotTesting.skipChecksum) {
      this.receiveStats.corruptChunks++
      this.send(from, { type: MessageType.SnapshotResponse, term: this.term, index: m.index, nextOffset: incoming.received })
      return
    }
    this.receiveStats.chunks++
    incoming.writer.write(m.chunk)
    incoming.received += m.chunk.byteLength
    incoming.checksum = checksum
    if (incoming.received < incoming.totalBytes) {
      this.send(from, { type: MessageType.SnapshotResponse, term: this.term, index: m.index, nextOffset: incoming.received })
      return
    }
    this.incomingSnapshot = undefined
    this.restoreSnapshot(from, incoming.writer)
  }

  /** A received snapshot is complete in `writer`: install it, or drop it when the log already covers it. */
  private restoreSnapshot(from: NodeId, writer: SnapshotWriter): void {
    const storage = this.storage
    if (writer.index <= this.commit) {
      writer.abort()
      this.queueAck(from, this.commit)
      return
    }
    if (storage.term(writer.index) === writer.term) {
      // Our log already holds the snapshot's last entry: keep the log and just commit (§7, "retained").
      writer.abort()
      this.commitTo(writer.index)
      this.queueAck(from, this.commit)
      return
    }
    // The snapshot wins over our log: the whole log is discarded.
    this.rejectProposalsFrom(writer.index + 1)
    for (const i of [...this.proposals.keys()]) if (i <= writer.index) this.proposals.delete(i) // outcome unknown: left to time out
    writer.commit()
    // What the state machine restores from is storage's: read back from it (a durable store reads its file once).
    const snapshot = storage.snapshot()!
    // installSnapshot below abandons a local snapshot still being taken (onTaken(undefined)).
    this.durable.truncated(snapshot.index + 1)
    this.receiveStats.installed++
    this.trailing.clear()
    // In slices when the state machine can (ADR 0025): the Replica holds our commits and reads until it is done.
    this.ctx.installSnapshot(snapshot, snapshotTesting.oneShotSnapshots ? undefined : restoreInSlices)
    this.ctx.observe({ type: 'custom', name: 'snapshot-installed', detail: { index: snapshot.index, from } })
    this.commit = this.applied = snapshot.index
    this.awaitingLeave = undefined // whether it completed is unknown here: left to time out, like the proposals above
    this.setConfig(decodeMembership(snapshot.meta), snapshot.index)
    this.serveAppliedReads()
    this.followerReads.serve(this.applied)
    this.queueAck(from, storage.lastIndex())
  }

  // ---------------------------------------------------------------- the log with its trailing window

  /** Term of `index` in the log or, below its first index, in the trailing window. */
  private logTerm(index: number): number | undefined {
    return this.storage.term(index) ?? this.trailing.term(index)
  }

  /** The first index a follower can be sent from the log: the trailing window's start when it joins the log. */
  private logFirstIndex(): number {
    const first = this.storage.firstIndex()
    const trailingFirst = this.trailing.firstIndex()
    return trailingFirst !== undefined && this.trailing.lastIndex() === first - 1 ? trailingFirst : first
  }

  /** Entries from `from`: out of the trailing window while below the log's first index (one message never spans both). */
  private logEntries(from: number, to: number, maxBytes: number): LogEntry[] {
    const first = this.storage.firstIndex()
    if (from >= first) return this.storage.entries(from, to, maxBytes)
    return this.trailing.slice(from, Math.min(to, first), maxBytes)
  }

  // ---------------------------------------------------------------- membership (§4.1, §4.3)

  private setConfig(membership: Membership, index: number): void {
    this.config = membership
    this.indexConfig()
    this.ctx.observe({ type: 'membership', membership, index })
    if (this.role !== 'leader') return
    const now = this.ctx.now()
    const next = this.storage.lastIndex() + 1
    // The quorum that acknowledged the lease may not be a quorum of the new configuration.
    this.lease.expire()
    for (const id of this.allMembers()) {
      if (id === this.self) continue
      const learner = !this.isVoter(id)
      const pr = this.progress.get(id)
      // A member just added counts as active, so CheckQuorum does not count it out before it could answer (etcd).
      if (pr === undefined) this.progress.set(id, this.newProgress(next, learner, now, true))
      else pr.isLearner = learner
    }
    // Nodes in no set any more stop counting (and stop receiving the log).
    for (const id of [...this.progress.keys()]) if (!this.isVoter(id) && !this.learners.has(id)) this.progress.delete(id)
    if (this.transferTarget !== undefined && !this.voters.has(this.transferTarget)) this.transferTarget = undefined
    if (!this.isVoter(this.self)) {
      // A removed leader steps down once the change is committed (dissertation §4.2.2). While
      // joint it is still an outgoing voter and keeps leading until C(new) is committed.
      this.becomeFollower(this.term, undefined)
      return
    }
    this.maybeCommit()
  }

  /**
   * Joint consensus, second step: a leader that has applied every config entry
   * of its log and finds a joint configuration in force appends C(new). This
   * happens where the joint entry is applied on the leader, and on a new leader
   * once it has applied its no-op (the same `pendingConfigIndex`
   * rule as for any change), so a joint configuration is always left.
   */
  private maybeLeaveJoint(): void {
    if (this.role !== 'leader' || this.outgoing === undefined || this.pendingConfigIndex > this.applied) return
    this.pendingConfigIndex = this.appendAsLeader(configEntryData(leaveJoint(this.config)))
    if (this.isSoleVoter()) this.maybeCommit()
  }

  private indexConfig(): void {
    this.voters = new Set(this.config.voters.map((m) => m.id))
    this.outgoing = this.config.outgoing === undefined ? undefined : new Set(this.config.outgoing.map((m) => m.id))
    this.learners = new Set(this.config.learners.map((m) => m.id))
  }

  private newProgress(next: number, learner: boolean, now: number, recentActive = false): Progress {
    return new Progress(next, learner, now, this.options.maxInflightMessages, this.options.maxInflightBytes, recentActive)
  }

  /** A voter of the configuration in force: an incoming voter, or while joint an outgoing one. */
  private isVoter(id: NodeId): boolean {
    return this.voters.has(id) || this.outgoing?.has(id) === true
  }

  /** Every voter, incoming and outgoing, each once. */
  private allVoters(): Set<NodeId> {
    if (this.outgoing === undefined) return this.voters
    return new Set([...this.voters, ...this.outgoing])
  }

  private allMembers(): Set<NodeId> {
    return new Set([...this.allVoters(), ...this.learners])
  }

  /** The voter sets whose majorities every decision needs: one, or two while joint (§4.3). */
  private voterSets(): ReadonlyArray<ReadonlySet<NodeId>> {
    return this.outgoing === undefined ? [this.voters] : [this.voters, this.outgoing]
  }

  /** Whether the members for which `yes` holds include a majority of every voter set. */
  private hasQuorum(yes: (id: NodeId) => boolean): boolean {
    for (const set of this.voterSets()) {
      let count = 0
      for (const id of set) if (yes(id)) count++
      if (count < majorityOf(set.size)) return false
    }
    return true
  }

  /** The highest index held by a majority of `set`; the leader holds `selfMatch` (what is durable when it writes in parallel). */
  private majorityMatch(set: ReadonlySet<NodeId>, selfMatch: number): number {
    const matches: number[] = []
    for (const id of set) matches.push(id === this.self ? selfMatch : (this.progress.get(id)?.match ?? 0))
    matches.sort((a, b) => b - a)
    return matches[majorityOf(set.size) - 1] ?? 0
  }

  /** Won with a majority of every voter set; lost once a majority of any set refused. */
  private voteResult(): 'won' | 'lost' | 'pending' {
    let won = true
    for (const set of this.voterSets()) {
      let granted = 0
      let rejected = 0
      for (const id of set) {
        const v = this.votes.get(id)
        if (v === true) granted++
        else if (v === false) rejected++
      }
      const quorum = majorityOf(set.size)
      if (rejected >= quorum) return 'lost'
      if (granted < quorum) won = false
    }
    return won ? 'won' : 'pending'
  }

  private isPromotable(): boolean {
    return this.isVoter(this.self)
  }

  private isSoleVoter(): boolean {
    return this.voterSets().every((set) => set.size === 1 && set.has(this.self))
  }

  // ---------------------------------------------------------------- plumbing

  private setRole(role: RaftRole): void {
    const changed = role !== this.role
    this.role = role
    if (changed || role === 'candidate') this.emitRole()
  }

  private emitRole(): void {
    this.ctx.observe({ type: 'role', role: this.role, term: this.term })
  }

  private send(to: NodeId, message: RaftMessage): void {
    this.ctx.send(to, encodeMessage(message))
  }

  private persistHardState(): void {
    this.storage.setHardState(HARD_STATE_KEY, encodeHardState(this.term, this.vote, this.commit))
  }
}

// ---- hard state: term, vote, and the commit index as of the last config change ----

function encodeHardState(term: number, vote: NodeId | undefined, commit: number): Uint8Array {
  const voteBytes = new TextEncoder().encode(vote ?? '')
  const w = new ByteWriter(8 + 2 + voteBytes.byteLength + 8)
  w.uint(term)
  w.shortBytes(voteBytes)
  w.uint(commit)
  return w.finish()
}

function decodeHardState(bytes: Uint8Array): { term: number; vote: NodeId | undefined; commit: number } {
  const r = new ByteReader(bytes)
  const term = r.uint('term')
  const vote = new TextDecoder().decode(r.shortBytes('vote'))
  const commit = r.uint('commit')
  r.end('hard state')
  return { term, vote: vote === '' ? undefined : vote, commit }
}

function majorityOf(n: number): number {
  return Math.floor(n / 2) + 1
}

/**
 * The membership after `change`; throws ConfigError for a change that makes no
 * sense. A single change gives the next configuration; a joint change gives
 * the joint configuration C(old,new): the changes applied in order give the
 * new voters and learners, and `outgoing` holds the old voters. No change is
 * made to a joint configuration except leaving it ({@link leaveJoint}).
 */
export function applyConfigChange(current: Membership, change: ConfigChange): Membership {
  if (current.outgoing !== undefined) throw new ConfigError('a joint configuration is in force; leave it first', 'type')
  if (change.type !== 'joint') {
    const next = applySingleChange(current, change)
    if (next.voters.length === 0) throw new ConfigError('cannot remove the last voter', 'id')
    return { epoch: current.epoch + 1, voters: next.voters, learners: next.learners }
  }
  if (!Array.isArray(change.changes) || change.changes.length === 0) throw new ConfigError('a joint change needs at least one change', 'changes')
  let next: Membership = current
  for (const single of change.changes) {
    if ((single.type as string) === 'joint') throw new ConfigError('joint changes do not nest', 'changes')
    next = applySingleChange(next, single)
  }
  if (next.voters.length === 0) throw new ConfigError('the new configuration has no voter', 'changes')
  return { epoch: current.epoch + 1, voters: next.voters, learners: next.learners, outgoing: current.voters }
}

/** C(new) from the joint configuration C(old,new): the outgoing voters dropped (§4.3). */
export function leaveJoint(current: Membership): Membership {
  if (current.outgoing === undefined) throw new ConfigError('the configuration is not joint', 'type')
  return { epoch: current.epoch + 1, voters: current.voters, learners: current.learners }
}

function applySingleChange(current: Membership, change: SingleMembershipChange): Membership {
  if (change.type !== 'remove' && (change.member.meta?.byteLength ?? 0) > MAX_MEMBER_META_BYTES)
    throw new ConfigError(`member meta is over ${MAX_MEMBER_META_BYTES} bytes`, 'meta')
  const voters = current.voters.filter((m) => m.id !== (change.type === 'remove' ? change.id : change.member.id))
  const learners = current.learners.filter((m) => m.id !== (change.type === 'remove' ? change.id : change.member.id))
  switch (change.type) {
    case 'add-voter':
      if (current.voters.some((m) => m.id === change.member.id)) throw new ConfigError(`${change.member.id} is already a voter`, 'member')
      voters.push(change.member)
      break
    case 'add-learner':
      if (current.voters.some((m) => m.id === change.member.id))
        throw new ConfigError(`${change.member.id} is a voter; remove it first to demote it`, 'member')
      if (current.learners.some((m) => m.id === change.member.id)) throw new ConfigError(`${change.member.id} is already a learner`, 'member')
      learners.push(change.member)
      break
    case 'remove':
      if (voters.length === current.voters.length && learners.length === current.learners.length)
        throw new ConfigError(`${change.id} is not a member`, 'id')
      break
    default:
      throw new ConfigError(`unknown membership change ${String((change as { type: unknown }).type)}`, 'type')
  }
  return { epoch: current.epoch, voters, learners }
}
