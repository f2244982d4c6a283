import type { ProtocolFactory } from '@synod/core'

/** Cluster sizes measured: n = 4 and 7 for everyone (3f+1 for f = 1, 2), and 3 and 5 (2f+1) for crash protocols. */
export function sizesFor(factory: Pick<ProtocolFactory<unknown>, 'faultModel'>): number[] {
  return factory.faultModel === 'crash' ? [3, 4, 5, 7] : [4, 7]
}

/** What the seed's table claims for each protocol, quoted in the report next to the measurement. */
export const TEXTBOOK: Readonly<Record<string, string>> = {
  raft: '5 nodes ≈10k writes/s at 1 RTT, 4 messages per write',
  pbft: '4 nodes ≈1k writes/s, 3 phases, 12 messages per write',
  hotstuff: 'linear messages per view, responsiveness',
  paxos: '2 message delays in steady state with a stable leader',
}

/** What the table's last column says of each protocol: what it offers beyond the figures (from its package README). */
export const NOTES: Readonly<Record<string, string>> = {
  raft: 'membership changes at run time, ReadIndex or lease reads, leader transfer',
  paxos: 'stable leader, membership changes at run time (stop-sign), leader transfer',
  pbft: 'signed or MAC-authenticated requests, reply certificates a client can check, read-only requests',
  hotstuff: 'leader rotates every view, timeouts with timeout certificates, votes to f + 1 collectors, reply certificates',
}

/** The protocols the table shows, in its order. */
export const BENCH_PROTOCOLS: readonly string[] = ['raft', 'paxos', 'pbft', 'hotstuff']
