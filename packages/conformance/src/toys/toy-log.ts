import {
  CONTRACT_VERSION,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectOneOf,
  expectRecord,
  expectUint,
  majority,
  NotLeaderError,
  voterIds,
  type ClientRef,
  type NodeId,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
  type TimerId,
} from '@synod/core'

/**
 * The knobs that make a toy correct or broken. The correct setting is a
 * fixed leader that persists before it acknowledges and commits on a
 * majority; every other setting is a classic consensus bug.
 */
export interface ToyFlaws {
  /** 'self': the leader commits as soon as it has the entry, without a quorum. */
  readonly commitQuorum: 'majority' | 'self'
  /** 'lazy': log writes reach storage on a timer, after the ack left; 'never': nothing is persisted. */
  readonly persistence: 'before-ack' | 'lazy' | 'never'
  /** Followers that stop hearing the leader move to the next term and its rotating leader, with no election. */
  readonly failover: boolean
  /** Every node thinks it leads term 1 and orders its own proposals. */
  readonly everyoneLeads: boolean
  /** Reads are answered from local state at any node, without coordination. */
  readonly localReads: boolean
}

export const CORRECT_TOY: ToyFlaws = { commitQuorum: 'majority', persistence: 'before-ack', failover: false, everyoneLeads: false, localReads: false }

interface ToyEntry {
  readonly term: number
  readonly command: Uint8Array
}

const HEARTBEAT_MS = 25
const LAZY_FLUSH_MS = 60
const MAX_ENTRIES_PER_MESSAGE = 64

function encodeAppend(term: number, prevIndex: number, prevTerm: number, entries: readonly ToyEntry[], commit: number): Uint8Array {
  return encodeCanonical({ type: 'append', term, prevIndex, prevTerm, commit, entries: entries.map((e) => [e.term, e.command]) })
}

function encodeAck(term: number, match: number): Uint8Array {
  return encodeCanonical({ type: 'ack', term, match })
}

class ToyNode implements ProtocolNode {
  private term = 1
  private log: ToyEntry[] = []
  private commitIndex = 0
  /** Lowest log index changed since the last flush to storage. */
  private dirtyFrom = Number.POSITIVE_INFINITY
  private readonly match = new Map<NodeId, number>()
  private readonly sentUpTo = new Map<NodeId, number>()
  private readonly clients = new Map<number, ClientRef>()
  private lastHeard = 0
  private electionTimeoutMs = 0
  private timers: TimerId[] = []
  private readonly voters: NodeId[]

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly flaws: ToyFlaws,
  ) {
    this.voters = voterIds(ctx.membership)
  }

  private leaderOf(term: number): NodeId {
    return this.voters[(term - 1) % this.voters.length]!
  }

  private get isLeader(): boolean {
    return this.flaws.everyoneLeads || this.leaderOf(this.term) === this.ctx.self
  }

  start(): void {
    const storage = this.ctx.storage
    const term = storage.getHardState('term')
    if (term !== undefined) this.term = expectUint(decodeCanonical(term), 'term')
    this.log = storage.entries(1, storage.lastIndex() + 1).map((e) => ({ term: e.term, command: e.data }))
    this.lastHeard = this.ctx.now()
    this.electionTimeoutMs = 200 + this.ctx.random.next() * 200
    if (this.isLeader) this.becomeLeader()
    this.every(HEARTBEAT_MS, () => this.tick())
    if (this.flaws.persistence === 'lazy') this.every(LAZY_FLUSH_MS, () => this.persistLog())
  }

  private every(ms: number, run: () => void): void {
    const index = this.timers.length
    const fire = () => {
      run()
      this.timers[index] = this.ctx.setTimer(ms, fire)
    }
    this.timers.push(this.ctx.setTimer(ms, fire))
  }

  private becomeLeader(): void {
    for (const peer of this.voters) {
      this.match.set(peer, 0)
      this.sentUpTo.set(peer, 0)
    }
    this.ctx.observe({ type: 'role', role: 'leader', term: this.term })
    this.ctx.observe({ type: 'leader', leader: this.ctx.self, term: this.term })
  }

  private tick(): void {
    if (this.isLeader) {
      for (const peer of this.voters) if (peer !== this.ctx.self) this.replicate(peer, this.match.get(peer) ?? 0)
      return
    }
    if (this.flaws.failover && this.ctx.now() - this.lastHeard > this.electionTimeoutMs) {
      this.setTerm(this.term + 1)
      this.lastHeard = this.ctx.now()
      if (this.isLeader) this.becomeLeader()
    }
  }

  private setTerm(term: number): void {
    this.term = term
    if (this.flaws.persistence !== 'never') this.ctx.storage.setHardState('term', encodeCanonical(term))
    this.ctx.observe({ type: 'role', role: this.isLeader ? 'leader' : 'follower', term })
  }

  /** Send `peer` the entries after `from`. */
  private replicate(peer: NodeId, from: number): void {
    if (this.flaws.everyoneLeads) return
    const entries = this.log.slice(from, from + MAX_ENTRIES_PER_MESSAGE)
    const prevTerm = from === 0 ? 0 : this.log[from - 1]!.term
    this.ctx.send(peer, encodeAppend(this.term, from, prevTerm, entries, this.commitIndex))
    this.sentUpTo.set(peer, from + entries.length)
  }

  propose(command: Uint8Array, client: ClientRef): void {
    if (!this.isLeader) {
      this.ctx.reject(client, new NotLeaderError(this.leaderOf(this.term)))
      return
    }
    this.log.push({ term: this.term, command })
    const index = this.log.length
    this.clients.set(index, client)
    this.changed(index)
    if (this.flaws.commitQuorum === 'self') this.commitUpTo(index)
    for (const peer of this.voters) {
      if (peer === this.ctx.self) continue
      const sent = this.sentUpTo.get(peer) ?? 0
      if (sent === index - 1) this.replicate(peer, sent)
    }
    this.advanceCommit()
  }

  read(_request: Uint8Array, client: ClientRef): void {
    this.ctx.serveRead(client)
  }

  receive(from: NodeId, message: Uint8Array): void {
    const record = expectRecord(decodeCanonical(message))
    const type = expectOneOf(record['type'], ['append', 'ack'] as const, 'type')
    const term = expectUint(record['term'], 'term')
    if (type === 'ack') {
      if (!this.isLeader || term !== this.term) return
      const match = expectUint(record['match'], 'match')
      this.match.set(from, match)
      if (match < (this.sentUpTo.get(from) ?? 0)) this.sentUpTo.set(from, match)
      this.advanceCommit()
      return
    }
    if (this.flaws.everyoneLeads || term < this.term || from !== this.leaderOf(term)) return
    if (term > this.term) this.setTerm(term)
    this.lastHeard = this.ctx.now()
    const prevIndex = expectUint(record['prevIndex'], 'prevIndex')
    const prevTerm = expectUint(record['prevTerm'], 'prevTerm')
    const commit = expectUint(record['commit'], 'commit')
    const entries = expectArray(record['entries'], 'entries', MAX_ENTRIES_PER_MESSAGE).map((raw) => {
      const pair = expectArray(raw, 'entry', 2)
      return { term: expectUint(pair[0], 'entry term'), command: expectBytes(pair[1], 'entry command') }
    })
    if (prevIndex > this.log.length) return this.ctx.send(from, encodeAck(this.term, this.log.length))
    if (prevIndex > 0 && this.log[prevIndex - 1]!.term !== prevTerm) {
      this.truncate(prevIndex - 1)
      return this.ctx.send(from, encodeAck(this.term, prevIndex - 1))
    }
    entries.forEach((entry, k) => {
      const index = prevIndex + k + 1
      const existing = this.log[index - 1]
      if (existing !== undefined && existing.term === entry.term) return
      if (existing !== undefined) this.truncate(index - 1)
      this.log.push(entry)
      this.changed(index)
    })
    const last = prevIndex + entries.length
    this.commitUpTo(Math.min(commit, last))
    this.ctx.send(from, encodeAck(this.term, last))
  }

  private truncate(length: number): void {
    if (length >= this.log.length) return
    this.log.length = length
    this.changed(length + 1)
  }

  private changed(index: number): void {
    this.dirtyFrom = Math.min(this.dirtyFrom, index)
    if (this.flaws.persistence === 'before-ack') this.persistLog()
  }

  /** Bring storage in line with the in-memory log from the lowest changed index. */
  private persistLog(): void {
    if (this.flaws.persistence === 'never' || this.dirtyFrom === Number.POSITIVE_INFINITY) return
    const storage = this.ctx.storage
    const from = this.dirtyFrom
    this.dirtyFrom = Number.POSITIVE_INFINITY
    if (storage.lastIndex() >= from) storage.truncateSuffix(from)
    const tail = this.log.slice(from - 1).map((e, k) => ({ index: from + k, term: e.term, data: e.command }))
    if (tail.length > 0) storage.append(tail)
  }

  private advanceCommit(): void {
    if (!this.isLeader || this.flaws.commitQuorum === 'self') return
    const matches = this.voters.map((peer) => (peer === this.ctx.self ? this.log.length : (this.match.get(peer) ?? 0))).sort((a, b) => b - a)
    const candidate = matches[majority(this.voters.length) - 1] ?? 0
    if (candidate > this.commitIndex && this.log[candidate - 1]?.term === this.term) this.commitUpTo(candidate)
  }

  private commitUpTo(index: number): void {
    while (this.commitIndex < Math.min(index, this.log.length)) {
      const next = ++this.commitIndex
      const client = this.clients.get(next)
      this.clients.delete(next)
      const entry = this.log[next - 1]!
      this.ctx.commit(client === undefined ? { index: next, command: entry.command } : { index: next, command: entry.command, client })
    }
  }

  status(): NodeStatus {
    return {
      id: this.ctx.self,
      role: this.isLeader ? 'leader' : 'follower',
      term: this.term,
      leader: this.flaws.everyoneLeads ? this.ctx.self : this.leaderOf(this.term),
      commitIndex: this.commitIndex,
      lastIndex: this.log.length,
      membership: this.ctx.membership,
    }
  }

  stop(): void {
    for (const timer of this.timers) this.ctx.clearTimer(timer)
    this.timers = []
  }
}

/** A toy protocol factory with the given flaws (none: the correct toy). */
export function toyProtocol(name: string, flaws: Partial<ToyFlaws> = {}): ProtocolFactory {
  const merged: ToyFlaws = { ...CORRECT_TOY, ...flaws }
  return {
    contract: CONTRACT_VERSION,
    name,
    faultModel: 'crash',
    maxFaulty: (n) => Math.floor((n - 1) / 2),
    create(ctx) {
      const node = new ToyNode(ctx, merged)
      if (merged.localReads) return node
      // Without a read path the Replica orders reads as commands: linearizable.
      return {
        start: () => node.start(),
        receive: (from, message) => node.receive(from, message),
        propose: (command, client) => node.propose(command, client),
        status: () => node.status(),
        stop: () => node.stop(),
      }
    },
  }
}

/** Correct: a fixed leader replicates to a majority, persisting before every ack. Survives every crash scenario in which the leader comes back. */
export const fixedLeaderToy = toyProtocol('toy-fixed-leader')
/** Broken: commits without a quorum and fails over without an election, so two leaders commit different entries. */
export const commitsWithoutQuorumToy = toyProtocol('toy-commits-without-quorum', { commitQuorum: 'self', failover: true })
/** Broken: acknowledges entries before they are on disk (flushed lazily); a crash of all nodes loses acknowledged writes. */
export const acksBeforePersistingToy = toyProtocol('toy-acks-before-persisting', { persistence: 'lazy' })
/** Broken: persists nothing, so a restarted node forgets what it promised and accepted. */
export const forgetsOnRestartToy = toyProtocol('toy-forgets-on-restart', { persistence: 'never' })
/** Broken: every node orders its own proposals, committing different commands at the same index. */
export const divergentCommitToy = toyProtocol('toy-divergent-commit', { everyoneLeads: true, commitQuorum: 'self' })
/** Broken: reads are served from any node's local state, so a lagging follower answers stale values. */
export const staleReadsToy = toyProtocol('toy-stale-reads', { localReads: true })
