import { ConfigError } from '@synod/core'

/** How a proxy replica authenticates the request bundles it sends (see docs/adr/0003). */
export type RequestAuthentication = 'signature' | 'mac'

export interface PbftOptions {
  /**
   * 'signature' (default): the proxy signs each bundle with ed25519, every replica can check it.
   * 'mac': the bundle carries an authenticator, one HMAC-SHA256 tag per replica under the key the
   * proxy shares with it (needs `Signer.sharedKey`); each replica checks only its own tag.
   */
  readonly requestAuthentication: RequestAuthentication
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
}

export const defaultPbftOptions: PbftOptions = {
  requestAuthentication: 'signature',
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
}

export function resolveOptions(partial: Partial<PbftOptions> | undefined): PbftOptions {
  const k = partial?.checkpointInterval ?? defaultPbftOptions.checkpointInterval
  const options: PbftOptions = { ...defaultPbftOptions, logWindow: 2 * k, ...partial }
  for (const [field, value] of Object.entries(options)) {
    if (field === 'requestAuthentication') {
      if (value !== 'signature' && value !== 'mac') throw new ConfigError("must be 'signature' or 'mac'", field)
    } else if (!Number.isSafeInteger(value) || (value as number) <= 0) throw new ConfigError('must be a positive integer', field)
  }
  if (options.logWindow % options.checkpointInterval !== 0 || options.logWindow < 2 * options.checkpointInterval)
    throw new ConfigError('must be a multiple of checkpointInterval and at least twice it', 'logWindow')
  if (options.maxInFlight > options.logWindow) throw new ConfigError('must not exceed logWindow', 'maxInFlight')
  return options
}
