// Leader leases for local reads (option readMode 'lease'), with the rules of
// Raft's lease reads (dissertation §6.4.1; packages/raft/src/lease.ts). An
// acceptor that acknowledges a heartbeat of the leader's ballot refuses to
// promise any other ballot for an election timeout after it received it
// (leader stickiness, checkQuorum), and a restarted acceptor refuses for an
// election timeout after its restart (it may have acknowledged just before
// crashing). So no other node completes phase 1 before `sent +
// electionTimeout` on any acknowledging acceptor's clock, where `sent` is when
// the leader sent that heartbeat (never later than its receipt). Once a
// quorum acknowledged a round, the leader serves reads locally, at the highest
// slot it has given out, until `sent + electionTimeout × (1 − maxClockDrift)`
// on its own clock: the drift bound absorbs clocks running at different
// rates. A new leader has no lease before its first acknowledged round; a
// leadership transfer ends it (the target's forced Prepare ignores
// stickiness), and so does a configuration change (the quorum may differ).

/**
 * Test-only switches that remove one rule each, so the tests can show the
 * stale read it prevents. Never set outside tests; not exported from the
 * package entry.
 */
export const leaseTesting = {
  /** The lease holds whenever the node leads: no acknowledged round needed. */
  leaseWithoutAcknowledgement: false,
  /** A leadership transfer leaves the lease in place. */
  keepLeaseDuringTransfer: false,
  /** A restarted acceptor promises at once, forgetting the leader it may have just acknowledged. */
  promiseRightAfterRestart: false,
}

/** Rounds whose send time is kept while they wait for a quorum; older ones are forgotten (that only costs lease time). */
const MAX_PENDING_ROUNDS = 64

export class LeaderLease {
  /** Heartbeat rounds sent, not yet acknowledged by a quorum, oldest first, with their send times. */
  private rounds: number[] = []
  private sentAt: number[] = []
  private expiresAt = Number.NEGATIVE_INFINITY
  /** Revoked for the rest of this leadership (a transfer began). */
  private revoked = false

  constructor(private readonly durationMs: number) {}

  /** A new leadership (or the end of one): no lease until a quorum acknowledges one of its rounds. */
  reset(): void {
    this.expire()
    this.revoked = false
  }

  /** Heartbeats of `round` leave now (`now` on the leader's clock, when sent). */
  sent(round: number, now: number): void {
    if (this.revoked) return
    const last = this.rounds.length - 1
    if (last >= 0 && this.rounds[last]! >= round) return // the earliest send time of a round counts
    if (this.rounds.length >= MAX_PENDING_ROUNDS) {
      this.rounds.shift()
      this.sentAt.shift()
    }
    this.rounds.push(round)
    this.sentAt.push(now)
  }

  /** A quorum acknowledged every round up to `round`: the lease runs from the latest such round's send time. */
  acknowledged(round: number): void {
    let n = 0
    let sentAt = Number.NEGATIVE_INFINITY
    while (n < this.rounds.length && this.rounds[n]! <= round) sentAt = this.sentAt[n++]!
    if (n === 0) return
    this.rounds = this.rounds.slice(n)
    this.sentAt = this.sentAt.slice(n)
    if (this.revoked) return
    this.expiresAt = Math.max(this.expiresAt, sentAt + this.durationMs)
  }

  /** The quorum behind the lease may not be a quorum any more (a configuration change): start over. */
  expire(): void {
    this.expiresAt = Number.NEGATIVE_INFINITY
    this.rounds = []
    this.sentAt = []
  }

  /**
   * A leadership transfer began: acceptors promise the target's forced
   * Prepare despite their stickiness, so the lease proves nothing for the rest
   * of this leadership, also if the transfer is abandoned (a TimeoutNow still
   * in the network may start that phase 1 at any time).
   */
  revoke(): void {
    if (leaseTesting.keepLeaseDuringTransfer) return
    this.revoked = true
    this.expire()
  }

  valid(now: number): boolean {
    if (leaseTesting.leaseWithoutAcknowledgement) return true
    return !this.revoked && now < this.expiresAt
  }

  /** When the lease ends (leader's clock), for status(); undefined without one. */
  expiry(): number | undefined {
    return this.revoked || this.expiresAt === Number.NEGATIVE_INFINITY ? undefined : this.expiresAt
  }
}
