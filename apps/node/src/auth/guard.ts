// Who is asking, and may they: the authentication and role check of every
// API request that reads or changes data or membership. A client proves its
// identity by a TLS client certificate from the cluster CA (the certificate
// certifies the client's ed25519 key) or by signing the request
// (Synod-Client-Key, Synod-Session, Synod-Timestamp, Synod-Signature over
// `clientRequestStatement` of @synod/core). Both give the same client id:
// the hex of the ed25519 public key. Its role comes from the replicated
// roles table, so every node decides alike.
import type { IncomingMessage } from 'node:http'
import type { TLSSocket } from 'node:tls'
import { clientIdOf, clientRequestStatement, encodeSignedClientRequest, fromHex, MAX_CLIENT_SESSION, type Verifier } from '@synod/core'
import type { RolesTable } from '@synod/kv'
import { HttpError } from '../http-error.js'
import { describeRequest, type RequestDescription } from './operations.js'
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
  readonly by: 'signature' | 'certificate'
  /** The member that forwarded this request on the client's behalf. */
  readonly via?: string
  /** A signed request's own headers: forwarded as they are, so the leader checks the client itself. */
  readonly signedHeaders?: Readonly<Record<string, string>>
  /** A signed write's envelope (encodeSignedClientRequest): what is proposed, so the log records who asked. */
  readonly envelope?: Uint8Array
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
}

/** Headers of the signed-request envelope. */
export const SIGNED_HEADERS = {
  key: 'synod-client-key',
  session: 'synod-session',
  timestamp: 'synod-timestamp',
  signature: 'synod-signature',
  /** Set by a member forwarding a request: the client it acts for. */
  forwardedFor: 'synod-forwarded-for',
} as const

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** The legacy exactly-once headers (Synod-Client-Id, Synod-Client-Seq); used by TLS clients and without authentication. */
export function readSession(req: IncomingMessage, maxLength = 128): Session | undefined {
  const client = req.headers['synod-client-id']
  const seq = req.headers['synod-client-seq']
  if (client === undefined && seq === undefined) return undefined
  if (typeof client !== 'string' || client.length > maxLength || !/^[A-Za-z0-9._:-]+$/.test(client))
    throw new HttpError(400, 'BAD_SESSION', `Synod-Client-Id must be 1–${maxLength} characters of [A-Za-z0-9._:-]`)
  if (typeof seq !== 'string' || !/^\d{1,15}$/.test(seq) || Number(seq) < 1)
    throw new HttpError(400, 'BAD_SESSION', 'Synod-Client-Seq must be a positive integer, growing by one per request of this client')
  return { client, seq: Number(seq) }
}

/** Writes whose duplicates the KV session table absorbs; everything else goes through the replay cache. */
function loggedWrite(method: string, description: RequestDescription, pathname: string): boolean {
  return description.access === 'write' || (pathname.startsWith('/v1/roles') && method !== 'GET')
}

export class ApiGuard {
  private readonly replays: ReplayCache
  private readonly now: () => number

  constructor(private readonly options: GuardOptions) {
    this.replays = new ReplayCache(options.clockSkewMs)
    this.now = options.now ?? Date.now
  }

  /**
   * Authenticate and authorize one request (body already validated). Throws
   * 401 (no or bad credentials), 403 (the role does not allow it).
   */
  authorize(req: IncomingMessage, method: string, pathname: string, body?: Record<string, unknown>): Principal {
    const description = describeRequest(method, pathname, body)
    if (description === undefined) throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${pathname}`)
    const logged = loggedWrite(method, description, pathname)
    const signer = this.authenticate(req, description, logged)
    const forwardedFor = header(req, SIGNED_HEADERS.forwardedFor)
    let principal: Principal
    if (forwardedFor !== undefined) {
      // Only a member may act for a client: it checked the client's credentials at its edge.
      const member = this.options.memberKeys().get(signer.client)
      if (member === undefined) throw new HttpError(403, 'FORBIDDEN', 'only a member of the cluster may forward requests for a client')
      if (!/^[0-9a-f]{64}$/.test(forwardedFor)) throw new HttpError(400, 'BAD_FORWARDED_FOR', 'Synod-Forwarded-For must be a client id')
      // The session was namespaced by the member that took the request (client id + ':' + the client's session).
      principal = { client: forwardedFor, session: readSession(req, 256), by: signer.by, via: member }
    } else principal = signer
    if (!this.options.roles().authorize(principal.client, description.access, description.key)) {
      const grant = this.options.roles().get(principal.client)
      const has = grant === undefined ? 'no role' : `role ${grant.role}${grant.prefix === '' ? '' : ` on prefix '${grant.prefix}'`}`
      throw new HttpError(403, 'FORBIDDEN', `client ${principal.client} has ${has}; this request needs ${description.access} access${description.key === undefined ? '' : ` to '${description.key}'`}`)
    }
    return principal
  }

  private authenticate(req: IncomingMessage, description: RequestDescription, logged: boolean): Principal {
    const key = header(req, SIGNED_HEADERS.key)
    if (key !== undefined) return this.verifySignature(req, key, description, logged)
    const socket = req.socket as Partial<TLSSocket>
    if (socket.authorized === true && typeof socket.getPeerX509Certificate === 'function') {
      const certificate = socket.getPeerX509Certificate()
      const jwk = certificate?.publicKey.export({ format: 'jwk' })
      if (jwk?.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
        throw new HttpError(401, 'UNAUTHENTICATED', 'the client certificate must certify an ed25519 key (synod cert client)')
      const client = clientIdOf(new Uint8Array(Buffer.from(jwk.x, 'base64url')))
      const legacy = readSession(req)
      return { client, session: legacy === undefined ? undefined : { client: `${client}:${legacy.client}`, seq: legacy.seq }, by: 'certificate' }
    }
    throw new HttpError(401, 'UNAUTHENTICATED', 'this request needs credentials: sign it (synod client init) or use a client certificate (synod cert client)')
  }

  private verifySignature(req: IncomingMessage, keyHex: string, description: RequestDescription, logged: boolean): Principal {
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
    if (Math.abs(timestamp - now) > this.options.clockSkewMs)
      throw new HttpError(401, 'STALE_TIMESTAMP', `Synod-Timestamp is ${timestamp - now} ms from this node's clock (allowed: ±${this.options.clockSkewMs})`)
    const client = fromHex(keyHex)
    const statement = clientRequestStatement({ client, session, timestamp, operation: description.operation }, this.options.cluster)
    if (!this.options.verifier.verify(client, statement, fromHex(signatureHex)))
      throw new HttpError(401, 'BAD_SIGNATURE', 'the signature does not match the request (check the cluster name and the client key)')
    if (!logged) {
      const admitted = this.replays.admit(keyHex, session, timestamp, now)
      if (admitted === 'replay') throw new HttpError(401, 'REPLAYED', 'this signed request was used before; sign each request with a new timestamp')
      if (admitted === 'full') throw new HttpError(429, 'OVERLOADED', 'too many signed requests in the freshness window; retry later')
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
    }
  }
}
