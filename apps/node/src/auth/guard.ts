// Who is asking, and may they: the authentication and role check of every
// API request that reads or changes data or membership. A client proves its
// identity by a TLS client certificate from the cluster CA (the certificate
// certifies the client's ed25519 key), by signing the request
// (Synod-Client-Key, Synod-Session, Synod-Timestamp, Synod-Signature over
// `clientRequestStatement` of @synod/core), or by an HMAC of that same
// statement under the key of an HTTP session it opened with a signed request
// (Synod-Auth-Session, Synod-Mac; auth/http-sessions.ts). All give the same
// client id: the hex of the ed25519 public key. Its role comes from the
// replicated roles table, so every node decides alike. A member forwarding a
// client's request vouches for it with a member MAC (auth/member-mac.ts).
import type { IncomingMessage } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { TLSSocket } from 'node:tls'
import { clientIdOf, clientRequestStatement, encodeSignedClientRequest, fromHex, MAX_CLIENT_SESSION, type Verifier } from '@synod/core'
import { type Access, type RolesTable, SIGNED_SESSION_KEY } from '@synod/kv'
import { HttpError } from '../http-error.js'
import type { HttpSessionTable, OpenedSession } from './http-sessions.js'
import { MEMBER_HEADERS, type MemberMacKeys } from './member-mac.js'
import { describeRequest, LIST_PATH, WATCH_PATH, loggedWrite, SESSION_OPEN_PATH, type RequestDescription } from './operations.js'
import { ReplayCache } from './replay.js'

export interface Session {
  readonly client: string
  readonly seq: number
}

export interface Principal {
  /** The client id whose role applies. */
  readonly client: string
  /** The exactly-once session of a write (namespaced by the client id, so no client can use another's). */
  readonly session: Session | undefined
  readonly by: 'signature' | 'certificate' | 'session'
  /** The member that forwarded this request on the client's behalf. */
  readonly via?: string
  /** A signed request's own headers: forwarded as they are, so the leader checks the client itself. */
  readonly signedHeaders?: Readonly<Record<string, string>>
  /** A signed write's envelope (encodeSignedClientRequest): what is proposed, so the log records who asked. */
  readonly envelope?: Uint8Array
  /**
   * The request's operation bytes as this node computed them for the check: a forward to the leader MACs
   * the same bytes instead of computing them again (the leader recomputes them from what it receives).
   */
  readonly operation?: Uint8Array
}

export interface GuardOptions {
  /** Cluster name bound into every signature ('' when none). */
  readonly cluster: string
  /** How far a signed request's timestamp may be from this node's clock. */
  readonly clockSkewMs: number
  /** The local replica's roles table (replaced on snapshot restore, hence a getter). */
  readonly roles: () => RolesTable
  /** Current members by public key (hex) → member id: they may forward requests for clients. */
  readonly memberKeys: () => ReadonlyMap<string, string>
  readonly verifier: Verifier
  readonly now?: () => number
  /** This node's pairwise member MAC keys: it checks the MAC of a member that forwards a request. */
  readonly memberMacs: MemberMacKeys
  /** HTTP sessions opened with this node. */
  readonly sessions: HttpSessionTable
  /**
   * Byzantine protocol: a forwarded signed request is verified again here (replicas verify the envelope
   * anyway). Under Raft the forwarding member's MAC vouches for the signature it checked at its edge.
   */
  readonly reverifyForwardedSignatures?: boolean
  /** Tests only: defences to switch off, to show the attack each one stops succeeds without it. */
  readonly disabledDefences?: ReadonlySet<Defence>
}

/** The defences a test may switch off (never set outside tests). */
export type Defence = 'session-mac' | 'session-client' | 'session-expiry' | 'replay' | 'freshness' | 'member-mac' | 'open-signature'

/** Headers of the signed-request envelope. */
export const SIGNED_HEADERS = {
  key: 'synod-client-key',
  session: 'synod-session',
  timestamp: 'synod-timestamp',
  signature: 'synod-signature',
  /** Set by a member forwarding a request: the client it acts for. */
  forwardedFor: 'synod-forwarded-for',
  /** An HTTP session's id (auth/http-sessions.ts) and the request's HMAC under its key. */
  authSession: 'synod-auth-session',
  mac: 'synod-mac',
} as const

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The legacy exactly-once headers (Synod-Client-Id, Synod-Client-Seq); used by TLS clients and without authentication. */
export function readSession(req: IncomingMessage, maxLength = 128, signedShapeOf?: string): Session | undefined {
  const client = req.headers['synod-client-id']
  const seq = req.headers['synod-client-seq']
  if (client === undefined && seq === undefined) return undefined
  if (typeof client !== 'string' || client.length > maxLength || !/^[A-Za-z0-9._:-]+$/.test(client))
    throw new HttpError(400, 'BAD_SESSION', `Synod-Client-Id must be 1–${maxLength} characters of [A-Za-z0-9._:-]`)
  // The signed-client session shape (`<client id>:<n>`) is reserved: only a member forwarding for that very client may name it.
  if (SIGNED_SESSION_KEY.test(client) && (signedShapeOf === undefined || !client.startsWith(`${signedShapeOf}:`)))
    throw new HttpError(400, 'BAD_SESSION', "Synod-Client-Id has the shape of a signed client's session ('<client id>:<n>'); sign the request instead")
  if (typeof seq !== 'string' || !/^\d{1,15}$/.test(seq) || Number(seq) < 1)
    throw new HttpError(400, 'BAD_SESSION', 'Synod-Client-Seq must be a positive integer, growing by one per request of this client')
  return { client, seq: Number(seq) }
}

export class ApiGuard {
  private readonly replays: ReplayCache
  private readonly now: () => number
  /** Client ids of TLS connections whose certificate was already read (dropped with the connection). */
  private readonly certificateClients = new WeakMap<TLSSocket, string>()

  constructor(private readonly options: GuardOptions) {
    this.replays = new ReplayCache(options.clockSkewMs)
    this.now = options.now ?? Date.now
  }

  /**
   * Authenticate and authorize one request (body already validated). Throws
   * 401 (no or bad credentials), 403 (the role does not allow it).
   */
  authorize(req: IncomingMessage, method: string, pathname: string, body?: Record<string, unknown>): Principal {
    const query = pathname === LIST_PATH || pathname === WATCH_PATH ? new URL(req.url ?? '/', 'http://request').searchParams : undefined
    const description = describeRequest(method, pathname, body, query)
    if (description === undefined) throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${pathname}`)
    const logged = loggedWrite(method, description, pathname)
    let principal: Principal
    if (header(req, MEMBER_HEADERS.key) !== undefined) principal = this.forwarded(req, description, logged)
    else if (header(req, SIGNED_HEADERS.forwardedFor) !== undefined)
      throw new HttpError(403, 'FORBIDDEN', 'only a member of the cluster (with its member MAC) may forward requests for a client')
    else principal = this.authenticate(req, description, logged)
    // One access for most routes (no array built per request); a transaction needs one per key it reads or writes.
    if (description.accesses === undefined) this.requireRole(principal.client, description.access, description.key)
    else for (const [access, key] of description.accesses) this.requireRole(principal.client, access, key)
    return principal
  }

  private requireRole(client: string, access: Access, key: string | undefined): void {
    if (this.options.roles().authorize(client, access, key)) return
    const grant = this.options.roles().get(client)
    const has = grant === undefined ? 'no role' : `role ${grant.role}${grant.prefix === '' ? '' : ` on prefix '${grant.prefix}'`}`
    throw new HttpError(403, 'FORBIDDEN', `client ${client} has ${has}; this request needs ${access} access${key === undefined ? '' : ` to '${key}'`}`)
  }

  /**
   * POST /v1/auth/session: the client signed (like any request) an operation that binds its ephemeral
   * x25519 key, and has a role; open a session on this node. The body is validated by the caller.
   */
  openSession(req: IncomingMessage, body: { x25519: string }): OpenedSession {
    const unsigned = header(req, SIGNED_HEADERS.key) === undefined || header(req, SIGNED_HEADERS.signature) === undefined
    if (unsigned || header(req, MEMBER_HEADERS.key) !== undefined || header(req, SIGNED_HEADERS.forwardedFor) !== undefined || header(req, SIGNED_HEADERS.authSession) !== undefined)
      throw new HttpError(401, 'SIGNATURE_REQUIRED', 'open a session with a signed request (Synod-Client-Key, Synod-Timestamp, Synod-Signature); a session cannot open another, nor be forwarded')
    const principal = this.authorize(req, 'POST', SESSION_OPEN_PATH, body)
    try {
      return this.options.sessions.open(fromHex(principal.client), fromHex(body.x25519), this.now())
    } catch (error) {
      throw new HttpError(400, 'BAD_FIELD', `'x25519' ${(error as Error).message}`)
    }
  }

  private off(defence: Defence): boolean {
    return this.options.disabledDefences?.has(defence) === true
  }

  private checkFreshness(timestamp: number, now: number, what: string): void {
    if (Math.abs(timestamp - now) > this.options.clockSkewMs && !this.off('freshness'))
      throw new HttpError(401, 'STALE_TIMESTAMP', `${what} is ${timestamp - now} ms from this node's clock (allowed: ±${this.options.clockSkewMs})`)
  }

  private admitOnce(client: string, session: number, timestamp: number, now: number, what: string): void {
    if (this.off('replay')) return
    const admitted = this.replays.admit(client, session, timestamp, now)
    if (admitted === 'replay') throw new HttpError(401, 'REPLAYED', `this ${what} was used before; use a new timestamp for each request`)
    if (admitted === 'full') throw new HttpError(429, 'OVERLOADED', 'too many authenticated requests in the freshness window; retry later')
  }

  /**
   * A request a member forwards for a client: the member's MAC under the key this node shares with it.
   * Members are trusted in a crash-fault cluster (docs/security.md): the client's id, session and — under
   * Raft — its signature, which the member checked at its edge, are taken from the member's word.
   */
  private forwarded(req: IncomingMessage, description: RequestDescription, logged: boolean): Principal {
    const memberKey = header(req, MEMBER_HEADERS.key)!
    const member = this.options.memberKeys().get(memberKey)
    if (member === undefined && !this.off('member-mac'))
      throw new HttpError(403, 'FORBIDDEN', 'only a member of the cluster may forward requests for a client')
    const sessionText = header(req, MEMBER_HEADERS.session) ?? ''
    const timestampText = header(req, MEMBER_HEADERS.timestamp) ?? ''
    const macHex = header(req, MEMBER_HEADERS.mac) ?? ''
    if (!/^[0-9a-f]{64}$/.test(memberKey) || !/^\d{1,5}$/.test(sessionText) || Number(sessionText) > MAX_CLIENT_SESSION || !/^\d{1,15}$/.test(timestampText) || !/^[0-9a-f]{64}$/.test(macHex))
      throw new HttpError(401, 'BAD_MEMBER_MAC', 'Synod-Member-Key/-Session/-Timestamp/-Mac are malformed')
    const session = Number(sessionText)
    const timestamp = Number(timestampText)
    const now = this.now()
    this.checkFreshness(timestamp, now, 'Synod-Member-Timestamp')
    if (!this.off('member-mac')) {
      const statement = clientRequestStatement({ client: fromHex(memberKey), session, timestamp, operation: description.operation }, this.options.cluster, true)
      const expected = this.options.memberMacs.macFor(memberKey)(statement)
      if (!timingSafeEqual(expected, fromHex(macHex))) throw new HttpError(401, 'BAD_MEMBER_MAC', 'the member MAC does not match the forwarded request')
    }
    if (!logged) this.admitOnce(memberKey, session, timestamp, now, 'forwarded request')
    const forwardedFor = header(req, SIGNED_HEADERS.forwardedFor)
    if (forwardedFor === undefined || !/^[0-9a-f]{64}$/.test(forwardedFor))
      throw new HttpError(400, 'BAD_FORWARDED_FOR', 'a forwarded request names its client in Synod-Forwarded-For (64 lowercase hex characters)')
    const via = member ?? memberKey
    if (header(req, SIGNED_HEADERS.signature) !== undefined) {
      // The client's own signed request, forwarded as it was: its envelope is what gets proposed.
      const keyHex = header(req, SIGNED_HEADERS.key)
      if (keyHex !== forwardedFor) throw new HttpError(400, 'BAD_FORWARDED_FOR', 'Synod-Forwarded-For must name the client whose signed request is forwarded')
      const signed = this.verifySignature(req, keyHex, description, logged, !this.options.reverifyForwardedSignatures)
      return { ...signed, via }
    }
    // The session was namespaced at the edge by the client id; a signed-client shape must be this client's own.
    return { client: forwardedFor, session: readSession(req, 256, forwardedFor), by: 'session', via }
  }

  private authenticate(req: IncomingMessage, description: RequestDescription, logged: boolean): Principal {
    const sessionId = header(req, SIGNED_HEADERS.authSession)
    if (sessionId !== undefined) return this.verifySessionMac(req, sessionId, description, logged)
    const key = header(req, SIGNED_HEADERS.key)
    if (key !== undefined) return this.verifySignature(req, key, description, logged)
    const socket = req.socket as Partial<TLSSocket>
    if (socket.authorized === true && typeof socket.getPeerX509Certificate === 'function') {
      const client = this.certificateClient(socket as TLSSocket)
      const legacy = readSession(req)
      return { client, session: legacy === undefined ? undefined : { client: `${client}:${legacy.client}`, seq: legacy.seq }, by: 'certificate' }
    }
    throw new HttpError(401, 'UNAUTHENTICATED', 'this request needs credentials: sign it (synod client init) or use a client certificate (synod cert client)')
  }

  /**
   * The client id a verified TLS client certificate certifies, parsed once per connection: the API serves
   * TLS 1.3 only (no renegotiation), so a connection's peer certificate never changes.
   */
  private certificateClient(socket: TLSSocket): string {
    const cached = this.certificateClients.get(socket)
    if (cached !== undefined) return cached
    const jwk = socket.getPeerX509Certificate()?.publicKey.export({ format: 'jwk' })
    if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
      throw new HttpError(401, 'UNAUTHENTICATED', 'the client certificate must certify an ed25519 key (synod cert client)')
    const client = clientIdOf(new Uint8Array(Buffer.from(jwk.x, 'base64url')))
    this.certificateClients.set(socket, client)
    return client
  }

  /** A request MAC'd under an HTTP session's key: the same statement a signature covers, the same principal, no envelope. */
  private verifySessionMac(req: IncomingMessage, id: string, description: RequestDescription, logged: boolean): Principal {
    const keyHex = header(req, SIGNED_HEADERS.key)
    const sessionText = header(req, SIGNED_HEADERS.session) ?? '0'
    const timestampText = header(req, SIGNED_HEADERS.timestamp)
    const macHex = header(req, SIGNED_HEADERS.mac)
    if (!/^[0-9a-f]{32}$/.test(id)) throw new HttpError(401, 'SESSION_UNKNOWN', 'Synod-Auth-Session must be 32 lowercase hex characters; open a session (POST /v1/auth/session)')
    // The session names its client; a client may still say who it is (Synod-Client-Key), and then it must match.
    if (keyHex !== undefined && !/^[0-9a-f]{64}$/.test(keyHex)) throw new HttpError(401, 'BAD_MAC', 'Synod-Client-Key must be 64 lowercase hex characters')
    if (!/^\d{1,5}$/.test(sessionText) || Number(sessionText) > MAX_CLIENT_SESSION)
      throw new HttpError(401, 'BAD_MAC', `Synod-Session must be an integer in [0, ${MAX_CLIENT_SESSION}]`)
    if (timestampText === undefined || !/^\d{1,15}$/.test(timestampText) || Number(timestampText) < 1)
      throw new HttpError(401, 'BAD_MAC', 'Synod-Timestamp must be a positive integer (milliseconds)')
    if (macHex === undefined || !/^[0-9a-f]{64}$/.test(macHex)) throw new HttpError(401, 'BAD_MAC', 'Synod-Mac must be 64 lowercase hex characters')
    const now = this.now()
    const entry = this.options.sessions.get(id, now, this.off('session-expiry'))
    if (entry === undefined)
      throw new HttpError(401, 'SESSION_UNKNOWN', 'no such session on this node (expired, dropped, or the node restarted); open a new one (POST /v1/auth/session)')
    const client = keyHex ?? entry.client
    if (entry.client !== client && !this.off('session-client'))
      throw new HttpError(401, 'SESSION_MISMATCH', 'this session was opened by another client')
    const session = Number(sessionText)
    const timestamp = Number(timestampText)
    this.checkFreshness(timestamp, now, 'Synod-Timestamp')
    if (!this.off('session-mac')) {
      const statement = clientRequestStatement({ client: entry.clientKey, session, timestamp, operation: description.operation }, this.options.cluster, true)
      if (!timingSafeEqual(entry.mac(statement), fromHex(macHex)))
        throw new HttpError(401, 'BAD_MAC', 'the MAC does not match the request (check the cluster name and the session key)')
    }
    if (!logged) this.admitOnce(client, session, timestamp, now, 'authenticated request')
    // Exactly the principal of a signed request, but no envelope: there is no signature to put in the log.
    return { client, session: { client: `${client}:${session}`, seq: timestamp }, by: 'session', operation: description.operation }
  }

  private verifySignature(req: IncomingMessage, keyHex: string, description: RequestDescription, logged: boolean, vouched = false): Principal {
    const sessionText = header(req, SIGNED_HEADERS.session) ?? '0'
    const timestampText = header(req, SIGNED_HEADERS.timestamp)
    const signatureHex = header(req, SIGNED_HEADERS.signature)
    if (!/^[0-9a-f]{64}$/.test(keyHex)) throw new HttpError(401, 'BAD_SIGNATURE', 'Synod-Client-Key must be 64 lowercase hex characters')
    if (!/^\d{1,5}$/.test(sessionText) || Number(sessionText) > MAX_CLIENT_SESSION)
      throw new HttpError(401, 'BAD_SIGNATURE', `Synod-Session must be an integer in [0, ${MAX_CLIENT_SESSION}]`)
    if (timestampText === undefined || !/^\d{1,15}$/.test(timestampText) || Number(timestampText) < 1)
      throw new HttpError(401, 'BAD_SIGNATURE', 'Synod-Timestamp must be a positive integer (milliseconds)')
    if (signatureHex === undefined || !/^[0-9a-f]{128}$/.test(signatureHex))
      throw new HttpError(401, 'BAD_SIGNATURE', 'Synod-Signature must be 128 lowercase hex characters')
    const session = Number(sessionText)
    const timestamp = Number(timestampText)
    const now = this.now()
    const client = fromHex(keyHex)
    // A member's MAC vouches for a signature it checked (Raft): its freshness and replay were checked at the edge too.
    if (!vouched) {
      this.checkFreshness(timestamp, now, 'Synod-Timestamp')
      const statement = clientRequestStatement({ client, session, timestamp, operation: description.operation }, this.options.cluster)
      if (!this.options.verifier.verify(client, statement, fromHex(signatureHex)) && !(this.off('open-signature') && description.sessionOpen === true))
        throw new HttpError(401, 'BAD_SIGNATURE', 'the signature does not match the request (check the cluster name and the client key)')
      if (!logged) this.admitOnce(keyHex, session, timestamp, now, 'signed request')
    }
    const signedHeaders = {
      [SIGNED_HEADERS.key]: keyHex,
      [SIGNED_HEADERS.session]: sessionText,
      [SIGNED_HEADERS.timestamp]: timestampText,
      [SIGNED_HEADERS.signature]: signatureHex,
    }
    // Writes are proposed as the envelope (the log records who asked); under a byzantine protocol reads are
    // too, so the reply certificate binds this very request and a stale one cannot pass for it.
    const envelope = encodeSignedClientRequest({ client, session, timestamp, operation: description.operation, signature: fromHex(signatureHex) })
    return {
      client: keyHex,
      session: { client: `${keyHex}:${session}`, seq: timestamp },
      by: 'signature',
      signedHeaders,
      envelope,
      operation: description.operation,
    }
  }
}
