// The HTTP/JSON client API. Validates every request before anything reaches
// the log: bad JSON, unknown fields, oversized keys or values get a 4xx with a
// JSON error that names the problem.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
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
import { KvHttpError } from './kv-client.js'
import { validateNewMember } from './members.js'

export interface Session {
  readonly client: string
  readonly seq: number
}

export interface WriteOptions {
  readonly session: Session | undefined
  /** True when another member forwarded this request (no second forward). */
  readonly forwarded: boolean
}

export interface KvAnswer {
  readonly index: number
  /** The value read, or the current value after a failed cas; null = absent. */
  readonly value?: string | null
  readonly applied?: boolean
  readonly length?: number
  /** Byzantine protocols: the reply certificate (f+1 signed replies), hex-encoded canonical bytes. */
  readonly certificate?: string
  /** Byzantine protocols: the state machine's raw result (hex) that the certificate signs. */
  readonly result?: string
}

export type MemberRole = 'voter' | 'learner'

/** What the API needs from the node. */
export interface KvService {
  put(key: string, value: string, options: WriteOptions): Promise<KvAnswer>
  get(key: string, consistency: 'linearizable' | 'stale', forwarded: boolean): Promise<KvAnswer>
  delete(key: string, options: WriteOptions): Promise<KvAnswer>
  cas(key: string, expected: string | null, value: string, options: WriteOptions): Promise<KvAnswer>
  append(key: string, value: string, options: WriteOptions): Promise<KvAnswer>
  status(): Record<string, unknown>
  ready(): boolean
  metrics(): Promise<{ contentType: string; body: string }>
  members(): Record<string, unknown>
  addMember(member: MemberConfig, role: MemberRole, forwarded: boolean): Promise<Record<string, unknown>>
  removeMember(id: string, forwarded: boolean): Promise<Record<string, unknown>>
  /** Clear the NOSPACE alarm (an admin action). */
  disarmAlarm(forwarded: boolean): Promise<Record<string, unknown>>
}

export interface HttpApiOptions {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  /** Called for each request that failed with a 5xx, for logs. */
  readonly onServerError?: (error: unknown, path: string) => void
  /** Called when a client went away before its answer (not an error of the node; a debug line). */
  readonly onClientGone?: (path: string) => void
}

/** An HTTP error with a JSON body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

const KEY_PATH = /^\/v1\/kv\/([^/]+)(\/cas|\/append)?$/
const MEMBER_PATH = /^\/v1\/members\/([^/]+)$/
const MEMBER_FIELDS = ['id', 'publicKey', 'addrs', 'http', 'role']

export function createHttpApi(service: KvService, options: HttpApiOptions): Server {
  const maxBodyBytes = options.maxValueBytes * 2 + options.maxKeyBytes + 4096
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (clientGone(res)) options.onClientGone?.(req.url ?? '')
      else sendError(res, error, req.url ?? '', options)
    })
  })
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
    if (url.pathname === '/v1/status') {
      requireMethod(method, ['GET'])
      return sendJson(res, 200, service.status())
    }
    if (url.pathname === '/metrics') {
      requireMethod(method, ['GET'])
      const { contentType, body } = await service.metrics()
      res.writeHead(200, { 'content-type': contentType })
      res.end(body)
      return
    }
    if (url.pathname === '/v1/members') {
      requireMethod(method, ['GET', 'POST'])
      if (method === 'GET') return sendJson(res, 200, service.members())
      const body = await readJson(req, 16 * 1024, MEMBER_FIELDS)
      const role = body.role ?? 'voter'
      if (role !== 'voter' && role !== 'learner') throw new HttpError(400, 'BAD_FIELD', "'role' must be 'voter' or 'learner'")
      const { role: _role, ...fields } = body
      const member = validateNewMember(fields, 'member')
      return sendJson(res, 200, await service.addMember(member, role, req.headers['synod-forwarded'] === '1'))
    }
    if (url.pathname === '/v1/alarm/disarm') {
      requireMethod(method, ['POST'])
      await readJson(req, 1024, [], true)
      return sendJson(res, 200, await service.disarmAlarm(req.headers['synod-forwarded'] === '1'))
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
      return sendJson(res, 200, await service.removeMember(id, req.headers['synod-forwarded'] === '1'))
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
    const forwarded = req.headers['synod-forwarded'] === '1'
    const writeOptions = (): WriteOptions => ({ session: readSession(req), forwarded })
    const action = match[2]
    if (action === undefined) {
      if (method === 'GET') {
        for (const param of url.searchParams.keys())
          if (param !== 'consistency') throw new HttpError(400, 'UNKNOWN_PARAMETER', `unknown query parameter '${param}'`)
        const consistency = url.searchParams.get('consistency') ?? 'linearizable'
        if (consistency !== 'linearizable' && consistency !== 'stale')
          throw new HttpError(400, 'BAD_CONSISTENCY', "consistency must be 'linearizable' or 'stale'")
        return sendJson(res, 200, { key, ...(await service.get(key, consistency, forwarded)) })
      }
      if (method === 'PUT') {
        const body = await readJson(req, maxBodyBytes, ['value'])
        const value = expectValue(body.value, 'value', options.maxValueBytes)
        return sendJson(res, 200, { key, ...(await service.put(key, value, writeOptions())) })
      }
      if (method === 'DELETE') {
        await readJson(req, maxBodyBytes, [], true)
        return sendJson(res, 200, { key, ...(await service.delete(key, writeOptions())) })
      }
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on /v1/kv/{key}; use GET, PUT or DELETE`)
    }
    requireMethod(method, ['POST'])
    if (action === '/cas') {
      const body = await readJson(req, maxBodyBytes, ['expected', 'value'])
      if (!('expected' in body)) throw new HttpError(400, 'MISSING_FIELD', "cas needs 'expected' (a string, or null for absent)")
      const expected = body.expected === null ? null : expectValue(body.expected, 'expected', options.maxValueBytes)
      const value = expectValue(body.value, 'value', options.maxValueBytes)
      return sendJson(res, 200, { key, ...(await service.cas(key, expected, value, writeOptions())) })
    }
    const body = await readJson(req, maxBodyBytes, ['value'])
    const value = expectValue(body.value, 'value', options.maxValueBytes)
    return sendJson(res, 200, { key, ...(await service.append(key, value, writeOptions())) })
  }
  return server
}

function requireMethod(method: string, allowed: string[]): void {
  if (!allowed.includes(method)) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `use ${allowed.join(' or ')}`)
}

function readSession(req: IncomingMessage): Session | undefined {
  const client = req.headers['synod-client-id']
  const seq = req.headers['synod-client-seq']
  if (client === undefined && seq === undefined) return undefined
  if (typeof client !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(client))
    throw new HttpError(400, 'BAD_SESSION', 'Synod-Client-Id must be 1–128 characters of [A-Za-z0-9._:-]')
  if (typeof seq !== 'string' || !/^\d{1,15}$/.test(seq) || Number(seq) < 1)
    throw new HttpError(400, 'BAD_SESSION', 'Synod-Client-Seq must be a positive integer, growing by one per request of this client')
  return { client, seq: Number(seq) }
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
  if (status >= 500 && status !== 501 && status !== 503 && status !== 504) options.onServerError?.(error, path)
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
  if (error instanceof KvHttpError && error.status >= 400 && error.status < 600) return { status: error.status, body: error.body }
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
