import { ConfigError } from '@synod/core'
import { MAX_SNAPSHOT_CHUNK_BYTES } from './messages.js'

/** Tuning of one Raft node. Every field has a default; pass only what you change. */
export interface RaftOptions {
  /** Base election timeout in ms; each wait is drawn uniformly from [t, 2t) with ctx.random (§5.2). Default 150. */
  readonly electionTimeoutMs: number
  /** Leader heartbeat interval in ms; keep well under the election timeout. Default 50. */
  readonly heartbeatIntervalMs: number
  /** PreVote (dissertation §9.6): a node first checks it could win before bumping its term. Default true. */
  readonly preVote: boolean
  /**
   * CheckQuorum (dissertation §6.2): a leader that has not heard from a quorum within an election
   * timeout steps down, and followers that hear from a leader ignore vote requests (leader stickiness). Default true.
   */
  readonly checkQuorum: boolean
  /**
   * 'read-index' confirms leadership with a heartbeat round per batch of reads (§6.4).
   * 'lease' (§6.4.1) serves reads without that round while the leader holds a lease: from the send
   * time of a heartbeat round a quorum acknowledged, for electionTimeoutMs × (1 − maxClockDrift).
   * Without a lease (a new leader before its first acknowledged round, a lapsed lease, a leadership
   * transfer) reads fall back to ReadIndex. Requires checkQuorum. Default 'read-index'.
   */
  readonly readMode: 'read-index' | 'lease'
  /**
   * Lease reads only: the largest fraction by which one node's clock may under-measure an interval
   * that another node's clock measures (0.1: an election timeout that lasts 1000 ms on one clock
   * lasts at least 900 ms on every other). The lease is shortened by this fraction. In [0, 1). Default 0.1.
   */
  readonly maxClockDrift: number
  /** Entry bytes per AppendEntries message (at least one entry is always sent). Default 1 MiB. */
  readonly maxAppendBytes: number
  /** AppendEntries messages in flight per follower in the replicate state (pipelining window). Default 256. */
  readonly maxInflightMessages: number
  /** Entry bytes in flight per follower; 0 for no limit. Default 32 MiB. */
  readonly maxInflightBytes: number
  /** A leader refuses proposals (ProposalDroppedError) while this many bytes are uncommitted. Default 64 MiB. */
  readonly maxUncommittedBytes: number
  /** Take a snapshot and compact once this many entries were applied since the last one; 0 never. Default 10000. */
  readonly snapshotThreshold: number
  /**
   * Entries kept (in memory) behind each compaction point, so a follower only a little behind it
   * (restarted, or probing after a lost message) catches up from the log, not with a whole
   * snapshot (etcd's SnapshotCatchUpEntries). 0 keeps none. Lost on a restart. Default 5000.
   */
  readonly snapshotCatchUpEntries: number
  /** At most this many entry bytes in that window; 0 for no limit. Default 64 MiB. */
  readonly snapshotCatchUpBytes: number
  /**
   * Apply pacing (etcd's MaxCommittedSizePerReady): at most this many committed entries are applied
   * per batch of inputs; the rest in the following batches (a 0 ms timer), so a node handed a large
   * commit range still answers heartbeats and votes in between. At least one entry. Default 10000.
   */
  readonly maxApplyEntriesPerBatch: number
  /** Apply pacing: at most this many entry bytes applied per batch (at least one entry). Default 16 MiB. */
  readonly maxApplyBytesPerBatch: number
  /** Bytes of snapshot data per InstallSnapshot chunk. Default 1 MiB, at most 8 MiB (`MAX_SNAPSHOT_CHUNK_BYTES`). */
  readonly snapshotChunkBytes: number
  /** Largest log entry accepted from the wire. Default 8 MiB. */
  readonly maxEntryBytes: number
  /** Largest snapshot accepted from the wire. Default 1 GiB. */
  readonly maxSnapshotBytes: number
  /**
   * A follower that knows the leader forwards its clients' proposals to it (etcd's MsgProp) and
   * answers them when it applies them; false: followers refuse proposals with NotLeaderError. Default true.
   */
  readonly forwardProposals: boolean
  /**
   * A follower that knows the leader serves linearizable reads itself (etcd's MsgReadIndex): it asks
   * the leader for a read index, the leader confirms its leadership with a quorum round and answers
   * its commit index, and the follower serves the read once it has applied that index. No answer
   * within electionTimeoutMs, or a change of leader or term meanwhile, fails the read with
   * NotLeaderError (never a stale answer). false: followers refuse reads with NotLeaderError. Default true.
   */
  readonly followerReads: boolean
  /**
   * The leader writes new entries to its own disk in parallel with sending them (dissertation
   * §10.2.1, as etcd-raft does): its AppendEntries leave before the batch's storage sync, and it
   * counts itself toward the commit quorum only once its copy is durable. Followers still
   * acknowledge only what is on their disk. Saves one disk sync of commit latency. Needs a
   * runtime that honours `beforeSync` and calls `persisted()` (core's Replica). false: appends
   * leave after the leader's sync (the behaviour before). Default true.
   */
  readonly appendInParallel: boolean
}

export const defaultRaftOptions: RaftOptions = {
  electionTimeoutMs: 150,
  heartbeatIntervalMs: 50,
  preVote: true,
  checkQuorum: true,
  readMode: 'read-index',
  maxClockDrift: 0.1,
  maxAppendBytes: 1 << 20,
  maxInflightMessages: 256,
  maxInflightBytes: 32 << 20,
  maxUncommittedBytes: 64 << 20,
  snapshotThreshold: 10_000,
  maxApplyEntriesPerBatch: 10_000,
  maxApplyBytesPerBatch: 16 << 20,
  snapshotCatchUpEntries: 5000,
  snapshotCatchUpBytes: 64 << 20,
  snapshotChunkBytes: 1 << 20,
  maxEntryBytes: 8 << 20,
  maxSnapshotBytes: 1 << 30,
  forwardProposals: true,
  followerReads: true,
  appendInParallel: true,
}

/** Fill defaults and reject nonsense with a ConfigError naming the field. */
export function resolveRaftOptions(options: Partial<RaftOptions> | undefined): RaftOptions {
  const resolved: RaftOptions = { ...defaultRaftOptions, ...options }
  const positive: Array<keyof RaftOptions> = [
    'electionTimeoutMs',
    'heartbeatIntervalMs',
    'maxAppendBytes',
    'maxInflightMessages',
    'maxUncommittedBytes',
    'maxApplyEntriesPerBatch',
    'maxApplyBytesPerBatch',
    'snapshotChunkBytes',
    'maxEntryBytes',
    'maxSnapshotBytes',
  ]
  for (const field of positive) {
    const value = resolved[field]
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ConfigError('must be a positive number', field)
  }
  for (const field of ['maxInflightBytes', 'snapshotThreshold', 'snapshotCatchUpEntries', 'snapshotCatchUpBytes'] as const) {
    const value = resolved[field]
    if (!Number.isSafeInteger(value) || value < 0) throw new ConfigError('must be a non-negative integer', field)
  }
  if (resolved.snapshotChunkBytes > MAX_SNAPSHOT_CHUNK_BYTES)
    throw new ConfigError(`at most ${MAX_SNAPSHOT_CHUNK_BYTES} bytes, so a chunk fits one transport message`, 'snapshotChunkBytes')
  if (resolved.heartbeatIntervalMs >= resolved.electionTimeoutMs)
    throw new ConfigError('must be smaller than electionTimeoutMs', 'heartbeatIntervalMs')
  for (const field of ['preVote', 'checkQuorum', 'forwardProposals', 'followerReads', 'appendInParallel'] as const)
    if (typeof resolved[field] !== 'boolean') throw new ConfigError('must be true or false', field)
  if (resolved.readMode !== 'read-index' && resolved.readMode !== 'lease') throw new ConfigError("must be 'read-index' or 'lease'", 'readMode')
  if (typeof resolved.maxClockDrift !== 'number' || !(resolved.maxClockDrift >= 0 && resolved.maxClockDrift < 1))
    throw new ConfigError('must be a number in [0, 1)', 'maxClockDrift')
  if (resolved.readMode === 'lease' && !resolved.checkQuorum)
    throw new ConfigError('lease reads are only safe with checkQuorum enabled', 'readMode')
  return resolved
}
