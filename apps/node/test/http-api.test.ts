import type { Server } from 'node:http'
import { connect } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NotLeaderError, OverloadedError, TimeoutError, toHex, UnsupportedError } from '@synod/core'
import { generateKeyPair } from '@synod/crypto'
import { peerIdFromPublicKey } from '@synod/transport-libp2p'
import { createHttpApi, type KvService, listen } from '../src/http-api.js'
import { SynodHttpError } from '@synod/client'

const calls: Array<{ op: string; args: unknown[] }> = []
const newKey = generateKeyPair()
const newMember = { id: peerIdFromPublicKey(newKey.publicKey), publicKey: toHex(newKey.publicKey), addrs: ['/ip4/127.0.0.1/tcp/7009'], http: '127.0.0.1:8009' }
const otherKey = generateKeyPair()
const PBFT_ONLY = peerIdFromPublicKey(otherKey.publicKey)
const fake: KvService = {
  async put(key, value, options) {
    calls.push({ op: 'put', args: [key, value, options] })
    if (key === 'follower') throw new NotLeaderError('peerB')
    if (key === 'slow') throw new TimeoutError(5000)
    if (key === 'busy') throw new OverloadedError('1024 requests are in flight (maxPendingRequests)')
    return { index: 7 }
  },
  async get(key, consistency) {
    calls.push({ op: 'get', args: [key, consistency] })
    return { index: 3, value: key === 'missing' ? null : 'v' }
  },
  async txn(txn, request, options) {
    calls.push({ op: 'txn', args: [txn, request, options] })
    return { index: 9, succeeded: true, results: [], revision: 9 }
  },
  async list(params) {
    calls.push({ op: 'list', args: [params] })
    return { index: 4, kvs: [{ key: `${params.prefix}a`, value: 'v' }], more: false }
  },
  async delete(key) {
    return { index: 8, ...(key ? {} : {}) }
  },
  async cas(key, expected, value) {
    calls.push({ op: 'cas', args: [key, expected, value] })
    return { index: 9, applied: expected === 'old', value: expected === 'old' ? value : 'current' }
  },
  async append(_key, value) {
    return { index: 10, length: value.length }
  },
  status: () => ({ role: 'leader' }),
  ready: () => true,
  metrics: async () => ({ contentType: 'text/plain', body: 'synod_up 1\n' }),
  members: () => ({ voters: [{ id: 'a' }], learners: [] }),
  async addMember(member, role, forwarded) {
    calls.push({ op: 'addMember', args: [member, role, forwarded] })
    if (member.id === PBFT_ONLY) throw new UnsupportedError("membership change in protocol 'pbft'")
    return { index: 12, changed: true }
  },
  async roles() {
    return { index: 1, roles: [] }
  },
  async grantRole(subject, role, prefix) {
    calls.push({ op: 'grantRole', args: [subject, role, prefix] })
    return { index: 14 }
  },
  async revokeRole(subject) {
    calls.push({ op: 'revokeRole', args: [subject] })
    return { index: 15, applied: true }
  },
  async disarmAlarm(forwarded) {
    calls.push({ op: 'disarmAlarm', args: [forwarded] })
    return { index: 14, applied: true, alarms: [] }
  },
  async removeMember(id, forwarded) {
    calls.push({ op: 'removeMember', args: [id, forwarded] })
    if (id === 'follower') throw new NotLeaderError('peerB')
    if (id === 'forwarded-404') throw new SynodHttpError(404, { error: 'NOT_A_MEMBER', message: 'x is not a member' })
    return { index: 13, changed: true }
  },
}

let server: Server
let base: string
const serverErrors: string[] = []
const clientsGone: string[] = []
beforeAll(async () => {
  server = createHttpApi(fake, {
    maxKeyBytes: 16,
    maxValueBytes: 64,
    onServerError: (_error, path) => serverErrors.push(path),
    onClientGone: (path) => clientsGone.push(path),
  })
  const address = await listen(server, '127.0.0.1', 0)
  base = `http://127.0.0.1:${address.port}`
})
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${path}`, { method, body: body ?? null, headers })
  const text = await res.text()
  return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : text }
}

describe('HTTP client API', () => {
  it('serves put, get, delete, cas and append', async () => {
    expect(await call('PUT', '/v1/kv/a', '{"value":"1"}')).toEqual({ status: 200, body: { key: 'a', index: 7 } })
    expect(await call('GET', '/v1/kv/a')).toEqual({ status: 200, body: { key: 'a', index: 3, value: 'v' } })
    expect(await call('GET', '/v1/kv/missing?consistency=stale')).toMatchObject({ status: 200, body: { value: null } })
    expect(calls.at(-1)).toEqual({ op: 'get', args: ['missing', 'stale'] })
    expect(await call('DELETE', '/v1/kv/a')).toMatchObject({ status: 200, body: { index: 8 } })
    expect(await call('POST', '/v1/kv/a/cas', '{"expected":"old","value":"new"}')).toMatchObject({ status: 200, body: { applied: true } })
    expect(await call('POST', '/v1/kv/a/cas', '{"expected":null,"value":"new"}')).toMatchObject({ body: { applied: false, value: 'current' } })
    expect(await call('POST', '/v1/kv/a/append', '{"value":"xyz"}')).toMatchObject({ status: 200, body: { length: 3 } })
  })

  it('serves range reads on GET /v1/kv and validates their parameters before the service sees them', async () => {
    expect(await call('GET', '/v1/kv?prefix=app%2F&limit=5&after=app%2Fa')).toEqual({ status: 200, body: { index: 4, kvs: [{ key: 'app/a', value: 'v' }], more: false } })
    expect(calls.at(-1)).toEqual({ op: 'list', args: [{ prefix: 'app/', after: 'app/a', limit: 5, mode: 'values', consistency: 'linearizable' }] })
    await call('GET', '/v1/kv?keysOnly=true&consistency=stale')
    expect(calls.at(-1)).toEqual({ op: 'list', args: [{ prefix: '', limit: 100, mode: 'keys', consistency: 'stale' }] })
    await call('GET', '/v1/kv?prefix=x&countOnly')
    expect(calls.at(-1)).toEqual({ op: 'list', args: [{ prefix: 'x', limit: 100, mode: 'count', consistency: 'linearizable' }] })
    const before = calls.length
    for (const [query, code] of [
      ['?limit=0', 'BAD_PARAMETER'],
      ['?limit=ten', 'BAD_PARAMETER'],
      ['?keysOnly=true&countOnly=true', 'BAD_PARAMETER'],
      ['?keysOnly=maybe', 'BAD_PARAMETER'],
      ['?consistency=eventual', 'BAD_CONSISTENCY'],
      ['?rev=3', 'UNKNOWN_PARAMETER'],
      ['?prefix=%ED%A0%80', 'BAD_UTF8'],
      [`?prefix=${'k'.repeat(5000)}`, 'KEY_TOO_LARGE'],
    ] as const)
      expect(await call('GET', `/v1/kv${query}`), query).toMatchObject({ status: code === 'KEY_TOO_LARGE' ? 413 : 400, body: { error: code } })
    expect(await call('POST', '/v1/kv', '{}', { 'content-type': 'application/json' })).toMatchObject({ status: 405 })
    expect(calls.length).toBe(before)
  })

  it('passes the exactly-once session through and validates it', async () => {
    await call('PUT', '/v1/kv/s', '{"value":"1"}', { 'synod-client-id': 'c1', 'synod-client-seq': '4' })
    expect(calls.at(-1)!.args[2]).toEqual({ session: { client: 'c1', seq: 4 }, forwarded: false })
    expect(await call('PUT', '/v1/kv/s', '{"value":"1"}', { 'synod-client-id': 'c1', 'synod-client-seq': 'x' })).toMatchObject({
      status: 400,
      body: { error: 'BAD_SESSION' },
    })
    expect(await call('PUT', '/v1/kv/s', '{"value":"1"}', { 'synod-client-seq': '1' })).toMatchObject({ status: 400 })
  })

  it('rejects bad requests with a JSON error naming the problem, and nothing reaches the service', async () => {
    const before = calls.length
    expect(await call('PUT', '/v1/kv/a', '{"value":')).toMatchObject({ status: 400, body: { error: 'BAD_JSON' } })
    expect(await call('PUT', '/v1/kv/a', '[1]')).toMatchObject({ status: 400, body: { error: 'BAD_JSON' } })
    expect(await call('PUT', '/v1/kv/a', '{"value":1}')).toMatchObject({ status: 400, body: { error: 'BAD_FIELD' } })
    expect(await call('PUT', '/v1/kv/a', '{"value":"1","ttl":5}')).toMatchObject({ status: 400, body: { error: 'UNKNOWN_FIELD' } })
    expect(await call('PUT', '/v1/kv/a', '')).toMatchObject({ status: 400, body: { error: 'EMPTY_BODY' } })
    expect(await call('PUT', '/v1/kv/a', JSON.stringify({ value: 'x'.repeat(65) }))).toMatchObject({ status: 413, body: { error: 'VALUE_TOO_LARGE' } })
    expect(await call('PUT', `/v1/kv/${'k'.repeat(17)}`, '{"value":"1"}')).toMatchObject({ status: 413, body: { error: 'KEY_TOO_LARGE' } })
    expect(await call('PUT', '/v1/kv/a', JSON.stringify({ value: 'x'.repeat(10_000) }))).toMatchObject({ status: 413 })
    expect(await call('POST', '/v1/kv/a/cas', '{"value":"1"}')).toMatchObject({ status: 400, body: { error: 'MISSING_FIELD' } })
    expect(await call('GET', '/v1/kv/a?consistency=eventual')).toMatchObject({ status: 400, body: { error: 'BAD_CONSISTENCY' } })
    expect(await call('GET', '/v1/kv/a?foo=1')).toMatchObject({ status: 400, body: { error: 'UNKNOWN_PARAMETER' } })
    expect(await call('PATCH', '/v1/kv/a', '{}')).toMatchObject({ status: 405 })
    expect(await call('GET', '/v1/kv/a/cas')).toMatchObject({ status: 405 })
    expect(await call('GET', '/v2/whatever')).toMatchObject({ status: 404 })
    expect(await call('GET', '/v1/kv/%E0%A4%A')).toMatchObject({ status: 400, body: { error: 'BAD_KEY' } })
    expect(calls.length).toBe(before)
  })

  it('serves POST /v1/txn: a valid transaction reaches the service parsed; a malformed one is refused before it', async () => {
    const body = {
      compare: [{ key: 'a', target: 'modRevision', result: '=', value: 3 }, { key: 'b', target: 'value', result: '!=', value: 'x' }],
      success: [{ op: 'put', key: 'a', value: '1' }, { op: 'get', key: 'b' }],
      failure: [{ op: 'delete', key: 'a' }],
    }
    expect(await call('POST', '/v1/txn', JSON.stringify(body))).toMatchObject({ status: 200, body: { succeeded: true, revision: 9 } })
    const last = calls.at(-1)!
    expect(last.op).toBe('txn')
    expect(last.args[0]).toEqual({
      compare: [{ key: 'a', target: 'mod', relation: '=', value: 3 }, { key: 'b', target: 'value', relation: '!=', value: new TextEncoder().encode('x') }],
      success: [{ op: 'put', key: 'a', value: new TextEncoder().encode('1') }, { op: 'get', key: 'b' }],
      failure: [{ op: 'delete', key: 'a' }],
    })
    const before = calls.length
    const bad = async (txn: unknown) => (await call('POST', '/v1/txn', JSON.stringify(txn))).body
    expect(await bad({ compare: [{ key: 'a', target: 'lease', result: '=', value: 1 }] })).toMatchObject({ error: 'BAD_TXN', message: expect.stringMatching(/compare\[0\]\.target/) })
    expect(await bad({ compare: [{ key: 'a', target: 'version', result: '>=', value: 1 }] })).toMatchObject({ error: 'BAD_TXN' })
    expect(await bad({ compare: [{ key: 'a', target: 'version', result: '=', value: -1 }] })).toMatchObject({ error: 'BAD_TXN' })
    expect(await bad({ compare: [{ key: 'a', target: 'value', result: '=', value: 1 }] })).toMatchObject({ error: 'BAD_TXN' })
    expect(await bad({ success: [{ op: 'put', key: 'a', value: '1' }, { op: 'delete', key: 'a' }] })).toMatchObject({ error: 'BAD_TXN', message: expect.stringMatching(/second time/) })
    expect(await bad({ success: [{ op: 'cas', key: 'a' }] })).toMatchObject({ error: 'BAD_TXN' })
    expect(await bad({ success: [{ op: 'get', key: 'a', value: 'x' }] })).toMatchObject({ error: 'BAD_TXN' })
    expect(await bad({ success: [{ op: 'put', key: 'a', value: '1', lease: 5 }] })).toMatchObject({ error: 'BAD_TXN', message: expect.stringMatching(/unknown field 'lease'/) })
    expect(await bad({ success: { op: 'get', key: 'a' } })).toMatchObject({ error: 'BAD_TXN' })
    expect(await bad({ failure: Array.from({ length: 129 }, (_, i) => ({ op: 'get', key: `k${i}` })) })).toMatchObject({ error: 'TXN_TOO_LARGE' })
    expect(await bad({ success: [{ op: 'put', key: 'a', value: 'x'.repeat(65) }] })).toMatchObject({ error: 'VALUE_TOO_LARGE' })
    expect(await bad({ success: [{ op: 'put', key: 'k'.repeat(17), value: '1' }] })).toMatchObject({ error: 'KEY_TOO_LARGE' })
    expect(await bad({ other: [] })).toMatchObject({ error: 'UNKNOWN_FIELD' })
    expect(await call('GET', '/v1/txn')).toMatchObject({ status: 405 })
    expect(calls.length).toBe(before)
  })

  it('refuses invalid UTF-8 in bodies and lone surrogates in values with 400, before anything reaches the service', async () => {
    const before = calls.length
    const raw = Buffer.concat([Buffer.from('{"value":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])
    const res = await fetch(`${base}/v1/kv/a`, { method: 'PUT', body: raw })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'BAD_UTF8' })
    expect(await call('PUT', '/v1/kv/a', '{"value":"x\\ud800y"}')).toMatchObject({ status: 400, body: { error: 'BAD_UTF8' } })
    expect(await call('POST', '/v1/kv/a/cas', '{"expected":"\\udc00","value":"v"}')).toMatchObject({ status: 400, body: { error: 'BAD_UTF8' } })
    // A key's bytes are percent-encoded UTF-8; invalid sequences are refused too.
    expect(await call('PUT', '/v1/kv/%FF%FE', '{"value":"v"}')).toMatchObject({ status: 400, body: { error: 'BAD_KEY' } })
    expect(await call('PUT', '/v1/kv/%ED%A0%80', '{"value":"v"}')).toMatchObject({ status: 400, body: { error: 'BAD_KEY' } })
    expect(calls.length).toBe(before)
    // A well-formed pair of surrogates (an emoji) is fine.
    expect(await call('PUT', '/v1/kv/a', '{"value":"\\ud83d\\ude00"}')).toMatchObject({ status: 200 })
  })

  it('a client that disconnects mid-request is a debug note, not a server error', async () => {
    const errorsBefore = serverErrors.length
    await new Promise<void>((resolve) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.write('PUT /v1/kv/gone HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"value":"par')
        setImmediate(() => socket.destroy())
      })
      socket.on('close', () => resolve())
    })
    for (let i = 0; i < 200 && clientsGone.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(clientsGone).toContain('/v1/kv/gone')
    expect(serverErrors.length).toBe(errorsBefore)
  })

  it('disarms the alarm with POST /v1/alarm/disarm', async () => {
    expect(await call('POST', '/v1/alarm/disarm')).toMatchObject({ status: 200, body: { index: 14, alarms: [] } })
    expect(calls.at(-1)).toEqual({ op: 'disarmAlarm', args: [false] })
    expect((await call('GET', '/v1/alarm/disarm')).status).toBe(405)
  })

  it('maps typed errors to statuses a client can act on', async () => {
    expect(await call('PUT', '/v1/kv/follower', '{"value":"1"}')).toMatchObject({
      status: 503,
      body: { error: 'NOT_LEADER', leaderHint: 'peerB' },
    })
    expect(await call('PUT', '/v1/kv/slow', '{"value":"1"}')).toMatchObject({ status: 504, body: { error: 'TIMEOUT', outcome: 'unknown' } })
  })

  it('answers an overloaded node with 429 and Retry-After', async () => {
    const res = await fetch(`${base}/v1/kv/busy`, { method: 'PUT', body: '{"value":"1"}' })
    expect(res.status).toBe(429)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(await res.json()).toMatchObject({ error: 'OVERLOADED' })
    const ok = await fetch(`${base}/v1/kv/a`, { method: 'PUT', body: '{"value":"1"}' })
    expect(ok.headers.get('retry-after')).toBeNull()
    await ok.text()
  })

  it('serves health, readiness, status and metrics', async () => {
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200 })
    expect(await call('GET', '/readyz')).toMatchObject({ status: 200, body: { ready: true } })
    expect(await call('GET', '/v1/status')).toMatchObject({ status: 200, body: { role: 'leader' } })
    expect(await call('GET', '/metrics')).toMatchObject({ status: 200, body: 'synod_up 1\n' })
  })

  it('lists, adds and removes members; validates the member and names the bad field', async () => {
    expect(await call('GET', '/v1/members')).toMatchObject({ status: 200, body: { voters: [{ id: 'a' }] } })
    expect(await call('POST', '/v1/members', JSON.stringify(newMember))).toMatchObject({ status: 200, body: { index: 12 } })
    expect(calls.at(-1)).toEqual({ op: 'addMember', args: [newMember, 'voter', false] })
    await call('POST', '/v1/members', JSON.stringify({ ...newMember, role: 'learner' }), { 'synod-forwarded': '1' })
    expect(calls.at(-1)).toEqual({ op: 'addMember', args: [newMember, 'learner', true] })
    const bad = [
      [{ ...newMember, role: 'boss' }, 'BAD_FIELD'],
      [{ ...newMember, extra: 1 }, 'UNKNOWN_FIELD'],
      [{ ...newMember, publicKey: toHex(otherKey.publicKey) }, 'BAD_REQUEST'],
      [{ ...newMember, addrs: ['not-an-addr'] }, 'BAD_REQUEST'],
      [{ ...newMember, http: 'nowhere' }, 'BAD_REQUEST'],
      [{ id: newMember.id }, 'BAD_REQUEST'],
    ] as const
    for (const [body, code] of bad) {
      const answer = await call('POST', '/v1/members', JSON.stringify(body))
      expect(answer.status, JSON.stringify(body)).toBe(400)
      expect(answer.body).toMatchObject({ error: code })
    }
    const mismatch = await call('POST', '/v1/members', JSON.stringify({ ...newMember, publicKey: toHex(otherKey.publicKey) }))
    expect(mismatch.body).toMatchObject({ field: 'member.publicKey' })
    expect((await call('POST', '/v1/members', '{nope')).status).toBe(400)
    expect(await call('DELETE', `/v1/members/${newMember.id}`)).toMatchObject({ status: 200, body: { index: 13 } })
    expect(await call('DELETE', '/v1/members/follower')).toMatchObject({ status: 503, body: { leaderHint: 'peerB' } })
    expect((await call('PUT', '/v1/members/x', '{}')).status).toBe(405)
    // What the leader answered a forwarded request reaches the client unchanged (not a 500).
    expect(await call('DELETE', '/v1/members/forwarded-404')).toEqual({ status: 404, body: { error: 'NOT_A_MEMBER', message: 'x is not a member' } })
    const unsupported = await call('POST', '/v1/members', JSON.stringify({ ...newMember, id: PBFT_ONLY, publicKey: toHex(otherKey.publicKey) }))
    expect(unsupported).toMatchObject({ status: 501, body: { error: 'UNSUPPORTED' } })
  })
})
