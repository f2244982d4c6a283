// A small HTTP client for the node's client API, used by `synod kv`, `synod
// status` and the cluster demo. Optional exactly-once session: every write
// carries (client id, seq) so a retry after a timeout cannot apply twice.
import { randomUUID } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { encodeSignedClientRequest, signClientRequest, toHex, type Signer } from '@synod/core'
import { describeRequest } from './auth/operations.js'
import type { MemberConfig } from './config.js'

// One keep-alive agent per process. node:http writes headers and a small body
// in one segment; fetch() wrote them separately and paid a Nagle/delayed-ACK
// stall (~10 ms) on every request with a body — measured, see apps/node README.
const agent = new Agent({ keepAlive: true, maxSockets: 256 })

export interface KvResponse {
  readonly key?: string
  readonly index: number
  readonly value?: string | null
  readonly applied?: boolean
  readonly length?: number
  readonly certificate?: string
  readonly result?: string
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
}

export class HttpKvClient {
  private readonly base: string
  private readonly clientId: string
  private seq = 0
  private lastTimestamp = 0
  private readonly httpsAgent: HttpsAgent | undefined

  constructor(
    endpoint: string,
    private readonly timeoutMs = 10_000,
    clientId?: string,
    private readonly credentials: ClientCredentials = {},
  ) {
    const scheme = credentials.tls === undefined ? 'http' : 'https'
    this.base = /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/$/, '') : `${scheme}://${endpoint}`
    this.clientId = clientId ?? `cli-${randomUUID()}`
    const tls = credentials.tls
    this.httpsAgent =
      tls === undefined
        ? undefined
        : new HttpsAgent({ keepAlive: true, maxSockets: 256, ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) })
  }

  /** Release pooled TLS connections (plain HTTP ones share one process-wide agent). */
  close(): void {
    this.httpsAgent?.destroy()
  }

  put(key: string, value: string): Promise<KvResponse> {
    return this.write('PUT', `/v1/kv/${encodeURIComponent(key)}`, { value })
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
   */
  lastEnvelope: Uint8Array | undefined

  async request(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Record<string, unknown>> {
    const res = await this.send(method, path, body, headers)
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(res.text) as Record<string, unknown>
    } catch {
      parsed = { error: 'BAD_RESPONSE', message: res.text.slice(0, 200) }
    }
    if (res.status < 200 || res.status >= 300) throw new KvHttpError(res.status, parsed)
    return parsed
  }

  private send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; text: string }> {
    const url = new URL(`${this.base}${path}`)
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const allHeaders: Record<string, string | number> = { ...headers, ...this.signatureHeaders(method, url.pathname, body) }
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

  /** The signed-request envelope's headers: the same operation bytes the node computes from the request. */
  private signatureHeaders(method: string, pathname: string, body: unknown): Record<string, string> {
    const signer = this.credentials.signer
    if (signer === undefined || pathname === '/healthz' || pathname === '/readyz') return {}
    const description = describeRequest(method, pathname, (body ?? {}) as Record<string, unknown>)
    if (description === undefined) return {}
    // Strictly growing per (client, session), even for requests within one millisecond.
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1)
    const session = this.credentials.session ?? 0
    const signed = signClientRequest(signer, { session, timestamp: this.lastTimestamp, operation: description.operation }, this.credentials.cluster ?? '')
    this.lastEnvelope = encodeSignedClientRequest(signed)
    return {
      'synod-client-key': toHex(signed.client),
      'synod-session': String(session),
      'synod-timestamp': String(signed.timestamp),
      'synod-signature': toHex(signed.signature),
    }
  }
}
