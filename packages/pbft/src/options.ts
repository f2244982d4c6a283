import { ConfigError } from '@synod/core'

/** How a proxy replica authenticates the request bundles it sends (see docs/adr/0003). */
export type RequestAuthentication = 'signature' | 'mac'

/**
 * Who vouches for a client command (docs/adr/0006): 'proxy' — the proxy replica
 * authenticates the bundle and is trusted to have received the command from a
 * client; 'signed' — each command is the client's own SignedClientRequest
 * (@synod/core) and every replica verifies the client's signature.
 */
export type ClientAuthentication = 'proxy' | 'signed'

/**
 * Defences a test can switch off to show that an attack succeeds without
 * them (TEST-ONLY: never disable one in a real deployment).
 * - 'vote-digest': prepares and commits count whatever digest they carry (an equivocating primary then splits the replicas).
 * - 'view-change-certificates': the checkpoint and prepared certificates in VIEW-CHANGEs are not verified (forged ones then enter the new view).
 * - 'old-view': messages of older views are processed instead of dropped (a replica replaying them then drags others back).
 * - 'request-timers': the view-change timer restarts whenever any batch executes (a primary censoring one proxy is then never replaced).
 * - 'view-change-on-status': a replica changing view does not send its VIEW-CHANGE to a peer whose status shows it changing view
 *   without it (after a partition heals, each side then waits for the backed-off re-broadcast, up to 16 status ticks).
 * - 'timeouts-when-cut-off': a view that fails while the replica hears fewer than 2f others doubles the view-change
 *   timeout too (after partitions without a quorum, a connected quorum then waits 2^k timeouts for a missing primary).
 * - 'revote-after-restart': a replica restarted in an active view does not take up its votes for the slots it had
 *   pre-prepared and not committed (after a full restart of the cluster nobody holds the others' votes for them,
 *   so each such slot waits for the request timers and a view change, docs/adr/0032).
 * - 'lone-escalation': the view-change timer runs without 2f+1 VIEW-CHANGEs for the view (§4.5.2's rule off), so a
 *   replica cut off, or timing out alone, climbs views nobody joins and is left alone in a higher view after the heal
 *   (the live finding of docs/adr/0010; when the primary then fails, the others must climb to it).
 */
export type UnsafeDefence =
  | 'vote-digest'
  | 'view-change-certificates'
  | 'old-view'
  | 'request-timers'
  | 'view-change-on-status'
  | 'timeouts-when-cut-off'
  | 'revote-after-restart'
  | 'lone-escalation'

export const UNSAFE_DEFENCES: readonly UnsafeDefence[] = [
  'vote-digest',
  'view-change-certificates',
  'old-view',
  'request-timers',
  'view-change-on-status',
  'timeouts-when-cut-off',
  'revote-after-restart',
  'lone-escalation',
]

export interface PbftOptions {
  /**
   * 'signature' (default): the proxy signs each bundle with ed25519, every replica can check it.
   * 'mac': the bundle carries an authenticator, one HMAC-SHA256 tag per replica under the key the
   * proxy shares with it (needs `Signer.sharedKey`); each replica checks only its own tag.
   */
  readonly requestAuthentication: RequestAuthentication
  /**
   * 'proxy' (default): commands are opaque bytes vouched for by the proxy replica.
   * 'signed': each command must be a client-signed request envelope for `cluster`; replicas verify
   * the client's signature before preparing, so no replica can forge a client's request.
   */
  readonly clientAuthentication: ClientAuthentication
  /** The cluster name client signatures are bound to ('signed' mode). Default ''. */
  readonly cluster: string
  /** Largest client operation accepted inside a signed envelope, in bytes. Default 1 MiB. */
  readonly maxClientOperationBytes: number
  /**
   * Read-only requests (TOCS'02 §5.1.3): `Replica.read` is sent to every replica and answered from
   * 2f+1 matching signed replies without ordering (falling back to ordering on a mismatch or a
   * timeout). For linearizability, writes are then acknowledged only with 2f+1 matching replies
   * instead of f+1 (docs/adr/0008). Default false: reads are ordered like commands.
   */
  readonly readOnlyRequests: boolean
  /**
   * With `readOnlyRequests`: reads of a batch still short of 2f+1 matching answers after this long
   * are ordered instead; doubles (up to 8×) per batch that timed out, halves per batch that completed.
   * Default 1000 ms.
   */
  readonly readTimeoutMs: number
  /** A checkpoint every this many sequence numbers (K). Default 64. */
  readonly checkpointInterval: number
  /** Log window L between the low and high watermarks; a multiple of the checkpoint interval. Default 2K. */
  readonly logWindow: number
  /** Sequence numbers the primary keeps in flight (assigned, not yet executed). Default 4. */
  readonly maxInFlight: number
  /** Bundles (one per proxy replica) per pre-prepare. Default 64. */
  readonly maxBatchBundles: number
  /** Client requests per bundle: what a proxy signs at once. Default 1024. */
  readonly maxBundleRequests: number
  /** Client requests a proxy queues behind its bundle in flight before refusing with OverloadedError. Default 16384. */
  readonly maxQueuedRequests: number
  /** A proxy whose bundle has not executed after this long broadcasts it to every replica. Default 500 ms. */
  readonly requestRetransmitMs: number
  /** Base view-change timeout: a known request not executed by then starts a view change; doubles per failed view. Default 1000 ms. */
  readonly viewChangeTimeoutMs: number
  /** Each replica broadcasts its view and stable checkpoint this often, so laggards catch up. Default 500 ms. */
  readonly statusIntervalMs: number
  /** Replicas ask another peer for the state after this long without an answer. Default 500 ms. */
  readonly stateTransferRetryMs: number
  /** Encoded bytes of the bundles of one pre-prepare a backup accepts (larger ones are dropped and counted). Default 64 MiB. */
  readonly maxBatchBytes: number
  /** TEST-ONLY: defences to switch off, to prove an attack does harm without them (see UnsafeDefence). Default none. */
  readonly unsafeDisableDefences: readonly UnsafeDefence[]
}

export const defaultPbftOptions: PbftOptions = {
  requestAuthentication: 'signature',
  clientAuthentication: 'proxy',
  cluster: '',
  maxClientOperationBytes: 1024 * 1024,
  readOnlyRequests: false,
  readTimeoutMs: 1000,
  checkpointInterval: 64,
  logWindow: 128,
  maxInFlight: 4,
  maxBatchBundles: 64,
  maxBundleRequests: 1024,
  maxQueuedRequests: 16_384,
  requestRetransmitMs: 500,
  viewChangeTimeoutMs: 1000,
  statusIntervalMs: 500,
  stateTransferRetryMs: 500,
  maxBatchBytes: 64 * 1024 * 1024,
  unsafeDisableDefences: [],
}

export function resolveOptions(partial: Partial<PbftOptions> | undefined): PbftOptions {
  const k = partial?.checkpointInterval ?? defaultPbftOptions.checkpointInterval
  const options: PbftOptions = { ...defaultPbftOptions, logWindow: 2 * k, ...partial }
  for (const [field, value] of Object.entries(options)) {
    if (field === 'requestAuthentication') {
      if (value !== 'signature' && value !== 'mac') throw new ConfigError("must be 'signature' or 'mac'", field)
    } else if (field === 'clientAuthentication') {
      if (value !== 'proxy' && value !== 'signed') throw new ConfigError("must be 'proxy' or 'signed'", field)
    } else if (field === 'unsafeDisableDefences') {
      if (!Array.isArray(value) || value.some((d) => !UNSAFE_DEFENCES.includes(d as UnsafeDefence)))
        throw new ConfigError(`must list some of ${UNSAFE_DEFENCES.join(', ')}`, field)
    } else if (field === 'cluster') {
      if (typeof value !== 'string' || value.length > 256) throw new ConfigError('must be a string of at most 256 characters', field)
    } else if (field === 'readOnlyRequests') {
      if (typeof value !== 'boolean') throw new ConfigError('must be a boolean', field)
    } else if (!Number.isSafeInteger(value) || (value as number) <= 0) throw new ConfigError('must be a positive integer', field)
  }
  if (options.logWindow % options.checkpointInterval !== 0 || options.logWindow < 2 * options.checkpointInterval)
    throw new ConfigError('must be a multiple of checkpointInterval and at least twice it', 'logWindow')
  if (options.maxInFlight > options.logWindow) throw new ConfigError('must not exceed logWindow', 'maxInFlight')
  return options
}
