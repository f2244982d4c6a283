import { LeaderLease as CoreLeaderLease } from '@synod/core'

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

/** The lease itself is @synod/core's (shared with the other protocols that have leader leases), bound to this package's switches. */
export class LeaderLease extends CoreLeaderLease {
  constructor(durationMs: number) {
    super(durationMs, leaseTesting)
  }
}
