import { encodeSignedClientRequest, MAX_CLIENT_SESSION, signClientRequest, ConfigError, type SignedClientRequest } from '@synod/core'
import { defaultClock } from './clock.js'
import type { ClientIdentity } from './identity.js'
import { signedRequestHeaders } from './http-envelope.js'

export interface RequestSignerOptions {
  /** The cluster name requests are bound to (the daemon's `cluster` config). Default ''. */
  readonly cluster?: string
  /** Milliseconds since the epoch; injectable for tests. Default the epoch clock (clock.ts). */
  readonly now?: () => number
}

export interface SignedRequest {
  readonly request: SignedClientRequest
  /** The canonical envelope bytes: what a byzantine protocol orders and what its reply certificate binds. */
  readonly envelope: Uint8Array
  /** The same request as HTTP headers for the daemon's API. */
  readonly headers: Record<string, string>
}

/**
 * Signs a client's requests with timestamps that grow strictly per session:
 * max(now, last + 1) milliseconds, so a restarted client (whose clock moved
 * on) continues above its earlier timestamps, and replicas can execute each
 * (client, session, timestamp) at most once and in order. One request in
 * flight per session; use several sessions for concurrency.
 */
export class RequestSigner {
  private readonly cluster: string
  private readonly now: () => number
  private readonly last = new Map<number, number>()

  constructor(
    readonly identity: ClientIdentity,
    options: RequestSignerOptions = {},
  ) {
    this.cluster = options.cluster ?? ''
    this.now = options.now ?? (() => defaultClock.now())
  }

  sign(operation: Uint8Array, session = 0): SignedRequest {
    if (!Number.isSafeInteger(session) || session < 0 || session > MAX_CLIENT_SESSION)
      throw new ConfigError(`must be an integer in [0, ${MAX_CLIENT_SESSION}]`, 'session')
    const timestamp = Math.max(Math.floor(this.now()), (this.last.get(session) ?? 0) + 1)
    this.last.set(session, timestamp)
    const request = signClientRequest(this.identity.signer, { session, timestamp, operation }, this.cluster)
    return { request, envelope: encodeSignedClientRequest(request), headers: signedRequestHeaders(request) }
  }
}
