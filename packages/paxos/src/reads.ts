// Linearizable reads without a slot (the ReadIndex of Raft's dissertation
// §6.4, in Paxos terms). A read at the leader takes as its index the highest
// slot the leader has given out: after phase 1 that covers every slot chosen
// in an earlier ballot (a quorum of promises reports each of them), and later
// slots are the leader's own. The leader then proves that it still holds its
// ballot: a heartbeat round sent after the read arrived, acknowledged (ok, in
// our ballot) by a quorum of voters. An acceptor that had promised a higher
// ballot refuses, and any quorum that chose a value in a higher ballot meets
// ours — so no write the read must see was chosen elsewhere. The read is
// served once the leader has executed its index. No slot, no disk write.
import { NotLeaderError, type ClientRef, type NodeId } from '@synod/core'

/**
 * Test-only switch that removes the defence, so tests can show it matters:
 * the leader serves a read at its index without a quorum round (a deposed
 * leader that does not know it yet then answers stale values). Never set
 * outside tests; not exported from the package entry.
 */
export const readTesting = { skipQuorumRound: false }

interface PendingRead {
  readonly client: ClientRef
  /** Served once the leader has executed this slot. */
  readonly index: number
  /** Confirmed by any acknowledged heartbeat round at or above this one. */
  readonly round: number
}

export interface ReadHost {
  readonly self: NodeId
  quorum(): number
  isVoter(id: NodeId): boolean
  serve(client: ClientRef): void
  reject(client: ClientRef, error: NotLeaderError): void
}

export class LeaderReads {
  /** The round carried by the latest heartbeats sent (rounds only grow, across leaderships too). */
  private sentRound = 0
  /** The round the reads arriving now need: one above the last one sent. */
  private nextRound = 1
  /** Per voter, the highest round it acknowledged in this leadership. */
  private readonly acks = new Map<NodeId, number>()
  private confirmedRound = 0
  private waiting: PendingRead[] = []
  private confirmed: PendingRead[] = []
  readonly stats = { reads: 0, rounds: 0, leaseReads: 0 }

  constructor(private readonly host: ReadHost) {}

  /** The round the leader's heartbeats carry now. */
  get round(): number {
    return this.sentRound
  }

  get pending(): number {
    return this.waiting.length + this.confirmed.length
  }

  /** A new leadership (or the end of one): nothing acknowledged yet. */
  reset(): void {
    this.acks.clear()
    this.confirmedRound = this.sentRound
  }

  /** A read at the leader whose highest given-out slot is `index`; `applied` is what it has executed. */
  add(client: ClientRef, index: number, applied: number): void {
    this.stats.reads++
    const read = { client, index, round: this.nextRound }
    if (readTesting.skipQuorumRound || this.host.quorum() <= 1) this.confirmed.push(read)
    else this.waiting.push(read)
    this.serveUpTo(applied)
  }

  /** The round to put on the heartbeats leaving now: a new one when reads wait for it, else the latest. */
  roundToSend(): number {
    if (this.waiting.length > 0 && this.nextRound > this.sentRound) {
      this.sentRound = this.nextRound
      this.nextRound++
      this.stats.rounds++
    }
    return this.sentRound
  }

  /** Lease mode: every heartbeat tick is a new round, so its acknowledgements extend the lease from its send time. */
  newRound(): number {
    this.sentRound = this.nextRound
    this.nextRound++
    return this.sentRound
  }

  /** A read the leader's lease covers: no round, served once `index` is executed. */
  addLeased(client: ClientRef, index: number, applied: number): void {
    this.stats.reads++
    this.stats.leaseReads++
    this.confirmed.push({ client, index, round: 0 })
    this.serveUpTo(applied)
  }

  /** Whether reads wait for a round that has not been sent yet (the leader sends heartbeats now, not at the tick). */
  get roundDue(): boolean {
    return this.waiting.length > 0 && this.nextRound > this.sentRound
  }

  /** `from` acknowledged, in our ballot, a heartbeat carrying `round`. Returns the highest round a quorum has acknowledged (0: none new). */
  acknowledged(from: NodeId, round: number, applied: number): number {
    if (round === 0 || !this.host.isVoter(from) || round > this.sentRound) return 0
    if ((this.acks.get(from) ?? 0) >= round) return 0
    this.acks.set(from, round)
    // The highest round a quorum (this leader included) has acknowledged.
    // (Only current voters: a configuration change may have removed some that acknowledged earlier.)
    const rounds: number[] = []
    for (const [id, acked] of this.acks) if (this.host.isVoter(id)) rounds.push(acked)
    rounds.sort((a, b) => b - a)
    const others = this.host.quorum() - 1
    const quorumRound = others <= 0 ? this.sentRound : (rounds[others - 1] ?? 0)
    if (quorumRound <= this.confirmedRound) return quorumRound
    this.confirmedRound = quorumRound
    const still: PendingRead[] = []
    for (const read of this.waiting) (read.round <= quorumRound ? this.confirmed : still).push(read)
    this.waiting = still
    this.serveUpTo(applied)
    return quorumRound
  }

  /** Serve every confirmed read whose index is executed. */
  serveUpTo(applied: number): void {
    if (this.confirmed.length === 0) return
    const still: PendingRead[] = []
    for (const read of this.confirmed) {
      if (read.index <= applied) this.host.serve(read.client)
      else still.push(read)
    }
    this.confirmed = still
  }

  /** Leadership lost: every read waiting here fails, so its client retries at the new leader. */
  rejectAll(leaderHint: NodeId | undefined): void {
    const error = new NotLeaderError(leaderHint, 'leadership changed before the read was confirmed; retry')
    for (const read of [...this.waiting, ...this.confirmed]) this.host.reject(read.client, error)
    this.waiting = []
    this.confirmed = []
    this.reset()
  }
}
