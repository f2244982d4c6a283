// The HTTP/JSON client API. Validates every request before anything reaches
// the log: bad JSON, unknown fields, oversized keys or values get a 4xx with a
// JSON error that names the problem.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import {
  ConfigError,
  NotLeaderError,
  OverloadedError,
  ProposalDroppedError,
  StoppedError,
  SynodError,
  TimeoutError,
  UnsupportedError,
} from '@synod/core'
import type { MemberConfig } from './config.js'
import { HttpError, isNodeFailure } from './http-error.js'
import { parseTxnBody, type TxnBody, type TxnRequest } from './txn-body.js'
import type { ApiGuard, Principal, Session } from './auth/guard.js'
import { readSession } from './auth/guard.js'
import { isPublicRoute, LIST_PATH, type ListParams, listParams, SESSION_OPEN_PATH, TXN_PATH } from './auth/operations.js'
import type { Screen } from './auth/screen.js'
import { SynodHttpError } from '@synod/client'
import { validateNewMember } from './members.js'
import { WATCH_PATH, watchParams, type WatchParams } from './watch.js'
import { LEASE_PATH, LEASES_PATH, leaseTtl } from './auth/operations.js'

export type { Session } from './auth/guard.js'

export interface WriteOptions {
  readonly session: Session | undefined
  /** True when another member forwarded this request (no second forward). */
  readonly forwarded: boolean
  /** The authenticated client, when authentication is on: a forward acts on its behalf. */
  readonly caller?: Principal
}

/** How a request came in: forwarded by another member or not, and for which authenticated client. */
export interface RequestContext {
  readonly forwarded: boolean
  readonly caller?: Principal
}

export interface KvAnswer {
  readonly index: number
  /** POST /v1/txn: every comparison held (the success branch ran); each operation's answer in order. */
  readonly succeeded?: boolean
  readonly results?: ReadonlyArray<Record<string, unknown>>
  /** The store's revision when the request ran (the log index of the last change to any key; etcd's header revision). */
  readonly revision?: number
  /** A present key read: the revisions that created and last changed it, and its changes since creation. */
  readonly createRevision?: number
  readonly modRevision?: number
  readonly version?: number
  /** The value read, or the current value after a failed cas; null = absent. */
  readonly value?: string | null
  readonly applied?: boolean
  readonly length?: number
  /** Byzantine protocols: the reply certificate (f+1 signed replies), hex-encoded canonical bytes. */
  readonly certificate?: string
  /** Byzantine protocols: the state machine's raw result (hex) that the certificate signs. */
  readonly result?: string
  /** `GET /v1/roles`: every grant. */
  readonly roles?: ReadonlyArray<{ readonly client: string; readonly role: string; readonly prefix: string }>
  /** `GET /v1/kv`: the keys with their values (the default), the keys alone (keysOnly) or their number (countOnly). */
  readonly kvs?: ReadonlyArray<{ readonly key: string; readonly value: string | null; readonly createRevision?: number; readonly modRevision?: number; readonly version?: number }>
  readonly keys?: readonly string[]
  readonly count?: number
  /** `GET /v1/kv`: the limit cut the answer short; ask again with `after` = the last key. */
  readonly more?: boolean
  /** Leases: the lease's id, its TTL, the keys a revoke deleted. */
  readonly id?: number
  readonly ttlSeconds?: number
  readonly deleted?: number
}

export type MemberRole = 'voter' | 'learner'

/** What the API needs from the node. */
export interface KvService {
  put(key: string, value: string, options: WriteOptions): Promise<KvAnswer>
  get(key: string, consistency: 'linearizable' | 'stale', forwarded: boolean, caller?: Principal): Promise<KvAnswer>
  /** A range read (GET /v1/kv). */
  list(params: ListParams, forwarded: boolean, caller?: Principal): Promise<KvAnswer>
  delete(key: string, options: WriteOptions): Promise<KvAnswer>
  cas(key: string, expected: string | null, value: string, options: WriteOptions): Promise<KvAnswer>
  append(key: string, value: string, options: WriteOptions): Promise<KvAnswer>
  /** etcd's Txn (POST /v1/txn). */
  txn(txn: TxnBody, request: TxnRequest, options: WriteOptions): Promise<KvAnswer>
  status(): Record<string, unknown>
  ready(): boolean
  metrics(): Promise<{ contentType: string; body: string }>
  members(): Record<string, unknown>
  addMember(member: MemberConfig, role: MemberRole, forwarded: boolean, caller?: Principal): Promise<Record<string, unknown>>
  removeMember(id: string, forwarded: boolean, caller?: Principal): Promise<Record<string, unknown>>
  /** Client roles (replicated): list, grant (replace), revoke. */
  roles(context: RequestContext): Promise<Record<string, unknown>>
  grantRole(subject: string, role: string, prefix: string | undefined, options: WriteOptions): Promise<KvAnswer>
  revokeRole(subject: string, options: WriteOptions): Promise<KvAnswer>
  /** Stream changes as Server-Sent Events until the client goes away (GET /v1/watch). */
  watch?(req: IncomingMessage, res: ServerResponse, params: WatchParams): Promise<void>
  /** Leases (POST /v1/leases, POST /v1/leases/{id}/keepalive, DELETE /v1/leases/{id}). */
  leaseGrant?(ttlSeconds: number, options: WriteOptions): Promise<KvAnswer>
  leaseKeepAlive?(id: number, options: WriteOptions): Promise<KvAnswer>
  leaseRevoke?(id: number, options: WriteOptions): Promise<KvAnswer>
  /** PUT /v1/kv/{key} with a lease: the key is deleted when the lease ends. */
  putWithLease?(key: string, value: string, lease: number, options: WriteOptions): Promise<KvAnswer>
  /** Clear the NOSPACE alarm (an admin action). */
  disarmAlarm(forwarded: boolean, caller?: Principal): Promise<Record<string, unknown>>
}

export interface HttpApiOptions {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  /** Called for each request that failed with a 5xx, for logs. */
  readonly onServerError?: (error: unknown, path: string) => void
  /** Host, origin and content-type checks (auth/screen.ts); the daemon always sets it. */
  readonly screen?: Screen
  /** Authentication and roles (auth/guard.ts); absent when authentication is off. */
  readonly guard?: ApiGuard
  /** Check a new member's proof that it holds its key (auth/join-proof.ts); absent when authentication is off. */
  readonly checkJoinProof?: (member: MemberConfig, proof: unknown) => void
  /**
   * Serve HTTPS (PEM): clients may present a certificate from the cluster CA
   * (`ca`); one without is not refused at the handshake, since it may sign
   * its requests instead — the guard decides.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string }
  /** Called when a client went away before its answer (not an error of the node; a debug line). */
  readonly onClientGone?: (path: string) => void
  /** Called once per answered request (metrics): its route template (never the key), method, status and duration. */
  readonly onRequestDone?: (route: string, method: string, status: number, seconds: number) => void
}

/** The route template of a path, for metrics labels: keys, member ids and client ids never become labels. */
export function routeOf(path: string): string {
  const pathname = path.split('?', 1)[0]!
  const key = KEY_PATH.exec(pathname)
  if (key !== null) return `/v1/kv/{key}${key[2] ?? ''}`
  if (MEMBER_PATH.test(pathname)) return '/v1/members/{id}'
  if (ROLE_PATH.test(pathname)) return '/v1/roles/{client}'
  const lease = LEASE_PATH.exec(pathname)
  if (lease !== null) return `/v1/leases/{id}${lease[2] ?? ''}`
  return KNOWN_ROUTES.has(pathname) ? pathname : 'other'
}
const KNOWN_ROUTES = new Set(['/v1/kv', '/v1/txn', '/v1/watch', '/v1/leases', '/v1/members', '/v1/roles', '/v1/status', '/v1/alarm/disarm', '/v1/auth/session', '/metrics', '/healthz', '/readyz'])

export { HttpError } from './http-error.js'

const KEY_PATH = /^\/v1\/kv\/([^/]+)(\/cas|\/append)?$/
const MEMBER_PATH = /^\/v1\/members\/([^/]+)$/
const MEMBER_FIELDS = ['id', 'publicKey', 'addrs', 'http', 'role', 'proof']
const ROLE_PATH = /^\/v1\/roles\/([^/]+)$/
const ROLE_FIELDS = ['client', 'role', 'prefix']

export function createHttpApi(service: KvService, options: HttpApiOptions): Server {
  const maxBodyBytes = options.maxValueBytes * 2 + options.maxKeyBytes + 4096
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const done = options.onRequestDone
    if (done !== undefined) {
      const started = performance.now()
      res.once('finish', () => done(routeOf(req.url ?? '/'), req.method ?? 'GET', res.statusCode, (performance.now() - started) / 1000))
    }
    handle(req, res).catch((error: unknown) => {
      if (clientGone(res)) options.onClientGone?.(req.url ?? '')
      else sendError(res, error, req.url ?? '', options)
    })
  }
  const server: Server =
    options.tls === undefined
      ? createServer(onRequest)
      : createHttpsServer({ ...options.tls, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, onRequest)
  // Slow or stalled clients cannot pin sockets forever.
  server.requestTimeout = 30_000
  server.headersTimeout = 10_000
  server.keepAliveTimeout = 5_000

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const method = req.method ?? 'GET'
    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true })
    if (url.pathname === '/readyz') {
      const ready = service.ready()
      return sendJson(res, ready ? 200 : 503, { ready })
    }
    if (!isPublicRoute(url.pathname) && options.screen !== undefined && (await options.screen(req, res))) return
    // Who asks, and may they (a 401/403 before anything reaches the service); undefined without authentication.
    const authorize = (body?: Record<string, unknown>): Principal | undefined => options.guard?.authorize(req, method, url.pathname, body)
    const forwarded = req.headers['synod-forwarded'] === '1'
    const context = (principal: Principal | undefined) => ({ forwarded, ...(principal === undefined ? {} : { caller: principal }) })
    const writeOptions = (principal: Principal | undefined): WriteOptions => ({
      session: options.guard === undefined ? readSession(req) : principal?.session,
      ...context(principal),
    })
    if (url.pathname === SESSION_OPEN_PATH) {
      requireMethod(method, ['POST'])
      const body = await readJson(req, 1024, ['x25519'])
      if (typeof body.x25519 !== 'string' || !/^[0-9a-f]{64}$/.test(body.x25519))
        throw new HttpError(400, 'BAD_FIELD', "'x25519' must be an x25519 public key (64 lowercase hex characters)")
      if (options.guard === undefined) throw new HttpError(404, 'AUTHENTICATION_OFF', 'authentication is off on this node: no sessions to open, send requests as they are')
      // Sessions are this node's own: never forwarded.
      return sendJson(res, 200, options.guard.openSession(req, { x25519: body.x25519 }))
    }
    if (url.pathname === TXN_PATH) {
      requireMethod(method, ['POST'])
      const body = await readJson(req, maxBodyBytes, ['compare', 'success', 'failure'])
      const txn = parseTxnBody(body)
      for (const op of [...txn.success, ...txn.failure]) {
        if (Buffer.byteLength(op.key) > options.maxKeyBytes) throw new HttpError(413, 'KEY_TOO_LARGE', `key is over ${options.maxKeyBytes} bytes`)
        if (op.op === 'put' && op.value.byteLength > options.maxValueBytes) throw new HttpError(413, 'VALUE_TOO_LARGE', `a value is over ${options.maxValueBytes} bytes`)
      }
      return sendJson(res, 200, await service.txn(txn, body as TxnRequest, writeOptions(authorize(body))))
    }
    if (url.pathname === '/v1/status') {
      requireMethod(method, ['GET'])
      authorize()
      return sendJson(res, 200, service.status())
    }
    if (url.pathname === '/metrics') {
      requireMethod(method, ['GET'])
      authorize()
      const { contentType, body } = await service.metrics()
      res.writeHead(200, { 'content-type': contentType })
      res.end(body)
      return
    }
    if (url.pathname === '/v1/members') {
      requireMethod(method, ['GET', 'POST'])
      if (method === 'GET') {
        authorize()
        return sendJson(res, 200, service.members())
      }
      const body = await readJson(req, 16 * 1024, MEMBER_FIELDS)
      const role = body.role ?? 'voter'
      if (role !== 'voter' && role !== 'learner') throw new HttpError(400, 'BAD_FIELD', "'role' must be 'voter' or 'learner'")
      const { role: _role, proof, ...fields } = body
      const member = validateNewMember(fields, 'member')
      const principal = authorize(body)
      // A forwarding member checked the proof at its edge.
      if (principal?.via === undefined) options.checkJoinProof?.(member, proof)
      return sendJson(res, 200, await service.addMember(member, role, forwarded, principal))
    }
    if (url.pathname === '/v1/roles') {
      requireMethod(method, ['GET', 'POST'])
      if (method === 'GET') return sendJson(res, 200, await service.roles(context(authorize())))
      const body = await readJson(req, 4096, ROLE_FIELDS)
      if (typeof body.client !== 'string' || !/^[0-9a-f]{64}$/.test(body.client))
        throw new HttpError(400, 'BAD_FIELD', "'client' must be a client id (64 lowercase hex characters)")
      if (body.role !== 'admin' && body.role !== 'readwrite' && body.role !== 'readonly')
        throw new HttpError(400, 'BAD_FIELD', "'role' must be 'admin', 'readwrite' or 'readonly'")
      if (body.prefix !== undefined && typeof body.prefix !== 'string') throw new HttpError(400, 'BAD_FIELD', "'prefix' must be a string")
      if (body.role === 'admin' && body.prefix !== undefined && body.prefix !== '') throw new HttpError(400, 'BAD_FIELD', 'an admin has no prefix')
      const principal = authorize(body)
      const prefix = body.prefix === '' ? undefined : (body.prefix as string | undefined)
      return sendJson(res, 200, await service.grantRole(body.client, body.role, prefix, writeOptions(principal)))
    }
    const roleMatch = ROLE_PATH.exec(url.pathname)
    if (roleMatch !== null) {
      requireMethod(method, ['DELETE'])
      await readJson(req, 1024, [], true)
      const principal = authorize()
      const subject = roleMatch[1]!
      if (!/^[0-9a-f]{64}$/.test(subject)) throw new HttpError(400, 'BAD_FIELD', 'the client id must be 64 lowercase hex characters')
      return sendJson(res, 200, await service.revokeRole(subject, writeOptions(principal)))
    }
    if (url.pathname === '/v1/alarm/disarm') {
      requireMethod(method, ['POST'])
      await readJson(req, 1024, [], true)
      const principal = authorize()
      return sendJson(res, 200, await service.disarmAlarm(forwarded, principal))
    }
    const memberMatch = MEMBER_PATH.exec(url.pathname)
    if (memberMatch !== null) {
      requireMethod(method, ['DELETE'])
      await readJson(req, 1024, [], true)
      let id: string
      try {
        id = decodeURIComponent(memberMatch[1]!)
      } catch {
        throw new HttpError(400, 'BAD_ID', 'member id is not valid percent-encoding')
      }
      const principal = authorize()
      return sendJson(res, 200, await service.removeMember(id, forwarded, principal))
    }
    if (url.pathname === WATCH_PATH) {
      requireMethod(method, ['GET'])
      const lastEventId = req.headers['last-event-id']
      const params = watchParams(strictQuery(url.search), typeof lastEventId === 'string' ? lastEventId : undefined)
      if (Buffer.byteLength(params.prefix) > options.maxKeyBytes) throw new HttpError(413, 'KEY_TOO_LARGE', `prefix must be at most ${options.maxKeyBytes} bytes`)
      if (LONE_SURROGATE.test(params.prefix)) throw new HttpError(400, 'BAD_UTF8', 'prefix must be valid Unicode text')
      authorize()
      if (service.watch === undefined) throw new HttpError(404, 'NOT_FOUND', 'this node does not serve watches')
      return service.watch(req, res, params)
    }
    if (url.pathname === LEASES_PATH) {
      requireMethod(method, ['POST'])
      const body = await readJson(req, 1024, ['ttlSeconds'])
      const ttl = leaseTtl(body.ttlSeconds)
      const principal = authorize(body)
      if (service.leaseGrant === undefined) throw new HttpError(404, 'NOT_FOUND', 'this node does not serve leases')
      return sendJson(res, 200, await service.leaseGrant(ttl, writeOptions(principal)))
    }
    const leaseMatch = LEASE_PATH.exec(url.pathname)
    if (leaseMatch !== null) {
      const id = Number(leaseMatch[1])
      requireMethod(method, leaseMatch[2] === undefined ? ['DELETE'] : ['POST'])
      await readJson(req, 1024, [], true)
      const principal = authorize()
      const call = leaseMatch[2] === undefined ? service.leaseRevoke?.bind(service) : service.leaseKeepAlive?.bind(service)
      if (call === undefined) throw new HttpError(404, 'NOT_FOUND', 'this node does not serve leases')
      return sendJson(res, 200, await call(id, writeOptions(principal)))
    }
    if (url.pathname === LIST_PATH) {
      requireMethod(method, ['GET'])
      const params = listParams(strictQuery(url.search))
      if (Buffer.byteLength(params.prefix) > options.maxKeyBytes || Buffer.byteLength(params.after ?? '') > options.maxKeyBytes)
        throw new HttpError(413, 'KEY_TOO_LARGE', `prefix and after must be at most ${options.maxKeyBytes} bytes`)
      if (LONE_SURROGATE.test(params.prefix) || LONE_SURROGATE.test(params.after ?? ''))
        throw new HttpError(400, 'BAD_UTF8', 'prefix and after must be valid Unicode text')
      const principal = authorize()
      return sendJson(res, 200, await service.list(params, forwarded, principal))
    }
    const match = KEY_PATH.exec(url.pathname)
    if (match === null) throw new HttpError(404, 'NOT_FOUND', `no route ${url.pathname}`)
    let key: string
    try {
      key = decodeURIComponent(match[1]!)
    } catch {
      throw new HttpError(400, 'BAD_KEY', 'key is not valid percent-encoding')
    }
    if (Buffer.byteLength(key) > options.maxKeyBytes)
      throw new HttpError(413, 'KEY_TOO_LARGE', `key is over ${options.maxKeyBytes} bytes`)
    const action = match[2]
    if (action === undefined) {
      if (method === 'GET') {
        for (const param of url.searchParams.keys())
          if (param !== 'consistency') throw new HttpError(400, 'UNKNOWN_PARAMETER', `unknown query parameter '${param}'`)
        const consistency = url.searchParams.get('consistency') ?? 'linearizable'
        if (consistency !== 'linearizable' && consistency !== 'stale')
          throw new HttpError(400, 'BAD_CONSISTENCY', "consistency must be 'linearizable' or 'stale'")
        const principal = authorize()
        return sendJson(res, 200, { key, ...(await service.get(key, consistency, forwarded, principal)) })
      }
      if (method === 'PUT') {
        const body = await readJson(req, maxBodyBytes, ['value', 'lease'])
        const value = expectValue(body.value, 'value', options.maxValueBytes)
        if (body.lease !== undefined) {
          if (!Number.isSafeInteger(body.lease) || (body.lease as number) < 1) throw new HttpError(400, 'BAD_FIELD', "'lease' must be a lease id (a positive integer)")
          if (service.putWithLease === undefined) throw new HttpError(404, 'NOT_FOUND', 'this node does not serve leases')
          return sendJson(res, 200, { key, ...(await service.putWithLease(key, value, body.lease as number, writeOptions(authorize(body)))) })
        }
        return sendJson(res, 200, { key, ...(await service.put(key, value, writeOptions(authorize(body)))) })
      }
      if (method === 'DELETE') {
        await readJson(req, maxBodyBytes, [], true)
        return sendJson(res, 200, { key, ...(await service.delete(key, writeOptions(authorize()))) })
      }
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on /v1/kv/{key}; use GET, PUT or DELETE`)
    }
    requireMethod(method, ['POST'])
    if (action === '/cas') {
      const body = await readJson(req, maxBodyBytes, ['expected', 'value'])
      if (!('expected' in body)) throw new HttpError(400, 'MISSING_FIELD', "cas needs 'expected' (a string, or null for absent)")
      const expected = body.expected === null ? null : expectValue(body.expected, 'expected', options.maxValueBytes)
      const value = expectValue(body.value, 'value', options.maxValueBytes)
      return sendJson(res, 200, { key, ...(await service.cas(key, expected, value, writeOptions(authorize(body)))) })
    }
    const body = await readJson(req, maxBodyBytes, ['value'])
    const value = expectValue(body.value, 'value', options.maxValueBytes)
    return sendJson(res, 200, { key, ...(await service.append(key, value, writeOptions(authorize(body)))) })
  }
  return server
}

/**
 * The query of `search` ('?a=1&b=2'), decoded strictly: URLSearchParams turns malformed percent-encoding and
 * invalid UTF-8 into U+FFFD without a word; here they are a 400, as for keys in the path.
 */
function strictQuery(search: string): URLSearchParams {
  const params = new URLSearchParams()
  for (const part of search.replace(/^\?/, '').split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    try {
      const name = decodeURIComponent((eq === -1 ? part : part.slice(0, eq)).replaceAll('+', ' '))
      params.append(name, eq === -1 ? '' : decodeURIComponent(part.slice(eq + 1).replaceAll('+', ' ')))
    } catch {
      throw new HttpError(400, 'BAD_UTF8', 'the query string is not valid percent-encoded UTF-8')
    }
  }
  return params
}

function requireMethod(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `use ${allowed.join(' or ')}`)
}

/** A lone UTF-16 surrogate: JSON allows it ("\ud800"), UTF-8 cannot encode it (it would be stored as U+FFFD). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function expectValue(value: unknown, field: string, maxBytes: number): string {
  if (typeof value !== 'string') throw new HttpError(400, 'BAD_FIELD', `'${field}' must be a string`)
  if (LONE_SURROGATE.test(value)) throw new HttpError(400, 'BAD_UTF8', `'${field}' holds a lone surrogate, which is not valid Unicode text`)
  if (Buffer.byteLength(value) > maxBytes) throw new HttpError(413, 'VALUE_TOO_LARGE', `'${field}' is over ${maxBytes} bytes`)
  return value
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The client closed the connection: nobody to answer. */
function clientGone(res: ServerResponse): boolean {
  return res.destroyed || res.socket === null || res.socket.destroyed
}

async function readJson(req: IncomingMessage, maxBytes: number, allowed: string[], emptyOk = false): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength
    if (size > maxBytes) throw new HttpError(413, 'BODY_TOO_LARGE', `request body is over ${maxBytes} bytes`)
    chunks.push(chunk as Buffer)
  }
  let text: string
  try {
    text = strictUtf8.decode(Buffer.concat(chunks))
  } catch {
    throw new HttpError(400, 'BAD_UTF8', 'request body is not valid UTF-8')
  }
  if (text.trim() === '') {
    if (emptyOk) return {}
    throw new HttpError(400, 'EMPTY_BODY', `expected a JSON object with ${allowed.map((a) => `'${a}'`).join(', ')}`)
  }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    throw new HttpError(400, 'BAD_JSON', `request body is not valid JSON: ${(error as Error).message}`)
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'BAD_JSON', 'request body must be a JSON object')
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw new HttpError(400, 'UNKNOWN_FIELD', `unknown field '${k}' (allowed: ${allowed.join(', ') || 'none'})`)
  }
  return body as Record<string, unknown>
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

function sendError(res: ServerResponse, error: unknown, path: string, options: HttpApiOptions): void {
  const { status, body } = errorResponse(error)
  if (isNodeFailure(status)) options.onServerError?.(error, path)
  if (res.headersSent) {
    res.destroy()
    return
  }
  // Overloaded: tell well-behaved clients when to come back instead of letting them hammer a busy node.
  sendJson(res, status, body, status === 429 ? { 'retry-after': RETRY_AFTER_SECONDS } : {})
}

/** Seconds a client should wait after a 429 (the smallest whole value HTTP allows). */
export const RETRY_AFTER_SECONDS = '1'

/** Map typed errors to HTTP: the client learns what to do from the status and the code. */
export function errorResponse(error: unknown): { status: number; body: Record<string, unknown> } {
  if (error instanceof HttpError) return { status: error.status, body: { error: error.code, message: error.message, ...error.extra } }
  // The leader's answer to a forwarded request goes back to the client as it was given.
  if (error instanceof SynodHttpError && error.status >= 400 && error.status < 600) return { status: error.status, body: error.body }
  if (error instanceof NotLeaderError)
    return { status: 503, body: { error: error.code, message: error.message, leaderHint: error.leaderHint ?? null } }
  if (error instanceof TimeoutError) return { status: 504, body: { error: error.code, message: error.message, outcome: 'unknown' } }
  if (error instanceof OverloadedError) return { status: 429, body: { error: error.code, message: error.message } }
  if (error instanceof ProposalDroppedError || error instanceof StoppedError)
    return { status: 503, body: { error: error.code, message: error.message } }
  if (error instanceof ConfigError) return { status: 400, body: { error: 'BAD_REQUEST', message: error.message, field: error.field ?? null } }
  if (error instanceof UnsupportedError) return { status: 501, body: { error: error.code, message: error.message } }
  if (error instanceof SynodError) return { status: 500, body: { error: error.code, message: error.message } }
  return { status: 500, body: { error: 'INTERNAL', message: 'internal error; see the node logs' } }
}

export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server.address() as AddressInfo
}
