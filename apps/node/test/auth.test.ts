// The API's trust boundary against a fake service: every route refuses
// unauthenticated and wrong-role requests before anything reaches the
// service; a cross-site text/plain POST, a foreign Origin and a foreign Host
// are refused; and each attack is shown to succeed with the defence off.
import { request } from 'node:http'
import type { Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientIdOf, toHex } from '@synod/core'
import { createSigner, createVerifier, generateKeyPair } from '@synod/crypto'
import { RolesTable } from '@synod/kv'
import { peerIdFromPublicKey } from '@synod/transport-libp2p'
import { ApiGuard } from '../src/auth/guard.js'
import { checkJoinProof, signJoinRequest } from '../src/auth/join-proof.js'
import { createScreen } from '../src/auth/screen.js'
import { createHttpApi, type HttpApiOptions, type KvService, listen } from '../src/http-api.js'
import { type SynodClient, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import { ForwardingClient } from '../src/forwarding-client.js'
import { HttpSessionTable } from '../src/auth/http-sessions.js'
import { MemberMacKeys } from '../src/auth/member-mac.js'
import { describeRequest } from '../src/auth/operations.js'

const calls: string[] = []
const service: KvService = {
  put: async () => (calls.push('put'), { index: 1 }),
  get: async () => (calls.push('get'), { index: 1, value: 'secret' }),
  txn: async () => (calls.push('txn'), { index: 1, succeeded: true, results: [] }),
  list: async () => (calls.push('list'), { index: 1, kvs: [{ key: 'k', value: 'secret' }], more: false }),
  delete: async () => (calls.push('delete'), { index: 1, applied: true }),
  cas: async () => (calls.push('cas'), { index: 1, applied: true }),
  append: async () => (calls.push('append'), { index: 1, length: 1 }),
  status: () => (calls.push('status'), { role: 'leader' }),
  ready: () => true,
  metrics: async () => (calls.push('metrics'), { contentType: 'text/plain', body: 'x 1\n' }),
  members: () => (calls.push('members'), { voters: [] }),
  addMember: async () => (calls.push('addMember'), { index: 1, changed: true }),
  removeMember: async () => (calls.push('removeMember'), { index: 1, changed: true }),
  roles: async () => (calls.push('roles'), { index: 1, roles: [] }),
  grantRole: async () => (calls.push('grantRole'), { index: 1 }),
  revokeRole: async () => (calls.push('revokeRole'), { index: 1, applied: true }),
  disarmAlarm: async () => (calls.push('disarmAlarm'), { index: 1, applied: false, alarms: [] }),
}

const admin = generateKeyPair()
const writer = generateKeyPair() // readwrite on app/
const reader = generateKeyPair() // readonly on pub/
const stranger = generateKeyPair() // no role
const memberKey = generateKeyPair() // a member of the cluster (forwards for clients)
const leaderKey = generateKeyPair() // the node serving `secured`
const joiner = generateKeyPair()
const joinerMember = { id: peerIdFromPublicKey(joiner.publicKey), publicKey: toHex(joiner.publicKey), addrs: ['/ip4/127.0.0.1/tcp/7009'], http: '127.0.0.1:8009' }
const roles = new RolesTable([clientIdOf(admin.publicKey)])
roles.grant(clientIdOf(writer.publicKey), 'readwrite', 'app/')
roles.grant(clientIdOf(reader.publicKey), 'readonly', 'pub/')

async function serve(options: Partial<HttpApiOptions>): Promise<{ server: Server; endpoint: string }> {
  const server = createHttpApi(service, { maxKeyBytes: 64, maxValueBytes: 64, ...options })
  const address = await listen(server, '127.0.0.1', 0)
  return { server, endpoint: `127.0.0.1:${address.port}` }
}

const verifier = createVerifier()
let secured: { server: Server; endpoint: string }
let open: { server: Server; endpoint: string }
beforeAll(async () => {
  const screen = createScreen({ http: '127.0.0.1:0', hosts: ['synod.internal'], allowedOrigins: ['https://console.example'] })
  const guard = new ApiGuard({
    cluster: 'test',
    clockSkewMs: 60_000,
    roles: () => roles,
    memberKeys: () => new Map([[toHex(memberKey.publicKey), 'member-1']]),
    verifier,
    memberMacs: new MemberMacKeys(leaderKey.secretKey),
    sessions: new HttpSessionTable({ cluster: 'test', node: 'leader' }),
  })
  secured = await serve({ screen, guard, checkJoinProof: (m, proof) => checkJoinProof(verifier, m, proof, 'test') })
  open = await serve({}) // the defences off: what the API did before
})
afterAll(async () => {
  for (const s of [secured, open]) await new Promise<void>((resolve) => s.server.close(() => resolve()))
})

function raw(endpoint: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const [host, port] = endpoint.split(':')
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers: { ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += String(c)))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

const client = (keys: { secretKey: Uint8Array; publicKey: Uint8Array } | undefined, endpoint = secured.endpoint, cluster = 'test') =>
  new NodeSynodClient(endpoint, { timeoutMs: 5000, ...(keys === undefined ? {} : { signer: createSigner(keys.secretKey), cluster }) })

async function status(call: Promise<unknown>): Promise<number> {
  try {
    await call
    return 200
  } catch (error) {
    if (error instanceof SynodHttpError) return error.status
    throw error
  }
}

/** A TLS client as a member sees it (no signature of its own to pass on: the member vouches for it). */
const asCaller = (keys: { publicKey: Uint8Array }) => ({ client: clientIdOf(keys.publicKey), session: undefined, by: 'certificate' as const })

/** Every route, as each client would call it. */
function everyRoute(c: SynodClient): Array<[string, () => Promise<unknown>]> {
  return [
    ['get', () => c.get('app/k')],
    ['list', () => c.list('app/')],
    ['put', () => c.put('app/k', 'v')],
    ['delete', () => c.delete('app/k')],
    ['cas', () => c.cas('app/k', null, 'v')],
    ['append', () => c.append('app/k', 'v')],
    ['status', () => c.status()],
    ['metrics', () => c.request('GET', '/metrics', undefined, {})],
    ['members', () => c.members()],
    ['addMember', () => c.request('POST', '/v1/members', { ...joinerMember, role: 'voter', proof: signJoinRequest(createSigner(joiner.secretKey), joinerMember, 'test') }, {})],
    ['removeMember', () => c.removeMember('12D3KooWabc')],
    ['roles', () => c.request('GET', '/v1/roles', undefined, {})],
    ['grantRole', () => c.request('POST', '/v1/roles', { client: clientIdOf(stranger.publicKey), role: 'admin' }, {})],
    ['revokeRole', () => c.request('DELETE', `/v1/roles/${clientIdOf(writer.publicKey)}`, undefined, {})],
    ['disarmAlarm', () => c.disarmAlarm()],
  ]
}

describe('authentication and roles at the API edge', () => {
  it('refuses every route without credentials (401) and with no role (403); nothing reaches the service', async () => {
    calls.length = 0
    for (const [name, call] of everyRoute(client(undefined))) expect(await status(call()), name).toBe(401)
    for (const [name, call] of everyRoute(client(stranger))) expect(await status(call()), name).toBe(403)
    expect(calls).toEqual([])
    // Liveness and readiness stay open (probes carry no credentials).
    expect((await raw(secured.endpoint, 'GET', '/healthz')).status).toBe(200)
    expect((await raw(secured.endpoint, 'GET', '/readyz')).status).toBe(200)
  })

  it('the same requests without the guard reach the service (the attack of issue 13)', async () => {
    calls.length = 0
    for (const [, call] of everyRoute(client(undefined, open.endpoint))) await call().catch(() => undefined)
    expect(calls).toContain('addMember')
    expect(calls).toContain('removeMember')
    expect(calls).toContain('get')
  })

  it('an admin may do everything', async () => {
    calls.length = 0
    for (const [name, call] of everyRoute(client(admin))) expect(await status(call()), name).toBe(200)
    expect(calls).toHaveLength(15)
  })

  it('readwrite and readonly clients are held to their role and prefix', async () => {
    const w = client(writer)
    expect(await status(w.put('app/x', 'v'))).toBe(200)
    expect(await status(w.get('app/x'))).toBe(200)
    expect(await status(w.put('other', 'v'))).toBe(403)
    expect(await status(w.get('other'))).toBe(403)
    expect(await status(w.status())).toBe(200)
    expect(await status(w.removeMember('x'))).toBe(403)
    // A transaction needs its role on every key: one outside the prefix — even in the branch that may not run — refuses it.
    calls.length = 0
    expect(await status(w.txn({ compare: [{ key: 'app/a', target: 'version', result: '=', value: 0 }], success: [{ op: 'put', key: 'app/a', value: '1' }] }))).toBe(200)
    expect(await status(w.txn({ success: [{ op: 'put', key: 'app/a', value: '1' }], failure: [{ op: 'delete', key: 'other' }] }))).toBe(403)
    expect(await status(w.txn({ compare: [{ key: 'secret', target: 'value', result: '=', value: 'x' }] }))).toBe(403)
    expect(await status(client(reader).txn({ success: [{ op: 'get', key: 'pub/a' }] }))).toBe(200)
    expect(await status(client(reader).txn({ success: [{ op: 'put', key: 'pub/a', value: '1' }] }))).toBe(403) // readonly
    expect(calls).toEqual(['txn', 'txn'])
    const r = client(reader)
    calls.length = 0
    expect(await status(r.get('pub/a'))).toBe(200)
    expect(await status(r.get('app/x'))).toBe(403) // outside its prefix
    expect(await status(r.put('pub/a', 'v'))).toBe(403) // readonly
    expect(await status(r.append('pub/a', 'v'))).toBe(403)
    // A range read needs read access to its whole prefix: inside the reader's prefix, not above or beside it.
    expect(await status(r.list('pub/'))).toBe(200)
    expect(await status(r.list('pub/deeper', { keysOnly: true }))).toBe(200)
    expect(await status(r.list(''))).toBe(403)
    expect(await status(r.list('app/'))).toBe(403)
    // A range [start, end) is held to the same rule: inside the prefix's range, or refused.
    expect(await status(r.list('', { start: 'pub/a', end: 'pub/z' }))).toBe(200)
    expect(await status(r.list('', { start: 'pub/', end: 'pub0' }))).toBe(200)
    expect(await status(r.list('', { start: 'pub/', end: 'q' }))).toBe(403)
    expect(await status(r.list('', { start: 'pub/' }))).toBe(403)
    expect(await status(r.request('POST', '/v1/roles', { client: clientIdOf(reader.publicKey), role: 'admin' }, {}))).toBe(403)
    expect(calls).toEqual(['get', 'list', 'list', 'list', 'list'])
  })

  it('refuses a bad signature, another cluster, a stale timestamp and a replayed read', async () => {
    expect(await status(client(admin, secured.endpoint, 'other-cluster').get('k'))).toBe(401)
    const signed = captureSignedGet()
    const first = await raw(secured.endpoint, 'GET', '/v1/kv/app%2Fk', signed)
    expect(first.status).toBe(200)
    const replay = await raw(secured.endpoint, 'GET', '/v1/kv/app%2Fk', signed)
    expect(replay).toMatchObject({ status: 401 })
    expect(JSON.parse(replay.body)).toMatchObject({ error: 'REPLAYED' })
    // The signature covers the operation: the same headers on another key are refused.
    const other = await raw(secured.endpoint, 'GET', '/v1/kv/app%2Fother', { ...signed, 'synod-timestamp': String(Number(signed['synod-timestamp']) + 1) })
    expect(JSON.parse(other.body)).toMatchObject({ error: 'BAD_SIGNATURE' })
    const stale = await raw(secured.endpoint, 'GET', '/v1/kv/app%2Fk', { ...signed, 'synod-timestamp': String(Date.now() - 3_600_000) })
    expect(JSON.parse(stale.body)).toMatchObject({ error: 'STALE_TIMESTAMP' })
  })

  it('a member may forward for a client (the client role applies); anyone else may not', async () => {
    const macAuth = (keys: { secretKey: Uint8Array }) => ({ macs: new MemberMacKeys(keys.secretKey), cluster: 'test', leaderKey: toHex(leaderKey.publicKey) })
    const asMember = new ForwardingClient(secured.endpoint, 5000, undefined, 'leader', macAuth(memberKey), asCaller(reader))
    expect(await status(asMember.get('pub/a'))).toBe(200)
    expect(await status(asMember.get('app/x'))).toBe(403) // the reader's prefix, not the member's power
    const asStranger = new ForwardingClient(secured.endpoint, 5000, undefined, 'leader', macAuth(stranger), asCaller(admin))
    expect(await status(asStranger.get('pub/a'))).toBe(403)
  })

  it('adding a member needs its signed join request', async () => {
    const c = client(admin)
    const missing = c.request('POST', '/v1/members', { ...joinerMember, role: 'voter' }, {})
    await expect(missing).rejects.toMatchObject({ status: 400, body: { error: 'JOIN_PROOF_REQUIRED' } })
    const forged = signJoinRequest(createSigner(stranger.secretKey), joinerMember, 'test')
    await expect(c.request('POST', '/v1/members', { ...joinerMember, role: 'voter', proof: forged }, {})).rejects.toMatchObject({
      status: 400,
      body: { error: 'BAD_JOIN_PROOF' },
    })
    const otherAddrs = signJoinRequest(createSigner(joiner.secretKey), { ...joinerMember, addrs: ['/ip4/10.9.9.9/tcp/1'] }, 'test')
    await expect(c.request('POST', '/v1/members', { ...joinerMember, role: 'voter', proof: otherAddrs }, {})).rejects.toMatchObject({ status: 400 })
  })
})

/** Signed headers of one GET, built the way the client builds them (without sending). */
function captureSignedGet(): Record<string, string> {
  const c = new NodeSynodClient('127.0.0.1:1', { timeoutMs: 1000, signer: createSigner(admin.secretKey), cluster: 'test' })
  const { operation } = describeRequest('GET', '/v1/kv/app%2Fk')!
  return (c as unknown as { signatureHeaders(o: Uint8Array, t: number): Record<string, string> }).signatureHeaders(operation, Date.now())
}

describe('browser attacks: Host, Origin, content type', () => {
  const json = { 'content-type': 'application/json' }
  it('refuses a foreign Host (DNS rebinding) with 421; the open API served it', async () => {
    const headers = { host: 'evil.example.com' }
    expect((await raw(secured.endpoint, 'GET', '/v1/kv/k', headers)).status).toBe(421)
    expect((await raw(open.endpoint, 'GET', '/v1/kv/k', headers)).status).toBe(200)
    // Configured names and loopback names pass the screen (and then need credentials).
    expect((await raw(secured.endpoint, 'GET', '/v1/kv/k', { host: 'synod.internal:8001' })).status).toBe(401)
    expect((await raw(secured.endpoint, 'GET', '/v1/kv/k', { host: 'localhost' })).status).toBe(401)
  })

  it('refuses a cross-site text/plain POST (415) and a foreign Origin (403); the open API took both', async () => {
    calls.length = 0
    const plain = { 'content-type': 'text/plain' }
    const add = JSON.stringify({ ...joinerMember, role: 'learner' })
    expect((await raw(secured.endpoint, 'POST', '/v1/members', plain, add)).status).toBe(415)
    expect((await raw(secured.endpoint, 'PUT', '/v1/kv/k', { ...json, origin: 'https://evil.example' }, '{"value":"x"}')).status).toBe(403)
    expect((await raw(secured.endpoint, 'GET', '/v1/kv/k', { 'sec-fetch-site': 'cross-site' })).status).toBe(403)
    expect(calls).toEqual([])
    expect((await raw(open.endpoint, 'POST', '/v1/members', { ...plain, origin: 'https://evil.example' }, add)).status).toBe(200)
    expect(calls).toEqual(['addMember'])
  })

  it('answers CORS preflights for a configured origin (the cors package), and refuses others', async () => {
    const preflight = await raw(secured.endpoint, 'OPTIONS', '/v1/kv/k', {
      origin: 'https://console.example',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'content-type,synod-signature',
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('https://console.example')
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('synod-signature')
    expect((await raw(secured.endpoint, 'OPTIONS', '/v1/kv/k', { origin: 'https://evil.example', 'access-control-request-method': 'PUT' })).status).toBe(403)
    const allowed = await raw(secured.endpoint, 'GET', '/v1/kv/k', { origin: 'https://console.example' })
    expect(allowed.status).toBe(401) // past the screen; credentials still needed
    expect(allowed.headers['access-control-allow-origin']).toBe('https://console.example')
  })
})
