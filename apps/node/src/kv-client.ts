// A small HTTP client for the node's client API, used by `synod kv`, `synod
// status` and the cluster demo. Optional exactly-once session: every write
// carries (client id, seq) so a retry after a timeout cannot apply twice.
import { randomUUID } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { encodeSignedClientRequest, signClientRequest, toHex, type Signer } from '@synod/core'
import { AUTH_SESSION_PATH, beginHttpSession, finishHttpSession, type HttpSession } from '@synod/client'
import { describeRequest, isPublicRoute, LIST_PATH, loggedWrite } from './auth/operations.js'
import type { MemberConfig } from './config.js'
import type { KvAnswer } from './http-api.js'
import type { TxnRequest } from './txn-body.js'

// One keep-alive agent per process. node:http writes headers and a small body
// in one segment; fetch() wrote them separately and paid a Nagle/delayed-ACK
// stall (~10 ms) on every request with a body — measured, see apps/node README.
const agent = new Agent({ keepAlive: true, maxSockets: 256 })

/** What the node answers (the server's KvAnswer, one definition), plus the key a key route echoes. */
export interface KvResponse extends KvAnswer {
  readonly key?: string
}

export class KvHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`${status} ${String(body.error ?? 'ERROR')}: ${String(body.message ?? '')}`)
  }
}

/** How a client proves who it is (docs/security.md): a signing key, a TLS client certificate, or both. */
export interface ClientCredentials {
  /** Signs every request (the client's ed25519 key from `synod client init`). */
  readonly signer?: Signer
  /** The cluster name bound into signatures ('' when the cluster has none). */
  readonly cluster?: string
  /** The signed-request session (0 by default); one request in flight per session. */
  readonly session?: number
  /** PEM: the cluster CA to trust (https endpoints), and optionally a client certificate and its key. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string }
  /**
   * With a signer: sign once per node (an HTTP session, ADR 0011), then MAC each request — much cheaper
   * than a signature per request. Default true. Falls back to signing every request for a node whose
   * cluster needs client signatures (byzantine protocols: 400 SIGNATURE_REQUIRED) or that has no sessions.
   */
  readonly sessions?: boolean
}

/** How this client authenticates to its endpoint, once it knows. */
type AuthMode = 'sessions' | 'signatures'

export class HttpKvClient {
  private readonly base: string
  private readonly clientId: string
  private seq = 0
  private lastTimestamp = 0
  private readonly httpsAgent: HttpsAgent | undefined
  private mode: AuthMode
  /** The open HTTP session, or the one being opened (shared by concurrent requests). */
  private authSession: Promise<HttpSession | undefined> | undefined
  private openedSession: HttpSession | undefined
  /** Session-opens sent (for tests and diagnostics). */
  sessionOpens = 0

  constructor(
    endpoint: string,
    private readonly timeoutMs = 10_000,
    clientId?: string,
    private readonly credentials: ClientCredentials = {},
  ) {
    const scheme = credentials.tls === undefined ? 'http' : 'https'
    this.base = /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/$/, '') : `${scheme}://${endpoint}`
    this.clientId = clientId ?? `cli-${randomUUID()}`
    this.mode = credentials.signer !== undefined && credentials.sessions !== false ? 'sessions' : 'signatures'
    const tls = credentials.tls
    this.httpsAgent =
      tls === undefined
        ? undefined
        : new HttpsAgent({ keepAlive: true, maxSockets: 256, ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) })
  }

  /** The credentials for a streaming request (a watch), which signs once per stream. */
  credentialsForStreams(): ClientCredentials {
    return this.credentials
  }

  /** Release pooled TLS connections (plain HTTP ones share one process-wide agent). */
  close(): void {
    this.httpsAgent?.destroy()
  }

  /** `lease`: attach the key to that lease (deleted when it ends). */
  put(key: string, value: string, lease?: number): Promise<KvResponse> {
    return this.write('PUT', `/v1/kv/${encodeURIComponent(key)}`, lease === undefined ? { value } : { value, lease })
  }

  /** Leases: grant (the answer's `id`), keep alive, revoke (deletes its keys); an unknown lease is 404 LEASE_NOT_FOUND. */
  leaseGrant(ttlSeconds: number): Promise<KvResponse> {
    return this.write('POST', '/v1/leases', { ttlSeconds })
  }

  leaseKeepAlive(id: number): Promise<KvResponse> {
    return this.write('POST', `/v1/leases/${id}/keepalive`, undefined)
  }

  leaseRevoke(id: number): Promise<KvResponse> {
    return this.write('DELETE', `/v1/leases/${id}`, undefined)
  }

  delete(key: string): Promise<KvResponse> {
    return this.write('DELETE', `/v1/kv/${encodeURIComponent(key)}`, undefined)
  }

  cas(key: string, expected: string | null, value: string): Promise<KvResponse> {
    return this.write('POST', `/v1/kv/${encodeURIComponent(key)}/cas`, { expected, value })
  }

  append(key: string, value: string): Promise<KvResponse> {
    return this.write('POST', `/v1/kv/${encodeURIComponent(key)}/append`, { value })
  }

  /** etcd's Txn (POST /v1/txn): `success` if every comparison holds, else `failure`, atomically. */
  txn(request: TxnRequest): Promise<KvResponse> {
    return this.write('POST', '/v1/txn', request)
  }

  /** A range read (GET /v1/kv): keys with `prefix` after `after`, with values unless keysOnly/countOnly. */
  list(
    prefix: string,
    options: { after?: string; start?: string; end?: string; limit?: number; keysOnly?: boolean; countOnly?: boolean; consistency?: 'linearizable' | 'stale' } = {},
  ): Promise<KvResponse> {
    const query = new URLSearchParams({ prefix })
    if (options.after !== undefined) query.set('after', options.after)
    if (options.start !== undefined) query.set('start', options.start)
    if (options.end !== undefined) query.set('end', options.end)
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    if (options.keysOnly === true) query.set('keysOnly', 'true')
    if (options.countOnly === true) query.set('countOnly', 'true')
    if (options.consistency === 'stale') query.set('consistency', 'stale')
    return this.request('GET', `/v1/kv?${query.toString()}`, undefined, {}) as unknown as Promise<KvResponse>
  }

  get(key: string, consistency: 'linearizable' | 'stale' = 'linearizable'): Promise<KvResponse> {
    const query = consistency === 'stale' ? '?consistency=stale' : ''
    return this.request('GET', `/v1/kv/${encodeURIComponent(key)}${query}`, undefined, {}) as unknown as Promise<KvResponse>
  }

  status(): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/status', undefined, {})
  }

  members(): Promise<Record<string, unknown>> {
    return this.request('GET', '/v1/members', undefined, {})
  }

  /** Add a member (as a learner that is promoted to voter once caught up, unless role is 'learner'). */
  addMember(member: MemberConfig, role: 'voter' | 'learner' = 'voter', proof?: { timestamp: number; signature: string }): Promise<Record<string, unknown>> {
    return this.request('POST', '/v1/members', { ...member, role, ...(proof === undefined ? {} : { proof }) }, {})
  }

  removeMember(id: string): Promise<Record<string, unknown>> {
    return this.request('DELETE', `/v1/members/${encodeURIComponent(id)}`, undefined, {})
  }

  /** Clear the NOSPACE alarm (after deleting data under the quota). */
  disarmAlarm(): Promise<Record<string, unknown>> {
    return this.request('POST', '/v1/alarm/disarm', undefined, {})
  }

  async ready(): Promise<boolean> {
    const { status } = await this.send('GET', '/readyz', undefined, {})
    return status === 200
  }

  /**
   * Writes of one client are numbered and run one at a time: the state
   * machine remembers only a client's latest answer, so a session is
   * sequential by design (use one client per concurrent worker). Numbers are
   * milliseconds since the epoch, bumped past the last one: a new client
   * starts above the floor of evicted sessions (409 SESSION_EXPIRED otherwise).
   */
  private write(method: string, path: string, body: unknown): Promise<KvResponse> {
    const run = async (): Promise<KvResponse> => {
      this.seq = Math.max(Date.now(), this.seq + 1)
      // A signed write's session is its envelope (client key, session, timestamp); the legacy headers are for the rest.
      const headers: Record<string, string> =
        this.credentials.signer === undefined ? { 'synod-client-id': this.clientId, 'synod-client-seq': String(this.seq) } : {}
      return (await this.request(method, path, body, headers)) as unknown as KvResponse
    }
    const result = this.writes.then(run, run)
    this.writes = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  private writes: Promise<void> = Promise.resolve()
  /**
   * The envelope of the last signed request: what a byzantine cluster ordered and what its reply
   * certificate binds (`synod kv … --verify` checks the answer against it). One request at a time.
   * Undefined after a session-MAC'd request (it has no envelope).
   */
  lastEnvelope: Uint8Array | undefined

  async request(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Record<string, unknown>> {
    const res = await this.authenticatedSend(method, path, body, headers)
    const parsed = parseBody(res.text)
    if (res.status < 200 || res.status >= 300) throw new KvHttpError(res.status, parsed)
    return parsed
  }

  /** How this client authenticates now: 'sessions' until a node told it to sign every request. */
  get authMode(): AuthMode {
    return this.mode
  }

  /**
   * Send with credentials: a session MAC when sessions are on (opening one first if needed), else a
   * signature. A node that lost the session (restart, expiry) gets it re-opened and the request once
   * more with the same timestamp (exactly-once holds: nothing ran); a node that needs signatures gets
   * this request and all later ones signed.
   */
  private async authenticatedSend(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; text: string }> {
    // `path` is ours (a route plus, at most, a query): its pathname is the part before '?', with no URL parse per
    // request — unless it holds dot segments (a key named '.' or '..'), which URL normalizes as the server does.
    const query = path.indexOf('?')
    const pathname = path.includes('/.') ? new URL(`${this.base}${path}`).pathname : query === -1 ? path : path.slice(0, query)
    const signer = this.credentials.signer
    // Only a range read signs its query (the list parameters); other requests' queries are not parsed.
    const searchParams = pathname === LIST_PATH && query !== -1 ? new URLSearchParams(path.slice(query + 1)) : undefined
    const description = signer === undefined || isPublicRoute(pathname) ? undefined : describeRequest(method, pathname, (body ?? {}) as Record<string, unknown>, searchParams)
    if (description === undefined) return this.send(method, path, body, headers)
    let timestamp = this.nextTimestamp()
    if (this.mode === 'sessions') {
      let session = await this.currentSession()
      if (session !== undefined) {
        this.lastEnvelope = undefined
        let res = await this.send(method, path, body, { ...headers, ...session.headers(description.operation, this.sessionNumber, timestamp) })
        if (res.status === 401 && errorCode(res.text) === 'SESSION_UNKNOWN') {
          this.dropSession(session)
          session = await this.currentSession()
          if (session !== undefined) res = await this.send(method, path, body, { ...headers, ...session.headers(description.operation, this.sessionNumber, timestamp) })
        }
        if (session !== undefined && !(res.status === 400 && errorCode(res.text) === 'SIGNATURE_REQUIRED')) return res
        if (session !== undefined) {
          // A byzantine cluster: every replica verifies the client's signature itself (nothing ran). A request
          // outside the KV session table was remembered by the node's replay cache: sign it with a new timestamp.
          this.mode = 'signatures'
          if (!loggedWrite(method, description, pathname)) timestamp = this.nextTimestamp()
        }
      }
    }
    return this.send(method, path, body, { ...headers, ...this.signatureHeaders(description.operation, timestamp) })
  }

  private get sessionNumber(): number {
    return this.credentials.session ?? 0
  }

  private nextTimestamp(): number {
    // Strictly growing per (client, session), even for requests within one millisecond.
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1)
    return this.lastTimestamp
  }

  /** The open session, opening one when there is none or it is due for renewal; undefined once in 'signatures' mode. */
  private async currentSession(): Promise<HttpSession | undefined> {
    const pending = this.authSession
    if (pending !== undefined) {
      const session = await pending
      if (session === undefined || session.renewAt > Date.now()) return session
      if (this.authSession === pending) {
        this.authSession = undefined
        this.openedSession = undefined
      }
    }
    this.authSession ??= this.openSession().then(
      (session) => (this.openedSession = session),
      (error: unknown) => {
        this.authSession = undefined
        throw error
      },
    )
    return this.authSession
  }

  /** Forget `session` unless another request already replaced it (concurrent requests see the same loss). */
  private dropSession(session: HttpSession): void {
    if (this.openedSession === session) {
      this.authSession = undefined
      this.openedSession = undefined
    }
  }

  /** POST /v1/auth/session, signed; a node without sessions (404) puts this client in 'signatures' mode. */
  private async openSession(): Promise<HttpSession | undefined> {
    const signer = this.credentials.signer!
    const opening = beginHttpSession()
    this.sessionOpens++
    const res = await this.send('POST', AUTH_SESSION_PATH, opening.body, this.signatureHeaders(opening.operation, this.nextTimestamp()))
    if (res.status === 404) {
      this.mode = 'signatures'
      return undefined
    }
    const parsed = parseBody(res.text)
    if (res.status < 200 || res.status >= 300) throw new KvHttpError(res.status, parsed)
    return finishHttpSession(opening, parsed, signer.publicKey, this.credentials.cluster ?? '', Date.now())
  }

  private send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; text: string }> {
    const url = new URL(`${this.base}${path}`)
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const allHeaders: Record<string, string | number> = { ...headers }
    if (payload !== undefined) {
      allHeaders['content-type'] = 'application/json'
      allHeaders['content-length'] = payload.byteLength
    }
    const https = url.protocol === 'https:'
    const send = https ? httpsRequest : httpRequest
    const tls = https ? { agent: this.httpsAgent ?? new HttpsAgent({ ca: this.credentials.tls?.ca }) } : { agent }
    return new Promise((resolve, reject) => {
      const req = send(
        { host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method, ...tls, headers: allHeaders, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.base} within ${this.timeoutMs} ms`)))
      req.on('error', reject)
      req.end(payload)
    })
  }

  /** The signed-request envelope's headers over the operation bytes the node computes from the request. */
  private signatureHeaders(operation: Uint8Array, timestamp: number): Record<string, string> {
    const session = this.sessionNumber
    const signed = signClientRequest(this.credentials.signer!, { session, timestamp, operation }, this.credentials.cluster ?? '')
    this.lastEnvelope = encodeSignedClientRequest(signed)
    return {
      'synod-client-key': toHex(signed.client),
      'synod-session': String(session),
      'synod-timestamp': String(signed.timestamp),
      'synod-signature': toHex(signed.signature),
    }
  }
}

function parseBody(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>
  } catch {
    return { error: 'BAD_RESPONSE', message: text.slice(0, 200) }
  }
}

/** The `error` code of a JSON error answer ('' when there is none). */
function errorCode(text: string): string {
  const code = parseBody(text).error
  return typeof code === 'string' ? code : ''
}
