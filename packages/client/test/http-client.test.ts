// SynodClient's call logic against a scripted transport (no daemon): leader following, retries that keep
// a write's exactly-once session, per-request timeouts, 429 Retry-After, and the SSE parsing of watches.
// The daemon-facing behaviour (real answers, real retries) is tested in apps/node test/client-*.test.ts.
import { describe, expect, it } from 'vitest'
import { createSigner, keyPairFromSecret, sha256 } from '@synod/crypto'
import { utf8 } from '@synod/core'
import {
  NetworkError,
  RequestTimeoutError,
  SseParser,
  SynodClient,
  SynodHttpError,
  watch,
  type StreamingResponse,
  type Transport,
  type TransportRequest,
  type WatchEvent,
} from '../src/index.js'

interface Scripted {
  status: number
  body?: unknown
  headers?: Record<string, string>
}

/** A transport that answers from `script` (per call) and records every request. */
function scripted(script: (req: TransportRequest, n: number) => Scripted | Promise<Scripted> | 'hang' | Error): Transport & { requests: TransportRequest[] } {
  const requests: TransportRequest[] = []
  return {
    requests,
    async send(req) {
      requests.push(req)
      const answer = script(req, requests.length)
      if (answer instanceof Error) throw answer
      if (answer === 'hang')
        return new Promise((_, reject) => req.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))
      const a = await answer
      return { status: a.status, header: (name) => a.headers?.[name], text: JSON.stringify(a.body ?? {}) }
    },
    stream() {
      throw new Error('no streams here')
    },
  }
}

const host = (req: TransportRequest) => new URL(req.url).host

describe('SynodClient', () => {
  it('follows a 503 leader hint to the leader it learns from /v1/status, and stays there', async () => {
    const t = scripted((req) => {
      if (host(req) === 'a:1' && req.url.endsWith('/v1/status')) return { status: 200, body: { members: [{ id: 'n2', http: 'b:2' }] } }
      if (host(req) === 'a:1') return { status: 503, body: { error: 'NOT_LEADER', leaderHint: 'n2' } }
      return { status: 200, body: { index: 7, value: 'v' } }
    })
    const client = new SynodClient(['a:1'], { transport: t, retry: { backoffMs: 1 } })
    expect((await client.get('k')).value).toBe('v')
    expect(client.endpoint).toBe('http://b:2')
    await client.get('k')
    expect(t.requests.map((r) => `${host(r)} ${new URL(r.url).pathname}`)).toEqual(['a:1 /v1/kv/k', 'a:1 /v1/status', 'b:2 /v1/kv/k', 'b:2 /v1/kv/k'])
  })

  it('retries a write that timed out on the next endpoint with the same session number (exactly once)', async () => {
    const t = scripted((req) => (host(req) === 'a:1' ? 'hang' : { status: 200, body: { index: 3 } }))
    const client = new SynodClient(['a:1', 'b:2'], { transport: t, timeoutMs: 50 })
    await client.append('log', 'x')
    expect(t.requests.map(host)).toEqual(['a:1', 'b:2'])
    const [first, retry] = t.requests
    expect(retry!.headers['synod-client-seq']).toBe(first!.headers['synod-client-seq'])
    expect(retry!.headers['synod-client-id']).toBe(first!.headers['synod-client-id'])
    // The next write is a new one: a new number.
    await client.append('log', 'y')
    expect(Number(t.requests[2]!.headers['synod-client-seq'])).toBeGreaterThan(Number(first!.headers['synod-client-seq']))
  })

  it('signs a retried write with the same timestamp (the session table answers a repeat), a read with a new one', async () => {
    const t = scripted((req, n) => (n % 2 === 1 ? { status: 503, body: { error: 'NO_QUORUM', leaderHint: null } } : { status: 200, body: { index: 1 } }))
    const signer = createSigner(keyPairFromSecret(sha256(utf8('retry-signer'))))
    const client = new SynodClient(['a:1'], { transport: t, signer, sessions: false, retry: { backoffMs: 1 } })
    await client.put('k', 'v')
    await client.get('k')
    const ts = t.requests.map((r) => r.headers['synod-timestamp'])
    expect(ts[0]).toBe(ts[1])
    expect(ts[2]).not.toBe(ts[3])
  })

  it('times a request out with its AbortController, and does not resend a non-idempotent request', async () => {
    const t = scripted(() => 'hang')
    const client = new SynodClient(['a:1', 'b:2'], { transport: t, timeoutMs: 30 })
    const started = Date.now()
    await expect(client.request('POST', '/v1/members', { id: 'x' })).rejects.toBeInstanceOf(RequestTimeoutError)
    expect(Date.now() - started).toBeLessThan(5000)
    expect(t.requests).toHaveLength(1)
    // A per-call timeout overrides the client's.
    await expect(client.get('k', { timeoutMs: 10 })).rejects.toThrow(/within 10 ms/)
  })

  it('waits as a 429 Retry-After says (capped), then asks again; gives up after the attempts with the answer', async () => {
    const t = scripted((_req, n) => (n < 3 ? { status: 429, body: { error: 'OVERLOADED' }, headers: { 'retry-after': '1' } } : { status: 200, body: { index: 1 } }))
    const client = new SynodClient(['a:1'], { transport: t, retry: { maxRetryAfterMs: 40 } })
    const started = Date.now()
    await client.put('k', 'v')
    expect(Date.now() - started).toBeGreaterThanOrEqual(70)
    expect(t.requests).toHaveLength(3)
    const always = scripted(() => ({ status: 429, body: { error: 'OVERLOADED' }, headers: { 'retry-after': '0' } }))
    const error = await new SynodClient(['a:1'], { transport: always }).get('k').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SynodHttpError)
    expect(error).toMatchObject({ status: 429, body: { error: 'OVERLOADED' } })
    expect(always.requests).toHaveLength(3)
  })

  it('moves past a refused connection even for a non-idempotent request (it never reached the node)', async () => {
    const t = scripted((req) => (host(req) === 'a:1' ? new NetworkError('refused', 'ECONNREFUSED') : { status: 200, body: { changed: true } }))
    const client = new SynodClient(['a:1', 'b:2'], { transport: t })
    expect(await client.removeMember('x')).toEqual({ changed: true })
    const other = scripted((req) => (host(req) === 'a:1' ? new NetworkError('reset', 'ECONNRESET') : { status: 200, body: {} }))
    await expect(new SynodClient(['a:1', 'b:2'], { transport: other }).removeMember('x')).rejects.toBeInstanceOf(NetworkError)
    expect(other.requests).toHaveLength(1)
  })

  it('resends a read or a write after a broken connection to the only endpoint, but not after its timeout', async () => {
    const t = scripted((_req, n) => (n === 1 ? new NetworkError('socket hang up', 'ECONNRESET') : { status: 200, body: { index: 1, value: 'v' } }))
    expect((await new SynodClient('a:1', { transport: t, retry: { backoffMs: 1 } }).get('k')).value).toBe('v')
    expect(t.requests).toHaveLength(2)
    const slow = scripted(() => 'hang')
    await expect(new SynodClient('a:1', { transport: slow, timeoutMs: 20 }).put('k', 'v')).rejects.toBeInstanceOf(RequestTimeoutError)
    expect(slow.requests).toHaveLength(1)
  })

  it('keeps the status and body of an error answer, and never retries a 4xx', async () => {
    const t = scripted(() => ({ status: 404, body: { error: 'LEASE_NOT_FOUND', message: 'no lease 9' } }))
    const error = (await new SynodClient('a:1', { transport: t }).leaseKeepAlive(9).catch((e: unknown) => e)) as SynodHttpError
    expect(error.status).toBe(404)
    expect(error.body).toEqual({ error: 'LEASE_NOT_FOUND', message: 'no lease 9' })
    expect(error.message).toBe('404 LEASE_NOT_FOUND: no lease 9')
    expect(t.requests).toHaveLength(1)
  })

  it('pages through a range read with `after` = the last key', async () => {
    const t = scripted((req) => {
      const after = new URL(req.url).searchParams.get('after')
      return after === null ? { status: 200, body: { index: 1, keys: ['p/a', 'p/b'], more: true } } : { status: 200, body: { index: 1, keys: ['p/c'], more: false } }
    })
    const keys: string[] = []
    for await (const page of new SynodClient('a:1', { transport: t }).pages('p/', { keysOnly: true, limit: 2 })) keys.push(...page.keys!)
    expect(keys).toEqual(['p/a', 'p/b', 'p/c'])
    expect(new URL(t.requests[1]!.url).searchParams.get('after')).toBe('p/b')
  })
})

describe('SSE and watch', () => {
  it('parses messages split anywhere across chunks, with comments and CRLF', () => {
    const parser = new SseParser()
    const text = ': hi\r\n\r\nevent: PUT\r\nid: 5\r\ndata: {"a":1}\r\n\r\nevent: PROGRESS\nid: 6\n\n'
    const messages = [...text].flatMap((ch) => parser.push(ch))
    expect(messages).toEqual([
      { event: 'PUT', id: '5', data: '{"a":1}' },
      { event: 'PROGRESS', id: '6', data: '' },
    ])
  })

  it('hands over whole revisions only, and resumes after the last complete one', async () => {
    const asked: string[] = []
    const sse = (events: string): StreamingResponse => ({
      status: 200,
      header: () => undefined,
      async *chunks() {
        yield events
      },
      close: () => undefined,
    })
    const ev = (type: string, revision: number, key: string, id?: number) =>
      `event: ${type}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify({ type, revision, key, value: 'v' })}\n\n`
    const transport: Transport = {
      send: () => Promise.reject(new Error('unused')),
      async stream(req) {
        asked.push(`${new URL(req.url).host} from=${new URL(req.url).searchParams.get('fromRevision')}`)
        // The first stream breaks in the middle of revision 4 (a transaction of two events).
        if (asked.length === 1) return sse(ev('PUT', 3, 'p/a', 3) + ev('PUT', 4, 'p/b'))
        return sse(ev('PUT', 4, 'p/b') + ev('DELETE', 4, 'p/c', 4))
      },
    }
    const controller = new AbortController()
    const revisions: WatchEvent[][] = []
    await watch({
      endpoints: ['a:1', 'b:2'],
      prefix: 'p/',
      fromRevision: 3,
      transport,
      retryMs: 1,
      signal: controller.signal,
      onEvents: (events) => {
        revisions.push([...events])
        if (events[0]!.revision === 4) controller.abort()
      },
    })
    // A stream that delivered stays the preferred endpoint: the first one again, from revision 4.
    expect(asked).toEqual(['a:1 from=3', 'a:1 from=4'])
    expect(revisions.map((r) => r.map((e) => `${e.type} ${e.key}@${e.revision}`))).toEqual([['PUT p/a@3'], ['PUT p/b@4', 'DELETE p/c@4']])
  })
})
