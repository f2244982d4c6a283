// The leader lease of the Raft dissertation §6.4.1, shared by every protocol
// with leader leases (Raft, Multi-Paxos). The protocol makes the lease sound:
// a follower (acceptor) that acknowledges a heartbeat round refuses to vote
// for (promise) anyone else for an election timeout after receiving it, and
// a restarted one for an election timeout after its restart. Then no other
// leader can exist before `sent + electionTimeout` on any acknowledging
// node's clock, where `sent` is when the leader sent the round (never later
// than its receipt). This class keeps the leader's side: once a quorum
// acknowledged a round, reads may be served locally until
// `sent + duration`, where the protocol passes
// duration = electionTimeout × (1 − maxClockDrift) so that clocks running at
// different rates within the bound cannot break it. A new leadership has no
// lease until its first acknowledged round; a leadership transfer revokes it
// for the rest of the leadership.

/**
 * Test-only switches, each removing one rule so a test can show the stale
 * read it prevents. A protocol passes its own (module-level) object; the
 * switches are read at every call.
 */
export interface LeaseTestSwitches {
  /** The lease holds whenever the node leads: no acknowledged round needed. */
  leaseWithoutAcknowledgement: boolean
  /** A leadership transfer leaves the lease in place. */
  keepLeaseDuringTransfer: boolean
}

const SAFE: LeaseTestSwitches = Object.freeze({ leaseWithoutAcknowledgement: false, keepLeaseDuringTransfer: false })

/** Rounds whose send time is kept while they wait for a quorum; older ones are forgotten (that only costs lease time). */
const MAX_PENDING_ROUNDS = 64

export class LeaderLease {
  /** Heartbeat rounds sent, not yet acknowledged by a quorum, oldest first, with their send times. */
  private rounds: number[] = []
  private sentAt: number[] = []
  private expiresAt = Number.NEGATIVE_INFINITY
  /** Revoked for the rest of this leadership (a transfer began): see `revoke`. */
  private revoked = false

  constructor(
    private readonly durationMs: number,
    private readonly testing: LeaseTestSwitches = SAFE,
  ) {}

  /** A new leadership (or the end of one): no lease until a quorum acknowledges one of its rounds. */
  reset(): void {
    this.expire()
    this.revoked = false
  }

  /** Heartbeats of `round` leave now (`now` on the leader's clock when the round is sent, not when it arrives). */
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
    this.rounds.splice(0, n)
    this.sentAt.splice(0, n)
    if (this.revoked) return
    this.expiresAt = Math.max(this.expiresAt, sentAt + this.durationMs)
  }

  /** The quorum behind the lease may not be a quorum any more (a configuration change): start over. */
  expire(): void {
    this.expiresAt = Number.NEGATIVE_INFINITY
    this.rounds.length = 0
    this.sentAt.length = 0
  }

  /**
   * A leadership transfer began: followers vote for (acceptors promise) the
   * target despite their stickiness, so the lease proves nothing for the rest
   * of this leadership, also if the transfer is abandoned (a TimeoutNow still
   * in the network may start that election at any time).
   */
  revoke(): void {
    if (this.testing.keepLeaseDuringTransfer) return
    this.revoked = true
    this.expire()
  }

  valid(now: number): boolean {
    if (this.testing.leaseWithoutAcknowledgement) return true
    return !this.revoked && now < this.expiresAt
  }

  /** When the lease ends (leader's clock), for status(); undefined without one. */
  expiry(): number | undefined {
    return this.revoked || this.expiresAt === Number.NEGATIVE_INFINITY ? undefined : this.expiresAt
  }
}
