// The leader lease of dissertation §6.4.1. A follower that acknowledges a
// heartbeat ignores vote requests for an election timeout after it received
// it (CheckQuorum's leader stickiness) and does not campaign before then, so
// no other leader can be elected before `sent + electionTimeout` on that
// follower's clock, where `sent` is when the leader sent the heartbeat (never
// later than its receipt). Once a quorum acknowledged a round, the leader may
// serve reads locally until `sent + electionTimeout × (1 − maxClockDrift)`
// on its own clock: the drift bound absorbs clocks that run at different rates.

/**
 * Test-only switches that restore the old, unsafe behaviour, so the tests can
 * show each defence matters. Never set outside tests; not exported from the
 * package entry.
 */
export const leaseTesting = {
  /** The lease holds whenever the node is leader (the old behaviour): no acknowledged round needed. */
  leaseWithoutAcknowledgement: false,
  /** A leadership transfer leaves the lease in place (the old behaviour). */
  keepLeaseDuringTransfer: false,
  /** A restarted node grants votes at once (the old behaviour), forgetting the leader it may have just acknowledged. */
  grantVotesRightAfterRestart: false,
}

/** Rounds whose send time is kept while they wait for a quorum; older ones are forgotten (only costs lease time). */
const MAX_PENDING_ROUNDS = 64

export class LeaderLease {
  /** Heartbeat rounds sent but not yet acknowledged by a quorum, oldest first. */
  private readonly pendingRounds: number[] = []
  private readonly pendingSentAt: number[] = []
  private expiresAt = Number.NEGATIVE_INFINITY
  /** Revoked for the rest of this leadership (a transfer began): see `revoke`. */
  private revoked = false

  constructor(private readonly durationMs: number) {}

  /** A new leadership: no lease until its first acknowledged round. */
  reset(): void {
    this.pendingRounds.length = 0
    this.pendingSentAt.length = 0
    this.expiresAt = Number.NEGATIVE_INFINITY
    this.revoked = false
  }

  /** Heartbeats of `round` leave now (`now` = ctx.now() when the round is sent, not when it arrives). */
  sent(round: number, now: number): void {
    if (this.revoked) return
    const last = this.pendingRounds.length - 1
    if (last >= 0 && this.pendingRounds[last]! >= round) return // the earliest send time of a round counts
    if (this.pendingRounds.length >= MAX_PENDING_ROUNDS) {
      this.pendingRounds.shift()
      this.pendingSentAt.shift()
    }
    this.pendingRounds.push(round)
    this.pendingSentAt.push(now)
  }

  /** A quorum has acknowledged every round up to `round`: the lease runs from the latest of those rounds' send time. */
  acknowledged(round: number): void {
    let n = 0
    let sentAt = Number.NEGATIVE_INFINITY
    while (n < this.pendingRounds.length && this.pendingRounds[n]! <= round) {
      sentAt = this.pendingSentAt[n]!
      n++
    }
    if (n === 0) return
    this.pendingRounds.splice(0, n)
    this.pendingSentAt.splice(0, n)
    if (this.revoked) return
    const expires = sentAt + this.durationMs
    if (expires > this.expiresAt) this.expiresAt = expires
  }

  /** The quorum the lease was built on may not be a quorum any more (a configuration change): start over. */
  expire(): void {
    this.expiresAt = Number.NEGATIVE_INFINITY
    this.pendingRounds.length = 0
    this.pendingSentAt.length = 0
  }

  /**
   * A leadership transfer began: voters grant the target's `transfer` vote
   * despite their stickiness, so a lease proves nothing from now on. It stays
   * revoked for the rest of this leadership, also if the transfer is
   * abandoned: a TimeoutNow still in the network could start that election
   * at any time. Reads go through ReadIndex meanwhile.
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

  /** For status(): when the lease ends (leader clock), or undefined without one. */
  expiry(): number | undefined {
    return this.revoked || this.expiresAt === Number.NEGATIVE_INFINITY ? undefined : this.expiresAt
  }
}
