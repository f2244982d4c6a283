// A member forwarding a client's request to the leader's HTTP API. With
// authentication on, the member names the client it acts for
// (Synod-Forwarded-For) and vouches for it with a member MAC under the key
// it shares with the leader (auth/member-mac.ts); the leader accepts that
// only from a current member and applies the client's role, not the
// member's. A client's own signed request travels with its signature (the
// envelope is what gets proposed).
import { NetworkError, SynodHttpError, type Transport } from '@synod/client'
import { NodeSynodClient, nodeTransport } from '@synod/client/node'
import type { Principal } from './auth/guard.js'
import { SIGNED_HEADERS } from './auth/guard.js'
import type { MemberMacKeys } from './auth/member-mac.js'
import { describeRequest } from './auth/operations.js'
import { HttpError } from './http-error.js'

export interface ForwardingAuth {
  /** This node's pairwise member MAC keys. */
  readonly macs: MemberMacKeys
  readonly cluster: string
  /** The cluster CA (PEM) when the API runs TLS. */
  readonly ca?: string
}

type LeaderAuth = ForwardingAuth & { /** The leader's ed25519 public key (hex): whose MAC key to use. */ readonly leaderKey: string }

/**
 * A client of the leader that marks requests as forwarded and carries the
 * original session: one hop, one attempt (the client retries, here or
 * elsewhere). The headers are rewritten in its transport, which sees each
 * request exactly as it goes out.
 */
export class ForwardingClient extends NodeSynodClient {
  /** The method of the last request sent (a failed write's outcome is unknown; a read's is not). */
  private readonly sent: { method: string }
  private readonly leader: string

  constructor(
    endpoint: string,
    timeoutMs: number,
    session: { client: string; seq: number } | undefined,
    leader: string,
    auth?: LeaderAuth,
    /** The authenticated client this request is for. */
    caller?: Principal,
  ) {
    const tls = auth?.ca === undefined ? undefined : { ca: auth.ca }
    const inner = nodeTransport(tls === undefined ? {} : { tls })
    const sent = { method: 'GET' }
    const forwarding: Transport = {
      send: (request) => {
        sent.method = request.method
        return inner.send({ ...request, headers: forwardedHeaders(request.method, request.url, request.body, request.headers, session, auth, caller) })
      },
      stream: (request) => inner.stream(request),
      close: () => inner.close?.(),
    }
    super(endpoint, { timeoutMs, sessions: false, retry: { attempts: 1 }, transport: forwarding, ...(tls === undefined ? {} : { tls }) })
    this.sent = sent
    this.leader = leader
  }

  /** `call` with this client, a leader that does not answer turned into 503 LEADER_UNREACHABLE. */
  async run<T>(call: (client: this) => Promise<T>): Promise<T> {
    try {
      return await call(this)
    } catch (error) {
      throw this.unreachable(error)
    }
  }

  /**
   * A leader that does not answer (killed, cut off, too slow) is a 503 with the leader hint — the client
   * retries here or elsewhere — never a 500; a write that may have reached it says its outcome is unknown.
   */
  unreachable(error: unknown): unknown {
    if (error instanceof SynodHttpError) return error
    const neverSent = error instanceof NetworkError && error.refused
    return new HttpError(
      503,
      'LEADER_UNREACHABLE',
      `the leader ${this.leader} did not answer a forwarded request (${(error as Error).message}); retry shortly, here or at another node`,
      { leaderHint: this.leader, ...(this.sent.method === 'GET' || neverSent ? {} : { outcome: 'unknown' }) },
    )
  }
}

function forwardedHeaders(
  method: string,
  url: string,
  body: string | undefined,
  headers: Readonly<Record<string, string>>,
  session: { client: string; seq: number } | undefined,
  auth: LeaderAuth | undefined,
  caller: Principal | undefined,
): Record<string, string> {
  const forwarded: Record<string, string> = { 'synod-forwarded': '1' }
  if (caller?.signedHeaders !== undefined) Object.assign(forwarded, caller.signedHeaders)
  if (caller !== undefined && auth !== undefined) {
    forwarded[SIGNED_HEADERS.forwardedFor] = caller.client
    // The operation this node checked the client's credentials against (the same route and body go on);
    // the leader recomputes it from what it receives, so a difference would be refused, never trusted.
    let operation = caller.operation
    if (operation === undefined) {
      const parsed = new URL(url)
      operation = describeRequest(method, parsed.pathname, (body === undefined ? {} : JSON.parse(body)) as Record<string, unknown>, parsed.searchParams)?.operation
    }
    if (operation !== undefined) Object.assign(forwarded, auth.macs.headers(auth.leaderKey, operation, auth.cluster))
  }
  if (session !== undefined) {
    forwarded['synod-client-id'] = session.client
    forwarded['synod-client-seq'] = String(session.seq)
  } else {
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith('synod-client')) forwarded[k] = v
  }
  return forwarded
}
