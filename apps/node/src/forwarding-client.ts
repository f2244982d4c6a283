// A member forwarding a client's request to the leader's HTTP API. With
// authentication on, the member names the client it acts for
// (Synod-Forwarded-For) and vouches for it with a member MAC under the key
// it shares with the leader (auth/member-mac.ts); the leader accepts that
// only from a current member and applies the client's role, not the
// member's. A client's own signed request travels with its signature (the
// envelope is what gets proposed).
import type { Principal } from './auth/guard.js'
import { SIGNED_HEADERS } from './auth/guard.js'
import type { MemberMacKeys } from './auth/member-mac.js'
import { describeRequest } from './auth/operations.js'
import { HttpError } from './http-error.js'
import { HttpKvClient, KvHttpError } from './kv-client.js'

export interface ForwardingAuth {
  /** This node's pairwise member MAC keys. */
  readonly macs: MemberMacKeys
  readonly cluster: string
  /** The cluster CA (PEM) when the API runs TLS. */
  readonly ca?: string
}

/**
 * An HttpKvClient that marks requests as forwarded and carries the original
 * session. A leader that does not answer (killed, cut off, too slow) is a
 * 503 with the leader hint — the client retries here or elsewhere — never a
 * 500; a write that may have reached it says its outcome is unknown.
 */
export class ForwardingClient extends HttpKvClient {
  constructor(
    endpoint: string,
    timeoutMs: number,
    private readonly session: { client: string; seq: number } | undefined,
    private readonly leader: string,
    private readonly auth?: ForwardingAuth & { /** The leader's ed25519 public key (hex): whose MAC key to use. */ readonly leaderKey: string },
    /** The authenticated client this request is for. */
    private readonly caller?: Principal,
  ) {
    super(endpoint, timeoutMs, undefined, { sessions: false, ...(auth?.ca === undefined ? {} : { tls: { ca: auth.ca } }) })
  }

  override async request(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Record<string, unknown>> {
    const forwardedHeaders: Record<string, string> = { 'synod-forwarded': '1' }
    if (this.caller?.signedHeaders !== undefined) Object.assign(forwardedHeaders, this.caller.signedHeaders)
    if (this.caller !== undefined && this.auth !== undefined) {
      forwardedHeaders[SIGNED_HEADERS.forwardedFor] = this.caller.client
      // The operation this node checked the client's credentials against (the same route and body go on);
      // the leader recomputes it from what it receives, so a difference would be refused, never trusted.
      let operation = this.caller.operation
      if (operation === undefined) {
        const url = new URL(path, 'http://forward')
        operation = describeRequest(method, url.pathname, (body ?? {}) as Record<string, unknown>, url.searchParams)?.operation
      }
      if (operation !== undefined) Object.assign(forwardedHeaders, this.auth.macs.headers(this.auth.leaderKey, operation, this.auth.cluster))
    }
    if (this.session !== undefined) {
      forwardedHeaders['synod-client-id'] = this.session.client
      forwardedHeaders['synod-client-seq'] = String(this.session.seq)
    } else {
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith('synod-client')) forwardedHeaders[k] = v
    }
    try {
      return await super.request(method, path, body, forwardedHeaders)
    } catch (error) {
      if (error instanceof KvHttpError) throw error
      const neverSent = (error as NodeJS.ErrnoException).code === 'ECONNREFUSED'
      throw new HttpError(
        503,
        'LEADER_UNREACHABLE',
        `the leader ${this.leader} did not answer a forwarded request (${(error as Error).message}); retry shortly, here or at another node`,
        { leaderHint: this.leader, ...(method === 'GET' || neverSent ? {} : { outcome: 'unknown' }) },
      )
    }
  }
}
