import {
  InvalidMessageError,
  majority,
  NotLeaderError,
  ProposalDroppedError,
  voterIds,
  type ClientRef,
  type NodeId,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolNode,
  type Snapshot,
  type TimerId,
} from '@synod/core'
import { AcceptorStore } from './acceptor-store.js'
import { Ballots } from './ballot.js'
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
  type SnapshotMessage,
} from './messages.js'
import { ACCEPT_RING, resolvePaxosOptions, type PaxosOptions } from './options.js'
import { decodeValue, encodeCommandValue, NOOP_VALUE } from './value.js'

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
}

/** Test-only switches that turn a defence off, so tests can show what it prevents. */
export const paxosTesting = {
  /** A new leader proposes its own commands in the slots it recovers instead of the accepted values (breaks Paxos). */
  skipRecovery: false,
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
  private readonly ballots: Ballots
  private readonly quorum: number
  private readonly limits: DecodeLimits
  private readonly store: AcceptorStore

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
  private lastLeaderContact = -Infinity
  private readonly promises = new Map<NodeId, PromiseMessage>()
  /** Pre-vote: the ballot probed and the voters that would promise it. */
  private probeBallot = 0
  private readonly probes = new Set<NodeId>()
  private fetchedForCandidacy = false

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
  private lastSweep = 0

  private readonly stats = { elections: 0, forwarded: 0, learnsSent: 0, snapshotsSent: 0, snapshotsInstalled: 0, recovered: 0, noops: 0 }

  constructor(ctx: ProtocolContext, options?: Partial<PaxosOptions>) {
    this.options = resolvePaxosOptions(options)
    this.ctx = ctx
    this.self = ctx.self
    this.ballots = new Ballots(voterIds(ctx.membership))
    this.quorum = majority(this.ballots.size)
    this.limits = {
      maxCommandBytes: this.options.maxCommandBytes,
      maxSnapshotBytes: this.options.maxSnapshotBytes,
      maxSlotsPerMessage: Math.max(this.options.maxSlotsPerMessage, ACCEPT_RING),
    }
    this.store = new AcceptorStore(ctx.storage)
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    if (this.started) return
    this.started = true
    const storage = this.ctx.storage
    const snapshot = storage.snapshot()
    if (snapshot !== undefined) this.chosen = this.applied = snapshot.index
    // Everything in the log is chosen: execute it again (the Replica skips what its snapshot holds).
    this.chosen = Math.max(this.chosen, storage.lastIndex())
    this.store.load(this.chosen)
    this.nonce = Math.floor(this.ctx.random.next() * 2 ** 26) * 2 ** 26 + Math.floor(this.ctx.random.next() * 2 ** 26) + 1
    this.applyChosen()
    this.ctx.observe({ type: 'role', role: this.role, term: this.store.promised })
    if (this.ballots.size === 1 && this.ballots.isVoter(this.self)) this.campaign()
    else this.resetElectionTimer()
  }

  stop(): void {
    this.stopped = true
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    if (this.heartbeatTimer !== undefined) this.ctx.clearTimer(this.heartbeatTimer)
    this.electionTimer = this.heartbeatTimer = undefined
  }

  status(): NodeStatus {
    return {
      id: this.self,
      role: this.role,
      term: this.store.promised,
      leader: this.leader,
      commitIndex: this.chosen,
      lastIndex: Math.max(this.chosen, this.nextSlot - 1, ...this.store.accepted.keys()),
      membership: this.ctx.membership,
      detail: {
        ballot: this.ballot,
        promised: this.store.promised,
        applied: this.applied,
        inflight: this.inflight.size,
        queued: this.queue.length,
        accepted: this.store.accepted.size,
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
      for (const [id, peer] of this.peers) {
        if (from > 0) this.sendAccepts(id, from, this.nextSlot - 1)
        // Slots were chosen in this batch and no Accept carried the news: tell the peer now rather than
        // at the next heartbeat, so followers execute (and answer forwarded clients) one delay later.
        if (peer.sentCommit < this.chosen) this.sendHeartbeat(id, peer)
      }
    }
    if (this.forwardBuffer.length > 0) this.sendForwarded()
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
    if (this.stopped || !this.ballots.isVoter(from) || from === this.self) return
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
    }
  }

  /** A ballot is only ever sent by its owner: anything else is forged or corrupt. */
  private checkOwner(from: NodeId, ballot: number): void {
    if (this.ballots.owner(ballot) !== from) throw new InvalidMessageError(`ballot ${ballot} does not belong to ${from}`)
  }

  // ---------------------------------------------------------------- phase 1 (acceptor)

  private handlePrepare(from: NodeId, m: PrepareMessage): void {
    this.checkOwner(from, m.ballot)
    // Leader stickiness: while a live leader is heard from, do not help a disconnected node depose it.
    const sticky =
      this.options.checkQuorum &&
      m.ballot > this.store.promised &&
      (this.role === 'leader' || (this.role === 'follower' && this.leader !== undefined && this.ctx.now() - this.lastLeaderContact < this.options.electionTimeoutMs))
    const refused = m.ballot < this.store.promised || sticky
    if (refused || m.probe) {
      // A probe's answer changes nothing here: no promise, no timer reset.
      this.send(from, { type: MessageType.Promise, ballot: m.ballot, ok: !refused, probe: m.probe, promised: this.store.promised, chosen: this.chosen, behind: false, chosenValues: [], accepted: [] })
      return
    }
    this.store.promise(m.ballot)
    if (this.role !== 'follower' || this.leader !== undefined) this.becomeFollower(undefined)
    this.resetElectionTimer()
    this.send(from, this.promiseFor(m.ballot, m.watermark))
  }

  /** Phase 1b: what this acceptor knows above the candidate's chosen watermark. */
  private promiseFor(ballot: number, watermark: number): PromiseMessage {
    let behind = false
    const chosenValues: Array<readonly [number, Uint8Array]> = []
    if (watermark < this.chosen) {
      const storage = this.ctx.storage
      if (watermark + 1 < storage.firstIndex() || this.chosen - watermark > this.options.maxSlotsPerMessage) behind = true
      else {
        const entries = storage.entries(watermark + 1, this.chosen + 1, LEARN_BYTES)
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

  private campaign(): void {
    if (this.stopped || this.role === 'leader' || !this.ballots.isVoter(this.self)) return
    // Re-sending the same Prepare is harmless; a new ballot only when a higher one was seen, so an
    // isolated node does not inflate its ballot and depose a healthy leader when it comes back.
    if (this.role !== 'candidate' || this.ballot < this.store.promised) {
      this.ballot = this.ballots.next(this.self, this.store.promised)
      this.promises.clear()
      this.fetchedForCandidacy = false
      this.stats.elections++
    }
    this.store.promise(this.ballot)
    this.setRole('candidate')
    this.leader = undefined
    this.promises.set(this.self, this.promiseFor(this.ballot, this.chosen))
    for (const peer of this.ballots.voters) if (peer !== this.self) this.send(peer, { type: MessageType.Prepare, ballot: this.ballot, watermark: this.chosen, probe: false })
    this.resetElectionTimer()
    this.checkPromises()
  }

  /** Pre-vote (option preVote): ask whether a quorum would promise our next ballot, changing no state. */
  private probe(): void {
    if (this.stopped || this.role === 'leader' || !this.ballots.isVoter(this.self)) return
    this.probeBallot = this.ballots.next(this.self, this.store.promised)
    this.probes.clear()
    this.probes.add(this.self)
    this.setRole('pre-candidate')
    this.leader = undefined
    for (const peer of this.ballots.voters)
      if (peer !== this.self) this.send(peer, { type: MessageType.Prepare, ballot: this.probeBallot, watermark: this.chosen, probe: true })
    this.resetElectionTimer()
    if (this.probes.size >= this.quorum) this.campaign()
  }

  private onElectionTimeout(): void {
    if (this.options.preVote && this.role !== 'candidate') this.probe()
    else this.campaign()
  }

  private handlePromise(from: NodeId, m: PromiseMessage): void {
    if (m.probe) {
      if (!m.ok || this.role !== 'pre-candidate' || m.ballot !== this.probeBallot) return
      this.probes.add(from)
      if (this.probes.size >= this.quorum) this.campaign()
      return
    }
    if (!m.ok) {
      this.seeBallot(m.promised)
      return
    }
    if (this.role !== 'candidate' || m.ballot !== this.ballot) return
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
    if (ballot <= this.store.promised) return
    this.store.promise(ballot)
    if (this.role !== 'follower') this.becomeFollower(undefined)
  }

  private checkPromises(): void {
    if (this.role !== 'candidate' || this.promises.size < this.quorum) return
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
    this.becomeLeader()
    this.nextSlot = this.chosen + 1
    for (let slot = this.chosen + 1; slot <= top; slot++) {
      let value = known.get(slot) ?? adopted.get(slot)?.value
      if (value === undefined) this.stats.noops++
      else this.stats.recovered++
      if (paxosTesting.skipRecovery && value !== undefined) value = undefined
      this.proposeAt(slot, value ?? NOOP_VALUE, ballot)
    }
    this.nextSlot = Math.max(this.nextSlot, top + 1)
    this.applyChosen()
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
    for (const id of this.ballots.voters) if (id !== this.self) this.peers.set(id, { chosen: 0, lastHeard: now, sentCommit: 0 })
    this.inflight.clear()
    this.chosenAtLastTick = this.chosen
    this.ctx.observe({ type: 'leader', leader: this.self, term: this.ballot })
    this.armHeartbeat()
    // Tell everyone at once (the recovered slots, if any, follow in flush()).
    for (const [id, peer] of this.peers) this.sendHeartbeat(id, peer)
  }

  private becomeFollower(leader: NodeId | undefined): void {
    const wasLeader = this.role === 'leader'
    this.leader = leader
    this.promises.clear()
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
    if (v.kind !== 'command' || v.nonce !== this.nonce) return
    const c = this.clients.get(v.counter)
    if (c === undefined) return
    this.clients.delete(v.counter)
    this.ctx.reject(c.client, error)
  }

  private setRole(role: PaxosRole): void {
    if (this.role === role) return
    this.role = role
    this.ctx.observe({ type: 'role', role, term: this.store.promised })
  }

  private resetElectionTimer(): void {
    if (this.stopped) return
    if (this.electionTimer !== undefined) this.ctx.clearTimer(this.electionTimer)
    const t = this.options.electionTimeoutMs
    this.electionTimer = this.ctx.setTimer(t + Math.floor(this.ctx.random.next() * t), () => {
      this.electionTimer = undefined
      this.onElectionTimeout()
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
      for (const p of this.peers.values()) if (now - p.lastHeard < this.options.electionTimeoutMs) live++
      if (live < this.quorum) {
        this.becomeFollower(undefined)
        return
      }
    }
    this.tick++
    for (const [id, peer] of this.peers) {
      if (peer.chosen < this.chosenAtLastTick) this.sendLearn(id, peer.chosen + 1)
      // Retransmit from the first slot this peer has not acknowledged, if it was sent a tick ago.
      for (let slot = this.chosen + 1; slot < this.nextSlot; slot++) {
        const entry = this.inflight.get(slot)
        if (entry === undefined || entry.acks.has(id)) continue
        if (entry.tick < this.tick - 1) this.sendAccepts(id, slot, this.nextSlot - 1)
        break
      }
      this.sendHeartbeat(id, peer)
    }
    this.chosenAtLastTick = this.chosen
    this.armHeartbeat()
  }

  // ---------------------------------------------------------------- phase 2 (proposer)

  /** Give `value` the next slot if the window has room, else queue it. The slot, undefined when queued, false when refused. */
  private enqueue(value: Uint8Array): number | undefined | false {
    if (this.queue.length === 0 && this.nextSlot - 1 - this.chosen < this.options.maxInflightSlots) {
      const slot = this.nextSlot++
      this.proposeAt(slot, value, this.ballot)
      return slot
    }
    if (this.queue.length >= this.options.maxQueuedProposals) return false
    this.queue.push(value)
    return undefined
  }

  private fillWindow(): void {
    let n = 0
    while (n < this.queue.length && this.nextSlot - 1 - this.chosen < this.options.maxInflightSlots) {
      const slot = this.nextSlot++
      const value = this.queue[n++]!
      const v = decodeValue(value, this.options.maxCommandBytes)
      if (v.kind === 'command' && v.nonce === this.nonce) this.mySlots.set(slot, v.counter)
      this.proposeAt(slot, value, this.ballot)
    }
    if (n > 0) this.queue = this.queue.slice(n)
  }

  /** Phase 2a at `slot`: accept it ourselves (persisted with this batch) and send it in flush(). */
  private proposeAt(slot: number, value: Uint8Array, ballot: number): void {
    this.store.accept(slot, ballot, value)
    this.inflight.set(slot, { value, acks: new Set([this.self]), tick: this.tick })
    if (this.sendFrom === 0 || slot < this.sendFrom) this.sendFrom = slot
    if (this.quorum === 1) this.advanceChosen()
  }

  private sendHeartbeat(to: NodeId, peer: Peer): void {
    peer.sentCommit = this.chosen
    this.send(to, { type: MessageType.Heartbeat, ballot: this.ballot, commit: this.chosen })
  }

  private sendAccepts(to: NodeId, from: number, last: number): void {
    const max = this.options.maxSlotsPerMessage
    let first = Math.max(from, this.chosen + 1)
    while (first <= last) {
      const values: Uint8Array[] = []
      let slot = first
      for (; slot <= last && values.length < max; slot++) {
        const entry = this.inflight.get(slot)
        if (entry === undefined) break
        values.push(entry.value)
      }
      if (values.length === 0) return
      this.send(to, { type: MessageType.Accept, ballot: this.ballot, first, values, commit: this.chosen })
      const peer = this.peers.get(to)
      if (peer !== undefined) peer.sentCommit = this.chosen
      first = slot
    }
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
    for (let slot = m.first; slot < m.first + m.count; slot++) this.inflight.get(slot)?.acks.add(from)
    this.advanceChosen()
  }

  private advanceChosen(): void {
    let entry = this.inflight.get(this.chosen + 1)
    if (entry === undefined || entry.acks.size < this.quorum) return
    while (entry !== undefined && entry.acks.size >= this.quorum) {
      this.learnChosen(this.chosen + 1, this.ballot, entry.value)
      entry = this.inflight.get(this.chosen + 1)
    }
    this.applyChosen()
    if (this.role === 'leader') this.fillWindow()
  }

  // ---------------------------------------------------------------- phase 2 (acceptor)

  private handleAccept(from: NodeId, m: AcceptMessage | HeartbeatMessage): void {
    this.checkOwner(from, m.ballot)
    if (m.ballot < this.store.promised) {
      this.send(from, { type: MessageType.Accepted, ballot: m.ballot, ok: false, promised: this.store.promised, first: 1, count: 0, chosen: this.chosen })
      return
    }
    this.store.promise(m.ballot)
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
    this.send(from, { type: MessageType.Accepted, ballot: m.ballot, ok: true, promised: this.store.promised, first, count, chosen: this.chosen })
  }

  /**
   * The leader of `ballot` says slots up to `commit` are chosen. A slot whose
   * accepted value is of that ballot holds the leader's value, hence the
   * chosen one; any other slot is fetched (the leader pushes it).
   */
  private learnUpTo(commit: number, ballot: number): void {
    let learned = false
    while (this.chosen < commit) {
      const a = this.store.accepted.get(this.chosen + 1)
      if (a === undefined || a.ballot !== ballot) break
      this.learnChosen(this.chosen + 1, ballot, a.value)
      learned = true
    }
    if (learned) this.applyChosen()
  }

  // ---------------------------------------------------------------- learning and execution

  /** Append the chosen value of the next slot to the log (executed by applyChosen). */
  private learnChosen(slot: number, ballot: number, value: Uint8Array): void {
    if (slot !== this.chosen + 1) throw new Error(`paxos: learning slot ${slot} with chosen at ${this.chosen}`)
    this.ctx.storage.append([{ index: slot, term: ballot, data: value }])
    this.chosen = slot
    this.store.accepted.delete(slot)
    this.inflight.delete(slot)
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
      if (v.kind === 'command' && v.nonce === this.nonce) {
        client = this.clients.get(v.counter)?.client
        this.clients.delete(v.counter)
      }
      if (mine !== undefined && !(v.kind === 'command' && v.nonce === this.nonce && v.counter === mine)) {
        // Our command lost its slot to another value: it was never chosen anywhere, so it may be retried.
        const lost = this.clients.get(mine)
        this.clients.delete(mine)
        if (lost !== undefined) this.ctx.reject(lost.client, new NotLeaderError(this.leader === this.self ? undefined : this.leader, 'the proposal lost its slot and was not chosen; retry'))
      }
      if (v.kind === 'command') this.ctx.commit(client === undefined ? { index, command: v.command } : { index, command: v.command, client })
    }
    this.maybeSnapshot()
  }

  // ---------------------------------------------------------------- catch-up and snapshots

  /** Send chosen slots from `from` on (a Learn), or the snapshot when they are truncated. */
  private sendLearn(to: NodeId, from: number): void {
    if (from > this.chosen) return
    const storage = this.ctx.storage
    if (from < storage.firstIndex()) {
      const snapshot = storage.snapshot()
      if (snapshot === undefined) return
      this.send(to, { type: MessageType.Snapshot, index: snapshot.index, term: snapshot.term, data: snapshot.data, chosen: this.chosen })
      this.stats.snapshotsSent++
      return
    }
    const end = Math.min(this.chosen + 1, from + this.options.maxSlotsPerMessage)
    const entries = storage.entries(from, end, LEARN_BYTES).map((e) => [e.term, e.data] as const)
    this.send(to, { type: MessageType.Learn, first: from, entries, chosen: this.chosen })
    this.stats.learnsSent++
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

  private handleSnapshot(from: NodeId, m: SnapshotMessage): void {
    if (this.role === 'leader' || m.index <= this.chosen) return
    const snapshot: Snapshot = { index: m.index, term: m.term, data: m.data, meta: EMPTY }
    this.ctx.storage.saveSnapshot(snapshot)
    this.ctx.installSnapshot(snapshot)
    this.chosen = this.applied = m.index
    this.store.forgetUpTo(m.index)
    for (const slot of this.mySlots.keys()) if (slot <= m.index) this.mySlots.delete(slot)
    this.stats.snapshotsInstalled++
    this.ctx.observe({ type: 'custom', name: 'snapshot-installed', detail: { index: m.index, from } })
    if (this.chosen < m.chosen) this.send(from, { type: MessageType.Fetch, from: this.chosen + 1 })
  }

  private maybeSnapshot(): void {
    const every = this.options.snapshotEvery
    if (every === 0) return
    const storage = this.ctx.storage
    const last = storage.snapshot()?.index ?? 0
    if (this.applied - last < every) return
    // No-ops after the last command do not change the state: it is the state at `applied`.
    const taken = this.ctx.takeSnapshot()
    storage.saveSnapshot({ index: this.applied, term: storage.term(this.applied) ?? 0, data: taken.data, meta: EMPTY })
    this.ctx.observe({ type: 'snapshot', index: this.applied })
  }

  // ---------------------------------------------------------------- forwarding

  private handleForward(from: NodeId, m: ForwardMessage): void {
    if (this.role !== 'leader') {
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
