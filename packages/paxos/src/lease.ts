import { LeaderLease as CoreLeaderLease } from '@synod/core'

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

/** The lease itself is @synod/core's (shared with the other protocols that have leader leases), bound to this package's switches. */
export class LeaderLease extends CoreLeaderLease {
  constructor(durationMs: number) {
    super(durationMs, leaseTesting)
  }
}
