// The typed client of the daemon's HTTP API (docs/api.md), for Node and browsers. One client talks to a
// cluster through a list of endpoints: it follows the leader a node names (503 with leaderHint), moves on
// from a node that does not answer, honours 429 Retry-After, and retries a write only where that is safe —
// every write carries an exactly-once session (client id + seq, or the signed envelope's client, session
// and timestamp), so the retry of a write that did run returns its remembered answer instead of running
// twice. Requests are signed with the client's key, or MAC'd in an HTTP session opened once per node.
import { ConfigError, encodeSignedClientRequest, fromHex, InvalidMessageError, signClientRequest, type Clock, type Membership, type Signer } from '@synod/core'
import { checkCertifiedFields } from './certified-answer.js'
import { AbortedError, NetworkError, RequestTimeoutError, SynodHttpError } from './errors.js'
import { signedRequestHeaders } from './http-envelope.js'
import { AUTH_SESSION_PATH, beginHttpSession, finishHttpSession, type HttpSession } from './http-session.js'
import { isLoggedWrite, isPublicRoute, LIST_PATH, operationOf } from './operations.js'
import { fetchTransport, type Transport, type TransportResponse } from './transport.js'
import type { TxnRequest } from './txn.js'
import type { KvResponse, MemberInput, StatusAnswer } from './types.js'
import { verifyKvAnswer } from './verify-answer.js'
import { defaultClock } from './clock.js'
import { pause, signedStreamAuth, watch, type WatchOptions } from './watch.js'

/** How a client proves who it is (docs/security.md): a signing key, a TLS client certificate, or both. */
export interface ClientCredentials {
  /** Signs requests (the client's ed25519 key from `synod client init`). */
  readonly signer?: Signer
  /** The cluster name bound into signatures ('' when the cluster has none). */
  readonly cluster?: string
  /** The signed-request session (0 by default); one write in flight per session. */
  readonly session?: number
  /** PEM: the cluster CA to trust (https endpoints), and optionally a client certificate and its key. Node only: '@synod/client/node'. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string }
  /**
   * With a signer: sign once per node (an HTTP session, ADR 0011), then MAC each request — much cheaper
   * than a signature per request. Default true. Falls back to signing every request for a node whose
   * cluster needs client signatures (byzantine protocols: 400 SIGNATURE_REQUIRED) or that has no sessions.
   */
  readonly sessions?: boolean
}

export interface RetryOptions {
  /** Attempts per call, the first included. Default 3; 1 turns retries off. */
  readonly attempts?: number
  /** First wait before retrying a 503 (doubled each time, at most maxBackoffMs). Default 50 ms. */
  readonly backoffMs?: number
  readonly maxBackoffMs?: number
  /** Longest Retry-After honoured (a longer one is cut to this). Default 5000 ms. */
  readonly maxRetryAfterMs?: number
}

export interface SynodClientOptions extends ClientCredentials {
  /** Per-attempt timeout (an AbortController aborts the request). Default 10 s. */
  readonly timeoutMs?: number
  /** The exactly-once session id of unsigned writes. Default: a random one. */
  readonly clientId?: string
  /** How requests travel. Default: fetch; '@synod/client/node' has a node:http one (keep-alive, TLS options). */
  readonly transport?: Transport
  readonly retry?: RetryOptions
  /**
   * Byzantine clusters: the members (keys from a configuration you trust, never from the node answering).
   * Every KV answer must then carry a certificate that verifies against the exact request signed (else the
   * call throws InvalidMessageError); requires a signer, and turns sessions off (a MAC has no envelope).
   */
  readonly verify?: Membership
  /** Time and timers (core's Clock, `now()` in epoch milliseconds). Default: the system clock. */
  readonly clock?: Clock
}

/** Per call: a timeout other than the client's, and a signal to cancel it. */
export interface CallOptions {
  readonly timeoutMs?: number
  readonly signal?: AbortSignal
}

export interface GetOptions extends CallOptions {
  /** 'stale': answered from the node's local copy, possibly behind (no round to the leader). */
  readonly consistency?: 'linearizable' | 'stale'
}

export interface PutOptions extends CallOptions {
  /** Attach the key to this lease: it is deleted when the lease ends. */
  readonly lease?: number
}

export interface ListOptions extends CallOptions {
  /** Keys after this one (pagination: the last key of the previous page). */
  readonly after?: string
  /** etcd's range: keys ≥ start and < end (within the prefix). */
  readonly start?: string
  readonly end?: string
  /** Page size; the node's default is 100. */
  readonly limit?: number
  readonly keysOnly?: boolean
  readonly countOnly?: boolean
  readonly consistency?: 'linearizable' | 'stale'
  /** etcd's `--rev`: the keys as they were at this past revision (within the node's history window). */
  readonly revision?: number
}

export type ClientWatchOptions = Omit<WatchOptions, 'endpoints' | 'prefix' | 'transport' | 'auth' | 'credentials'>

/** How this client authenticates, once it knows. */
type AuthMode = 'sessions' | 'signatures'

/** One logical call's state across its attempts. */
interface Call {
  readonly method: string
  readonly path: string
  readonly body: unknown
  readonly headers: Record<string, string>
  readonly options: CallOptions
  /** Safe to send again after an unknown outcome: a read, or a write with an exactly-once session. */
  readonly idempotent: boolean
  /** A logged write keeps its signed timestamp across attempts (the session table answers a retry). */
  timestamp?: number
  /**
   * The envelope this call's last attempt signed: what `verify` checks the answer against. Per call, not
   * the client's `lastEnvelope`: requests of one client run concurrently (reads beside writes, a lease
   * session's keep-alives beside a recipe's reads), and another call's envelope would fail a valid answer.
   */
  envelope?: Uint8Array
}

const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 3, backoffMs: 50, maxBackoffMs: 1000, maxRetryAfterMs: 5000 }

function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16))
  return `cli-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

export class SynodClient {
  /** Base URLs (scheme://host:port), in the order given; `current` is the one in use. */
  readonly endpoints: string[]
  private current = 0
  readonly clientId: string
  readonly timeoutMs: number
  readonly transport: Transport
  private readonly retry: Required<RetryOptions>
  private readonly clock: Clock
  private seq = 0
  private lastTimestamp = 0
  private mode: AuthMode
  /** Per endpoint: its open HTTP session, or the one being opened (shared by concurrent requests). */
  private readonly sessions = new Map<string, { pending: Promise<HttpSession | undefined>; opened?: HttpSession }>()
  /** Member id → HTTP base, from /v1/status, to follow a leader hint. */
  private readonly memberHttp = new Map<string, string>()
  private writes: Promise<void> = Promise.resolve()
  /** Session-opens sent (for tests and diagnostics). */
  sessionOpens = 0
  /**
   * The envelope of the last signed request: what a byzantine cluster ordered and what its reply
   * certificate binds (verifyAnswer checks the answer against it). Undefined after a session-MAC'd request.
   */
  lastEnvelope: Uint8Array | undefined

  constructor(
    endpoints: string | readonly string[],
    private readonly options: SynodClientOptions = {},
  ) {
    const list = (typeof endpoints === 'string' ? endpoints.split(',') : [...endpoints]).map((e) => e.trim()).filter((e) => e !== '')
    if (list.length === 0) throw new ConfigError('needs at least one endpoint', 'endpoints')
    const scheme = options.tls === undefined ? 'http' : 'https'
    this.endpoints = list.map((e) => (/^https?:\/\//.test(e) ? e.replace(/\/$/, '') : `${scheme}://${e}`))
    this.clientId = options.clientId ?? randomId()
    this.timeoutMs = options.timeoutMs ?? 10_000
    if (options.tls !== undefined && options.transport === undefined)
      throw new ConfigError("TLS credentials (a CA, a client certificate) need a transport that takes them: use '@synod/client/node'", 'tls')
    this.transport = options.transport ?? fetchTransport()
    this.retry = { ...DEFAULT_RETRY, ...options.retry }
    this.clock = options.clock ?? defaultClock
    if (options.verify !== undefined && options.signer === undefined) throw new ConfigError('needs a signer: a certificate binds the signed request', 'verify')
    this.mode = options.signer !== undefined && options.sessions !== false && options.verify === undefined ? 'sessions' : 'signatures'
  }

  /** The endpoint requests go to now (it changes when the client follows a leader or moves past a dead node). */
  get endpoint(): string {
    return this.endpoints[this.current]!
  }

  /** The credentials this client was made with (a watch signs with them). */
  get credentials(): ClientCredentials {
    return this.options
  }

  /** Whether every KV answer is checked against its certificate (`verify` given). */
  get verifies(): boolean {
    return this.options.verify !== undefined
  }

  /** How this client authenticates now: 'sessions' until a node told it to sign every request. */
  get authMode(): AuthMode {
    return this.mode
  }

  /** Release pooled connections. */
  close(): void {
    this.transport.close?.()
  }

  get(key: string, options: GetOptions = {}): Promise<KvResponse> {
    const query = options.consistency === 'stale' ? '?consistency=stale' : ''
    return this.read(`/v1/kv/${encodeURIComponent(key)}${query}`, options)
  }

  put(key: string, value: string, options: PutOptions = {}): Promise<KvResponse> {
    return this.write('PUT', `/v1/kv/${encodeURIComponent(key)}`, options.lease === undefined ? { value } : { value, lease: options.lease }, options)
  }

  delete(key: string, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('DELETE', `/v1/kv/${encodeURIComponent(key)}`, undefined, options)
  }

  /** `expected` null: succeed only if the key is absent. The answer's `applied` says whether it did. */
  cas(key: string, expected: string | null, value: string, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('POST', `/v1/kv/${encodeURIComponent(key)}/cas`, { expected, value }, options)
  }

  append(key: string, value: string, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('POST', `/v1/kv/${encodeURIComponent(key)}/append`, { value }, options)
  }

  /** etcd's Txn (POST /v1/txn): `success` if every comparison holds, else `failure`, atomically. */
  txn(request: TxnRequest, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('POST', '/v1/txn', request, options)
  }

  /** A range read (GET /v1/kv): one page of keys under `prefix`; `more` says another page follows (ask with `after`). */
  list(prefix: string, options: ListOptions = {}): Promise<KvResponse> {
    const query = new URLSearchParams({ prefix })
    if (options.after !== undefined) query.set('after', options.after)
    if (options.start !== undefined) query.set('start', options.start)
    if (options.end !== undefined) query.set('end', options.end)
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    if (options.keysOnly === true) query.set('keysOnly', 'true')
    if (options.countOnly === true) query.set('countOnly', 'true')
    if (options.consistency === 'stale') query.set('consistency', 'stale')
    if (options.revision !== undefined) query.set('revision', String(options.revision))
    return this.read(`${LIST_PATH}?${query.toString()}`, options)
  }

  /** Every page of a range read, in key order (each page is its own read, at its own revision). */
  async *pages(prefix: string, options: Omit<ListOptions, 'countOnly'> = {}): AsyncGenerator<KvResponse> {
    let after = options.after
    while (true) {
      const page = await this.list(prefix, { ...options, ...(after === undefined ? {} : { after }) })
      yield page
      const keys = page.keys ?? page.kvs?.map((kv) => kv.key) ?? []
      if (page.more !== true || keys.length === 0) return
      after = keys[keys.length - 1]
    }
  }

  /** Leases: grant (the answer's `id`), keep alive, revoke (deletes its keys); an unknown lease is 404 LEASE_NOT_FOUND. */
  leaseGrant(ttlSeconds: number, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('POST', '/v1/leases', { ttlSeconds }, options)
  }

  leaseKeepAlive(id: number, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('POST', `/v1/leases/${id}/keepalive`, undefined, options)
  }

  leaseRevoke(id: number, options: CallOptions = {}): Promise<KvResponse> {
    return this.write('DELETE', `/v1/leases/${id}`, undefined, options)
  }

  /** Every change under `prefix` from `fromRevision` (default: the next one), across this client's endpoints. */
  watch(prefix: string, options: ClientWatchOptions): Promise<{ nextRevision: number | undefined; compacted: boolean }> {
    const signer = this.options.signer
    const auth =
      signer === undefined ? undefined : signedStreamAuth(signer, this.options.cluster ?? '', this.options.session ?? 0, () => this.nextTimestamp())
    // Start at the endpoint in use (it may be the leader this client followed).
    const endpoints = [...this.endpoints.slice(this.current), ...this.endpoints.slice(0, this.current)]
    return watch({ ...options, endpoints, prefix, transport: this.transport, ...(auth === undefined ? {} : { auth }) })
  }

  status(options: CallOptions = {}): Promise<StatusAnswer> {
    return this.read<StatusAnswer>('/v1/status', options)
  }

  members(options: CallOptions = {}): Promise<Record<string, unknown>> {
    return this.read<Record<string, unknown>>('/v1/members', options)
  }

  /** Add a member (as a learner that is promoted to voter once caught up, unless role is 'learner'). */
  addMember(member: MemberInput, role: 'voter' | 'learner' = 'voter', proof?: { timestamp: number; signature: string }): Promise<Record<string, unknown>> {
    return this.request('POST', '/v1/members', { ...member, role, ...(proof === undefined ? {} : { proof }) })
  }

  removeMember(id: string): Promise<Record<string, unknown>> {
    return this.request('DELETE', `/v1/members/${encodeURIComponent(id)}`, undefined)
  }

  /** Clear the NOSPACE alarm (after deleting data under the quota). */
  disarmAlarm(): Promise<Record<string, unknown>> {
    return this.request('POST', '/v1/alarm/disarm', undefined)
  }

  /** GET /readyz of the endpoint in use: true when it answers 200. */
  async ready(options: CallOptions = {}): Promise<boolean> {
    const res = await this.sendOnce(this.endpoint, 'GET', '/readyz', undefined, {}, options)
    return res.status === 200
  }

  /**
   * Any route: `path` is the route plus its query. Retried (with leader following) when `idempotent`;
   * otherwise only a refused connection or a 429 is retried (the request never ran).
   */
  request(method: string, path: string, body: unknown, headers: Record<string, string> = {}, options: CallOptions & { idempotent?: boolean } = {}): Promise<Record<string, unknown>> {
    return this.exchange({ method, path, body, headers, options, idempotent: options.idempotent ?? method === 'GET' })
  }

  private read<T = KvResponse>(path: string, options: CallOptions): Promise<T> {
    return this.exchange({ method: 'GET', path, body: undefined, headers: {}, options, idempotent: true }) as unknown as Promise<T>
  }

  /**
   * Writes of one client are numbered and run one at a time: the state machine remembers only a
   * client's latest answer, so a session is sequential by design (use one client per concurrent worker).
   * Numbers are milliseconds since the epoch, bumped past the last one: a new client starts above the
   * floor of evicted sessions (409 SESSION_EXPIRED otherwise). Every attempt of a write carries the same
   * number (or signed timestamp): a retry after an unknown outcome runs it at most once.
   */
  private write(method: string, path: string, body: unknown, options: CallOptions): Promise<KvResponse> {
    const run = async (): Promise<KvResponse> => {
      this.seq = Math.max(this.clock.now(), this.seq + 1)
      // A signed write's session is its envelope (client key, session, timestamp); the id and seq headers are for the rest.
      const headers: Record<string, string> =
        this.options.signer === undefined ? { 'synod-client-id': this.clientId, 'synod-client-seq': String(this.seq) } : {}
      return (await this.exchange({ method, path, body, headers, options, idempotent: true })) as unknown as KvResponse
    }
    const result = this.writes.then(run, run)
    this.writes = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  /** One call: attempts across endpoints until an answer that is final, or the attempts run out. */
  private async exchange(call: Call): Promise<Record<string, unknown>> {
    const attempts = Math.max(1, this.retry.attempts)
    for (let attempt = 1; ; attempt++) {
      const endpoint = this.endpoint
      let res: TransportResponse
      try {
        res = await this.authenticatedSend(endpoint, call)
      } catch (error) {
        // No answer. A timeout is retried on another node only (the same one, just tried, most likely times
        // out again); a broken connection (a reset keep-alive socket, a restarting node) also on the same one.
        const network = error instanceof NetworkError
        const neverRan = network && error.refused
        const retry = attempt < attempts && !(error instanceof AbortedError) && (neverRan || call.idempotent) && (this.endpoints.length > 1 || network)
        if (!retry) throw error
        this.rotate(endpoint)
        if (this.endpoints.length === 1) await this.wait(this.backoff(attempt), call.options.signal)
        continue
      }
      const parsed = parseBody(res.text)
      if (res.status >= 200 && res.status < 300) {
        this.check(call, parsed)
        return parsed
      }
      const error = new SynodHttpError(res.status, parsed)
      if (attempt >= attempts) throw error
      if (res.status === 429) {
        // Refused before it ran (admission control, a limit): wait as told, then ask again.
        await this.wait(retryAfterMs(res, this.retry.maxRetryAfterMs, this.backoff(attempt), this.clock.now()), call.options.signal)
        continue
      }
      if (res.status === 503 && call.idempotent) {
        await this.follow(endpoint, parsed.leaderHint, call.options)
        await this.wait(this.backoff(attempt), call.options.signal)
        continue
      }
      throw error
    }
  }

  private backoff(attempt: number): number {
    return Math.min(this.retry.maxBackoffMs, this.retry.backoffMs * 2 ** (attempt - 1))
  }

  private async wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    await pause(ms, signal, this.clock)
    if (signal?.aborted === true) throw new AbortedError()
  }

  /** Move past `endpoint` (unless another call already did). */
  private rotate(endpoint: string): void {
    if (this.endpoint === endpoint) this.current = (this.current + 1) % this.endpoints.length
  }

  /**
   * A 503 names the leader (a member id): go there. Its HTTP address comes from /v1/status's member list
   * (asked once per unknown hint); a leader this client did not know becomes one of its endpoints.
   * Without a usable hint, try the next endpoint.
   */
  private async follow(endpoint: string, hint: unknown, options: CallOptions): Promise<void> {
    if (typeof hint !== 'string' || hint === '') return this.rotate(endpoint)
    if (!this.memberHttp.has(hint)) {
      try {
        const res = await this.sendOnce(endpoint, 'GET', '/v1/status', undefined, await this.authHeaders(endpoint, 'GET', '/v1/status', undefined), options)
        const members = (parseBody(res.text).members ?? []) as Array<{ id?: unknown; http?: unknown }>
        const scheme = endpoint.startsWith('https:') ? 'https' : 'http'
        for (const m of Array.isArray(members) ? members : [])
          if (typeof m.id === 'string' && typeof m.http === 'string' && m.http !== '') this.memberHttp.set(m.id, /^https?:\/\//.test(m.http) ? m.http : `${scheme}://${m.http}`)
      } catch {
        // No status: fall back to the next endpoint.
      }
    }
    const leader = this.memberHttp.get(hint)
    if (leader === undefined) return this.rotate(endpoint)
    let index = this.endpoints.indexOf(leader)
    if (index === -1) index = this.endpoints.push(leader) - 1
    this.current = index
  }

  /** With `verify`: the answer of a signed KV request must carry a certificate over exactly that request. */
  private check(call: Call, answer: Record<string, unknown>): void {
    const members = this.options.verify
    if (members === undefined) return
    const pathname = call.path.split('?')[0]!
    if (!(pathname.startsWith('/v1/kv') || pathname === '/v1/txn' || pathname.startsWith('/v1/leases'))) return
    const envelope = call.envelope
    if (envelope === undefined || typeof answer.certificate !== 'string' || typeof answer.result !== 'string')
      throw new InvalidMessageError('the answer carries no reply certificate to verify (is the cluster running a byzantine protocol?)')
    const { kv } = verifyKvAnswer(envelope, { certificate: fromHex(answer.certificate), result: fromHex(answer.result), ...(typeof answer.index === 'number' ? { index: answer.index } : {}) }, members)
    // The certificate covers the result bytes, not the JSON around them: every field the result determines
    // (a read's value, a list's keys and values, a txn's outcome, a lease's id) must be the certified one.
    checkCertifiedFields(answer, kv)
  }

  /** The signing/MAC headers for a one-off request (no retry of its own), e.g. the status read of `follow`. */
  private async authHeaders(endpoint: string, method: string, path: string, body: unknown): Promise<Record<string, string>> {
    const operation = this.options.signer === undefined ? undefined : operationOf(method, path.split('?')[0]!, (body ?? {}) as Record<string, unknown>)
    if (operation === undefined) return {}
    const timestamp = this.nextTimestamp()
    if (this.mode === 'sessions') {
      const session = await this.currentSession(endpoint).catch(() => undefined)
      if (session !== undefined) return session.headers(operation, this.sessionNumber, timestamp)
    }
    return this.signatureHeaders(operation, timestamp)
  }

  /**
   * Send with credentials: a session MAC when sessions are on (opening one first if needed), else a
   * signature. A node that lost the session (restart, expiry) gets it re-opened and the request once
   * more with the same timestamp (exactly-once holds: nothing ran); a node that needs signatures gets
   * this request and all later ones signed.
   */
  private async authenticatedSend(endpoint: string, call: Call): Promise<TransportResponse> {
    const { method, path, body, headers, options } = call
    const signer = this.options.signer
    // `path` is ours (a route plus, at most, a query): its pathname is the part before '?' — unless it holds
    // dot segments (a key named '.' or '..'), which URL normalizes as the server does.
    const query = path.indexOf('?')
    const pathname = path.includes('/.') ? new URL(`${endpoint}${path}`).pathname : query === -1 ? path : path.slice(0, query)
    // Only a range read signs its query (the list parameters); other requests' queries are not parsed.
    const searchParams = pathname === LIST_PATH && query !== -1 ? new URLSearchParams(path.slice(query + 1)) : undefined
    const operation = signer === undefined || isPublicRoute(pathname) ? undefined : operationOf(method, pathname, (body ?? {}) as Record<string, unknown>, searchParams)
    if (operation === undefined) return this.sendOnce(endpoint, method, path, body, headers, options)
    const logged = isLoggedWrite(method, pathname)
    // A logged write keeps its timestamp across attempts (the session table answers a repeat); anything
    // else passes each node's replay cache, which refuses a timestamp it has seen: a new one per attempt.
    let timestamp = logged ? (call.timestamp ??= this.nextTimestamp()) : this.nextTimestamp()
    if (this.mode === 'sessions') {
      let session = await this.currentSession(endpoint)
      if (session !== undefined) {
        this.lastEnvelope = undefined
        call.envelope = undefined
        let res = await this.sendOnce(endpoint, method, path, body, { ...headers, ...session.headers(operation, this.sessionNumber, timestamp) }, options)
        if (res.status === 401 && errorCode(res.text) === 'SESSION_UNKNOWN') {
          this.dropSession(endpoint, session)
          session = await this.currentSession(endpoint)
          if (session !== undefined) res = await this.sendOnce(endpoint, method, path, body, { ...headers, ...session.headers(operation, this.sessionNumber, timestamp) }, options)
        }
        if (session !== undefined && !(res.status === 400 && errorCode(res.text) === 'SIGNATURE_REQUIRED')) return res
        if (session !== undefined) {
          // A byzantine cluster: every replica verifies the client's signature itself (nothing ran). A request
          // outside the KV session table was remembered by the node's replay cache: sign it with a new timestamp.
          this.mode = 'signatures'
          if (!logged) timestamp = this.nextTimestamp()
        }
      }
    }
    const signature = this.signatureHeaders(operation, timestamp)
    call.envelope = this.lastEnvelope
    return this.sendOnce(endpoint, method, path, body, { ...headers, ...signature }, options)
  }

  private get sessionNumber(): number {
    return this.options.session ?? 0
  }

  private nextTimestamp(): number {
    // Strictly growing per (client, session), even for requests within one millisecond.
    this.lastTimestamp = Math.max(this.clock.now(), this.lastTimestamp + 1)
    return this.lastTimestamp
  }

  /** The open session with `endpoint`, opening one when there is none or it is due for renewal; undefined once in 'signatures' mode. */
  private async currentSession(endpoint: string): Promise<HttpSession | undefined> {
    const entry = this.sessions.get(endpoint)
    if (entry !== undefined) {
      const session = await entry.pending
      if (session === undefined || session.renewAt > this.clock.now()) return session
      if (this.sessions.get(endpoint) === entry) this.sessions.delete(endpoint)
    }
    let current = this.sessions.get(endpoint)
    if (current === undefined) {
      const fresh: { pending: Promise<HttpSession | undefined>; opened?: HttpSession } = { pending: Promise.resolve(undefined) }
      fresh.pending = this.openSession(endpoint).then(
        (session) => {
          if (session !== undefined) fresh.opened = session
          return session
        },
        (error: unknown) => {
          if (this.sessions.get(endpoint) === fresh) this.sessions.delete(endpoint)
          throw error
        },
      )
      this.sessions.set(endpoint, fresh)
      current = fresh
    }
    return current.pending
  }

  /** Forget `session` unless another request already replaced it (concurrent requests see the same loss). */
  private dropSession(endpoint: string, session: HttpSession): void {
    if (this.sessions.get(endpoint)?.opened === session) this.sessions.delete(endpoint)
  }

  /** POST /v1/auth/session, signed; a node without sessions (404) puts this client in 'signatures' mode. */
  private async openSession(endpoint: string): Promise<HttpSession | undefined> {
    const signer = this.options.signer!
    const opening = beginHttpSession()
    this.sessionOpens++
    const res = await this.sendOnce(endpoint, 'POST', AUTH_SESSION_PATH, opening.body, this.signatureHeaders(opening.operation, this.nextTimestamp()), {})
    if (res.status === 404) {
      this.mode = 'signatures'
      return undefined
    }
    const parsed = parseBody(res.text)
    if (res.status < 200 || res.status >= 300) throw new SynodHttpError(res.status, parsed)
    return finishHttpSession(opening, parsed, signer.publicKey, this.options.cluster ?? '', this.clock.now())
  }

  /** One exchange with one node, bounded by the timeout; the caller's signal cancels it. */
  private async sendOnce(endpoint: string, method: string, path: string, body: unknown, headers: Record<string, string>, options: CallOptions): Promise<TransportResponse> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs
    const controller = new AbortController()
    const timer = this.clock.setTimer(timeoutMs, () => controller.abort())
    const cancel = (): void => controller.abort()
    options.signal?.addEventListener('abort', cancel, { once: true })
    try {
      if (options.signal?.aborted === true) throw new AbortedError()
      return await this.transport.send({
        method,
        url: `${endpoint}${path}`,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: controller.signal,
      })
    } catch (error) {
      if (options.signal?.aborted === true) throw new AbortedError()
      if (controller.signal.aborted) throw new RequestTimeoutError(endpoint, timeoutMs)
      throw error
    } finally {
      this.clock.clearTimer(timer)
      options.signal?.removeEventListener('abort', cancel)
    }
  }

  /** The signed-request envelope's headers over the operation bytes the node computes from the request. */
  private signatureHeaders(operation: Uint8Array, timestamp: number): Record<string, string> {
    const signed = signClientRequest(this.options.signer!, { session: this.sessionNumber, timestamp, operation }, this.options.cluster ?? '')
    this.lastEnvelope = encodeSignedClientRequest(signed)
    return signedRequestHeaders(signed)
  }
}

/** Retry-After (whole seconds, or an HTTP date) in ms, capped; `fallback` when absent or unreadable. */
function retryAfterMs(res: TransportResponse, cap: number, fallback: number, now: number): number {
  const value = res.header('retry-after')
  if (value === undefined) return fallback
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value) - now
  return Number.isFinite(seconds) ? Math.max(0, Math.min(cap, seconds)) : fallback
}

function parseBody(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text) as unknown
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : { value: parsed }
  } catch {
    return { error: 'BAD_RESPONSE', message: text.slice(0, 200) }
  }
}

/** The `error` code of a JSON error answer ('' when there is none). */
function errorCode(text: string): string {
  const code = parseBody(text).error
  return typeof code === 'string' ? code : ''
}
