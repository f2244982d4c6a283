import { ConfigError } from '@synod/core'

/** Tuning of one Multi-Paxos node. Every field has a default; pass only what you change. */
export interface PaxosOptions {
  /** Base election timeout in ms; each wait is drawn uniformly from [t, 2t) with ctx.random, so candidates rarely duel. Default 150. */
  readonly electionTimeoutMs: number
  /** Leader heartbeat (and retransmission) interval in ms; smaller than electionTimeoutMs. Default 50. */
  readonly heartbeatIntervalMs: number
  /** Pipelining window: slots the leader has in flight (proposed, not yet chosen). At most 512. Default 256. */
  readonly maxInflightSlots: number
  /**
   * Per-acceptor flow control (flow-control.ts): Accept messages the leader has sent to one acceptor
   * and not seen acknowledged. At the bound that acceptor gets no new Accept (the quorum goes on with
   * the others) until it answers; it then learns the chosen slots it missed. Default 256 (Raft's).
   */
  readonly maxInflightAccepts: number
  /** The same bound in bytes of Accept messages per acceptor; 0 for none. Default 32 MiB (Raft's). */
  readonly maxInflightAcceptBytes: number
  /** Proposals a leader queues while its window is full; beyond that they are refused with ProposalDroppedError. Default 4096. */
  readonly maxQueuedProposals: number
  /** Most slots (or forwarded commands) in one message; also the decoder's limit. Default 1024. */
  readonly maxSlotsPerMessage: number
  /** Take a snapshot and truncate the log once this many slots were executed since the last one; 0 never. Default 10000. */
  readonly snapshotEvery: number
  /** Largest command accepted from a client or the wire. Default 8 MiB. */
  readonly maxCommandBytes: number
  /** Largest snapshot accepted from the wire (its total size; it travels in chunks). Default 16 MiB − 64 KiB. */
  readonly maxSnapshotBytes: number
  /** Bytes of snapshot data per chunk (snapshot-transfer.ts); four chunks are in flight per transfer. Default 1 MiB, at most 8 MiB. */
  readonly snapshotChunkBytes: number
  /** A follower forwards its clients' proposals to the leader; false: it refuses them with NotLeaderError. Default true. */
  readonly forwardProposals: boolean
  /**
   * A leader that has not heard from a quorum within an election timeout steps down, and an acceptor
   * that hears from a live leader refuses other candidates' Prepares (leader stickiness). Default true.
   */
  readonly checkQuorum: boolean
  /**
   * Before phase 1 a node probes whether a quorum would promise its ballot (Raft's PreVote,
   * dissertation §9.6), persisting nothing: a node cut off from the others then never raises the
   * ballot and never deposes a healthy leader when it comes back. Default true.
   */
  readonly preVote: boolean
  /**
   * How the leader proves a read is current. 'read-index' (default): a heartbeat round that a quorum
   * acknowledges in its ballot, sent after the read arrived (reads.ts). 'lease': no round while the
   * leader holds a lease — from the send time of a heartbeat round a quorum acknowledged, for
   * electionTimeoutMs × (1 − maxClockDrift) — and a round otherwise (a new leader before its first
   * acknowledged round, a lapsed lease, a transfer under way). Needs checkQuorum (lease.ts).
   */
  readonly readMode: 'read-index' | 'lease'
  /**
   * Lease reads only: the largest fraction by which one node's clock may under-measure an interval
   * compared with another's (0.1: 1 s on one clock lasts at least 900 ms on every other). The lease
   * is shortened by it. In [0, 1). Default 0.1.
   */
  readonly maxClockDrift: number
}

/**
 * How many slots above its chosen index an acceptor accepts. Its accepted
 * values live in run records under this many + 1 storage keys (ADR 0024):
 * each needed key holds at least one needed slot, so one is always free.
 * Fixed: format-1 records sit in a ring of exactly this many keys (slot mod ring).
 */
export const ACCEPT_RING = 1024

/** The largest snapshot chunk (a chunk must fit one transport message). */
export const MAX_SNAPSHOT_CHUNK_BYTES = 8 << 20

export const defaultPaxosOptions: PaxosOptions = {
  electionTimeoutMs: 150,
  heartbeatIntervalMs: 50,
  maxInflightSlots: 256,
  maxInflightAccepts: 256,
  maxInflightAcceptBytes: 32 << 20,
  maxQueuedProposals: 4096,
  maxSlotsPerMessage: 1024,
  snapshotEvery: 10_000,
  maxCommandBytes: 8 << 20,
  maxSnapshotBytes: (16 << 20) - (64 << 10),
  snapshotChunkBytes: 1 << 20,
  forwardProposals: true,
  checkQuorum: true,
  preVote: true,
  readMode: 'read-index',
  maxClockDrift: 0.1,
}

/** Fill defaults and reject nonsense with a ConfigError naming the field. */
export function resolvePaxosOptions(options: Partial<PaxosOptions> | undefined): PaxosOptions {
  const resolved: PaxosOptions = { ...defaultPaxosOptions, ...options }
  for (const field of ['electionTimeoutMs', 'heartbeatIntervalMs', 'maxCommandBytes', 'maxSnapshotBytes'] as const) {
    const v = resolved[field]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError('must be a positive number', field)
  }
  for (const field of ['maxInflightSlots', 'maxInflightAccepts', 'maxSlotsPerMessage', 'snapshotChunkBytes'] as const) {
    const v = resolved[field]
    if (!Number.isSafeInteger(v) || v < 1) throw new ConfigError('must be a positive integer', field)
  }
  for (const field of ['maxQueuedProposals', 'snapshotEvery', 'maxInflightAcceptBytes'] as const) {
    const v = resolved[field]
    if (!Number.isSafeInteger(v) || v < 0) throw new ConfigError('must be a non-negative integer', field)
  }
  if (resolved.snapshotChunkBytes > MAX_SNAPSHOT_CHUNK_BYTES) throw new ConfigError(`must be at most ${MAX_SNAPSHOT_CHUNK_BYTES}, so a chunk fits one transport message`, 'snapshotChunkBytes')
  if (resolved.maxInflightSlots > ACCEPT_RING / 2) throw new ConfigError(`must be at most ${ACCEPT_RING / 2}`, 'maxInflightSlots')
  if (resolved.heartbeatIntervalMs >= resolved.electionTimeoutMs) throw new ConfigError('must be smaller than electionTimeoutMs', 'heartbeatIntervalMs')
  for (const field of ['forwardProposals', 'checkQuorum', 'preVote'] as const)
    if (typeof resolved[field] !== 'boolean') throw new ConfigError('must be true or false', field)
  if (resolved.readMode !== 'read-index' && resolved.readMode !== 'lease') throw new ConfigError("must be 'read-index' or 'lease'", 'readMode')
  if (typeof resolved.maxClockDrift !== 'number' || !(resolved.maxClockDrift >= 0 && resolved.maxClockDrift < 1))
    throw new ConfigError('must be a number in [0, 1)', 'maxClockDrift')
  // The lease rests on acceptors refusing other ballots while they hear from the leader (stickiness).
  if (resolved.readMode === 'lease' && !resolved.checkQuorum) throw new ConfigError('lease reads are only safe with checkQuorum enabled', 'readMode')
  return resolved
}
