import { ConfigError } from '@synod/core'

/**
 * Who vouches for a client command (docs/adr/0006): 'proxy' — the replica a
 * client called is trusted to have received it; 'signed' — each command is
 * the client's own SignedClientRequest and every replica verifies it before
 * voting for a block that carries it.
 */
export type ClientAuthentication = 'proxy' | 'signed'

export interface HotstuffOptions {
  /** 'proxy' (default) or 'signed' (see ClientAuthentication). */
  readonly clientAuthentication: ClientAuthentication
  /** The cluster name client signatures are bound to ('signed' mode). Default ''. */
  readonly cluster: string
  /** Largest command (or client operation inside a signed envelope), in bytes. Default 1 MiB. */
  readonly maxCommandBytes: number
  /** Commands per block: what one view orders at most. Default 4096. */
  readonly maxBlockCommands: number
  /** Commands a replica holds waiting to be ordered; beyond it proposals are refused (OverloadedError). Default 65536. */
  readonly maxPendingCommands: number
  /** Base view timeout: a view with outstanding work and no progress ends after it; doubles per failed view. Default 500 ms. */
  readonly viewTimeoutMs: number
  /** Upper bound of the doubled view timeout. Default 30000 ms. */
  readonly maxViewTimeoutMs: number
  /** A proxy re-broadcasts a command not committed after this long; a block fetch is retried with another peer too. Default 500 ms. */
  readonly retransmitMs: number
  /** Committed blocks kept in memory to serve peers that fetch them; older ones are pruned. Default 256. */
  readonly retainCommittedBlocks: number
  /** A snapshot every this many committed blocks (heights that are multiples of it). Default 64. */
  readonly snapshotInterval: number
  /** Timeouts, votes and proposals further than this many views ahead of ours are dropped. Default 10000. */
  readonly maxViewLead: number
}

export const defaultHotstuffOptions: HotstuffOptions = {
  clientAuthentication: 'proxy',
  cluster: '',
  maxCommandBytes: 1024 * 1024,
  maxBlockCommands: 4096,
  maxPendingCommands: 65_536,
  viewTimeoutMs: 500,
  maxViewTimeoutMs: 30_000,
  retransmitMs: 500,
  retainCommittedBlocks: 256,
  snapshotInterval: 64,
  maxViewLead: 10_000,
}

/**
 * Hard-state slots for blocks (committed ones by height, others by view):
 * a snapshot every `snapshotInterval` committed blocks keeps the committed
 * ones after it within the ring.
 */
export const BLOCK_SLOTS = 1024

export function resolveOptions(partial: Partial<HotstuffOptions> | undefined): HotstuffOptions {
  const options: HotstuffOptions = { ...defaultHotstuffOptions, ...partial }
  for (const [field, value] of Object.entries(options)) {
    if (field === 'clientAuthentication') {
      if (value !== 'proxy' && value !== 'signed') throw new ConfigError("must be 'proxy' or 'signed'", field)
    } else if (field === 'cluster') {
      if (typeof value !== 'string' || value.length > 256) throw new ConfigError('must be a string of at most 256 characters', field)
    } else if (!Number.isSafeInteger(value) || (value as number) <= 0) throw new ConfigError('must be a positive integer', field)
  }
  if (options.snapshotInterval > BLOCK_SLOTS / 2) throw new ConfigError(`must be at most ${BLOCK_SLOTS / 2}`, 'snapshotInterval')
  if (options.maxViewTimeoutMs < options.viewTimeoutMs) throw new ConfigError('must be at least viewTimeoutMs', 'maxViewTimeoutMs')
  return options
}
