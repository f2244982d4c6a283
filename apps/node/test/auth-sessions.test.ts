// HTTP sessions and member MACs at the API edge (ADR 0011), against a fake
// service: a client signs once (POST /v1/auth/session) and then MACs each
// request; every refusal is shown, and each defence's attack is shown to
// succeed with that defence switched off (the guard's test-only switch).
import { request, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { beginHttpSession, finishHttpSession, type HttpSession } from '@synod/client'
import { clientIdOf, signClientRequest, toHex } from '@synod/core'
import { createSigner, createVerifier, generateKeyPair, type KeyPair } from '@synod/crypto'
import { RolesTable } from '@synod/kv'
import { ApiGuard, type Defence, type Principal } from '../src/auth/guard.js'
import { HttpSessionTable } from '../src/auth/http-sessions.js'
import { MemberMacKeys } from '../src/auth/member-mac.js'
import { describeRequest } from '../src/auth/operations.js'
import { createHttpApi, type KvService, listen, type WriteOptions } from '../src/http-api.js'
import { SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'

const CLUSTER = 'test'
const seen: Array<{ call: string; caller: Principal | undefined }> = []
const record = (call: string, caller: Principal | undefined) => seen.push({ call, caller })
const service: KvService = {
  put: async (_k, _v, o: WriteOptions) => (record('put', o.caller), { index: 1 }),
  get: async (_k, _c, _f, caller) => (record('get', caller), { index: 1, value: 'v' }),
  txn: async (_t, _r, o: WriteOptions) => (record('txn', o.caller), { index: 1, succeeded: true, results: [] }),
  list: async (_p, _f, caller) => (record('list', caller), { index: 1, kvs: [], more: false }),
  delete: async (_k, o) => (record('delete', o.caller), { index: 1, applied: true }),
  cas: async (_k, _e, _v, o) => (record('cas', o.caller), { index: 1, applied: true }),
  append: async (_k, _v, o) => (record('append', o.caller), { index: 1, length: 1 }),
  status: () => (record('status', undefined), { role: 'leader' }),
  ready: () => true,
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
  members: () => ({ voters: [] }),
  addMember: async () => ({ index: 1, changed: true }),
  removeMember: async (_id, _f, caller) => (record('removeMember', caller), { index: 1, changed: true }),
  roles: async () => ({ index: 1, roles: [] }),
  grantRole: async () => ({ index: 1 }),
  revokeRole: async () => ({ index: 1, applied: true }),
  disarmAlarm: async () => ({ index: 1, applied: false, alarms: [] }),
}

const admin = generateKeyPair()
const writer = generateKeyPair() // readwrite on app/
const reader = generateKeyPair() // readonly on pub/
const stranger = generateKeyPair() // no role
const memberKey = generateKeyPair() // another member of the cluster
const nodeKey = generateKeyPair() // the node serving the API (the leader of the forwarding tests)
const hex = (k: KeyPair) => clientIdOf(k.publicKey)
const roles = new RolesTable([hex(admin)])
roles.grant(hex(writer), 'readwrite', 'app/')
roles.grant(hex(reader), 'readonly', 'pub/')

/** The guard's clock: real time plus an offset the expiry tests move. */
let offset = 0
const now = () => Date.now() + offset
const TTL = 60_000

interface Node {
  readonly server: Server
  readonly endpoint: string
  readonly sessions: HttpSessionTable
}

async function serve(options: { disabled?: Defence[]; reverify?: boolean; limits?: { maxSessions: number; maxSessionsPerClient: number } } = {}): Promise<Node> {
  const sessions = new HttpSessionTable({ cluster: CLUSTER, node: 'node-1' }, { maxSessions: 1000, maxSessionsPerClient: 64, ...options.limits, ttlMs: TTL })
  const guard = new ApiGuard({
    cluster: CLUSTER,
    clockSkewMs: 60_000,
    roles: () => roles,
    memberKeys: () => new Map([[toHex(memberKey.publicKey), 'member-1']]),
    verifier: createVerifier({ cacheSize: 0 }),
    now,
    memberMacs: new MemberMacKeys(nodeKey.secretKey),
    sessions,
    reverifyForwardedSignatures: options.reverify ?? false,
    disabledDefences: new Set(options.disabled ?? []),
  })
  const server = createHttpApi(service, { maxKeyBytes: 64, maxValueBytes: 64, guard })
  const address = await listen(server, '127.0.0.1', 0)
  return { server, endpoint: `127.0.0.1:${address.port}`, sessions }
}

const servers: Node[] = []
let node: Node
beforeAll(async () => {
  node = await serve()
  servers.push(node)
})
afterAll(async () => {
  for (const s of servers) await new Promise<void>((resolve) => s.server.close(() => resolve()))
})

async function fresh(options: Parameters<typeof serve>[0]): Promise<Node> {
  const n = await serve(options)
  servers.push(n)
  return n
}

function raw(endpoint: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const [host, port] = endpoint.split(':')
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const all = { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }) }
  return new Promise((resolve, reject) => {
    // No keep-alive: a pooled socket the server closed meanwhile would be a spurious ECONNRESET.
    const req = request({ host, port, method, path, headers: all, agent: false }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += String(c)))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

let stamp = 0
/** A fresh timestamp on the guard's clock (strictly growing: no accidental replays between tests). */
const ts = () => (stamp = Math.max(now(), stamp + 1))

function signedHeaders(keys: KeyPair, method: string, path: string, body?: Record<string, unknown>, timestamp = ts(), cluster = CLUSTER): Record<string, string> {
  const { operation } = describeRequest(method, new URL(path, 'http://x').pathname, body)!
  const signed = signClientRequest(createSigner(keys.secretKey), { session: 0, timestamp, operation }, cluster)
  return { 'synod-client-key': toHex(signed.client), 'synod-session': '0', 'synod-timestamp': String(timestamp), 'synod-signature': toHex(signed.signature) }
}

/** Open a session by hand: the signed POST, and the session derived from the answer. */
async function open(keys: KeyPair, endpoint = node.endpoint): Promise<HttpSession> {
  const opening = beginHttpSession()
  const res = await raw(endpoint, 'POST', '/v1/auth/session', signedHeaders(keys, 'POST', '/v1/auth/session', opening.body), opening.body)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return finishHttpSession(opening, res.body, keys.publicKey, CLUSTER, Date.now())
}

function macHeaders(session: HttpSession, method: string, path: string, body?: Record<string, unknown>, timestamp = ts()): Record<string, string> {
  const { operation } = describeRequest(method, new URL(path, 'http://x').pathname, body)!
  return session.headers(operation, 0, timestamp)
}

const put = (endpoint: string, headers: Record<string, string>, key = 'app%2Fk') => raw(endpoint, 'PUT', `/v1/kv/${key}`, headers, { value: 'v' })

describe('HTTP sessions: sign once, then a MAC per request', () => {
  it('the client opens one session and MACs every request; the principal is the signed one without an envelope', async () => {
    const client = new NodeSynodClient(node.endpoint, { timeoutMs: 5000, signer: createSigner(writer.secretKey), cluster: CLUSTER })
    seen.length = 0
    await Promise.all([client.put('app/a', '1'), client.get('app/a'), client.status()])
    await client.put('app/b', '2')
    expect(client.sessionOpens).toBe(1)
    expect(client.authMode).toBe('sessions')
    expect(client.lastEnvelope).toBeUndefined()
    const writes = seen.filter((s) => s.call === 'put')
    expect(writes).toHaveLength(2)
    for (const { caller } of writes) {
      expect(caller).toMatchObject({ client: hex(writer), by: 'session', session: { client: `${hex(writer)}:0` } })
      expect(caller?.envelope).toBeUndefined()
    }
    // Roles apply exactly as to a signed request.
    await expect(client.put('other', 'v')).rejects.toMatchObject({ status: 403 })
  })

  it('refuses a wrong MAC (BAD_MAC); with the MAC check off anyone who saw a session id writes in its name', async () => {
    const session = await open(writer)
    const headers = macHeaders(session, 'PUT', '/v1/kv/app%2Fk', { value: 'v' })
    const forged = { ...headers, 'synod-mac': '00'.repeat(32) }
    expect(await put(node.endpoint, forged)).toMatchObject({ status: 401, body: { error: 'BAD_MAC' } })
    // The MAC covers the operation: the right MAC on another value is refused too.
    const other = await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', headers, { value: 'evil' })
    expect(other).toMatchObject({ status: 401, body: { error: 'BAD_MAC' } })
    const off = await fresh({ disabled: ['session-mac'] })
    const victim = await open(writer, off.endpoint)
    seen.length = 0
    expect((await put(off.endpoint, { ...macHeaders(victim, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-mac': '00'.repeat(32) })).status).toBe(200)
    expect(seen[0]?.caller?.client).toBe(hex(writer))
  })

  it("refuses a MAC under another session's key", async () => {
    const mine = await open(writer)
    const theirs = await open(writer)
    const headers = { ...macHeaders(theirs, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-auth-session': mine.id }
    expect(await put(node.endpoint, headers)).toMatchObject({ status: 401, body: { error: 'BAD_MAC' } })
    const off = await fresh({ disabled: ['session-mac'] })
    const a = await open(writer, off.endpoint)
    const b = await open(writer, off.endpoint)
    expect((await put(off.endpoint, { ...macHeaders(b, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-auth-session': a.id })).status).toBe(200)
  })

  it('refuses an unknown and an expired session (SESSION_UNKNOWN); with expiry off an old session works forever', async () => {
    expect(await put(node.endpoint, { ...macHeaders(await open(writer), 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-auth-session': 'ab'.repeat(16) })).toMatchObject({
      status: 401,
      body: { error: 'SESSION_UNKNOWN' },
    })
    expect(await put(node.endpoint, { ...macHeaders(await open(writer), 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-auth-session': 'not-hex' })).toMatchObject({
      status: 401,
      body: { error: 'SESSION_UNKNOWN' },
    })
    const expiring = await fresh({})
    const offNode = await fresh({ disabled: ['session-expiry'] })
    const s1 = await open(writer, expiring.endpoint)
    const s2 = await open(writer, offNode.endpoint)
    try {
      offset = TTL + 1
      expect(await put(expiring.endpoint, macHeaders(s1, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }))).toMatchObject({ status: 401, body: { error: 'SESSION_UNKNOWN' } })
      expect(expiring.sessions.size).toBe(0) // pruned
      expect((await put(offNode.endpoint, macHeaders(s2, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }))).status).toBe(200)
    } finally {
      offset = 0
    }
  })

  it("refuses a session opened by one client used with another client's key (SESSION_MISMATCH); without the check a reader writes as the admin", async () => {
    const readers = await open(reader)
    const claim = { ...macHeaders(readers, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-client-key': hex(admin) }
    expect(await put(node.endpoint, claim)).toMatchObject({ status: 401, body: { error: 'SESSION_MISMATCH' } })
    const off = await fresh({ disabled: ['session-client'] })
    const s = await open(reader, off.endpoint)
    seen.length = 0
    expect((await put(off.endpoint, { ...macHeaders(s, 'PUT', '/v1/kv/app%2Fk', { value: 'v' }), 'synod-client-key': hex(admin) })).status).toBe(200)
    expect(seen[0]?.caller?.client).toBe(hex(admin))
  })

  it('refuses a replayed read (REPLAYED); with the replay cache off the captured read is answered again', async () => {
    const session = await open(writer)
    const headers = macHeaders(session, 'GET', '/v1/kv/app%2Fk')
    expect((await raw(node.endpoint, 'GET', '/v1/kv/app%2Fk', headers)).status).toBe(200)
    expect(await raw(node.endpoint, 'GET', '/v1/kv/app%2Fk', headers)).toMatchObject({ status: 401, body: { error: 'REPLAYED' } })
    const off = await fresh({ disabled: ['replay'] })
    const s = await open(writer, off.endpoint)
    const h = macHeaders(s, 'GET', '/v1/kv/app%2Fk')
    expect((await raw(off.endpoint, 'GET', '/v1/kv/app%2Fk', h)).status).toBe(200)
    expect((await raw(off.endpoint, 'GET', '/v1/kv/app%2Fk', h)).status).toBe(200)
  })

  it('refuses a stale timestamp (STALE_TIMESTAMP); with freshness off a week-old request is taken', async () => {
    const session = await open(writer)
    const old = macHeaders(session, 'GET', '/v1/kv/app%2Fk', undefined, now() - 7 * 24 * 3600_000)
    expect(await raw(node.endpoint, 'GET', '/v1/kv/app%2Fk', old)).toMatchObject({ status: 401, body: { error: 'STALE_TIMESTAMP' } })
    const off = await fresh({ disabled: ['freshness'] })
    const s = await open(writer, off.endpoint)
    expect((await raw(off.endpoint, 'GET', '/v1/kv/app%2Fk', macHeaders(s, 'GET', '/v1/kv/app%2Fk', undefined, now() - 7 * 24 * 3600_000))).status).toBe(200)
  })
})

describe('opening a session', () => {
  it('refuses a bad signature: the signature binds the ephemeral key, so a swapped key is refused too', async () => {
    const opening = beginHttpSession()
    const headers = signedHeaders(writer, 'POST', '/v1/auth/session', opening.body)
    const swapped = { x25519: toHex(beginHttpSession().ephemeral.publicKey) }
    expect(await raw(node.endpoint, 'POST', '/v1/auth/session', headers, swapped)).toMatchObject({ status: 401, body: { error: 'BAD_SIGNATURE' } })
    const otherCluster = signedHeaders(writer, 'POST', '/v1/auth/session', opening.body, ts(), 'other')
    expect(await raw(node.endpoint, 'POST', '/v1/auth/session', otherCluster, opening.body)).toMatchObject({ status: 401, body: { error: 'BAD_SIGNATURE' } })
    // Unsigned, or "authenticated" by a session MAC: refused.
    expect(await raw(node.endpoint, 'POST', '/v1/auth/session', {}, opening.body)).toMatchObject({ status: 401 })
    const s = await open(writer)
    expect(await raw(node.endpoint, 'POST', '/v1/auth/session', macHeaders(s, 'POST', '/v1/auth/session', opening.body), opening.body)).toMatchObject({ status: 401 })
  })

  it("with the open's signature check off, anyone who knows the admin's public key opens a session as the admin and acts as it", async () => {
    const off = await fresh({ disabled: ['open-signature'] })
    const opening = beginHttpSession()
    const forged = { ...signedHeaders(stranger, 'POST', '/v1/auth/session', opening.body), 'synod-client-key': hex(admin) }
    expect((await raw(node.endpoint, 'POST', '/v1/auth/session', forged, opening.body)).status).toBe(401)
    const res = await raw(off.endpoint, 'POST', '/v1/auth/session', forged, opening.body)
    expect(res.status).toBe(200)
    const session = finishHttpSession(opening, res.body, admin.publicKey, CLUSTER, Date.now())
    seen.length = 0
    expect((await raw(off.endpoint, 'DELETE', '/v1/members/x', macHeaders(session, 'DELETE', '/v1/members/x'))).status).toBe(200)
    expect(seen).toMatchObject([{ call: 'removeMember', caller: { client: hex(admin) } }])
  })

  it('refuses a client without a role (403) and a replayed open (REPLAYED)', async () => {
    const opening = beginHttpSession()
    expect(await raw(node.endpoint, 'POST', '/v1/auth/session', signedHeaders(stranger, 'POST', '/v1/auth/session', opening.body), opening.body)).toMatchObject({ status: 403 })
    const headers = signedHeaders(writer, 'POST', '/v1/auth/session', opening.body)
    expect((await raw(node.endpoint, 'POST', '/v1/auth/session', headers, opening.body)).status).toBe(200)
    expect(await raw(node.endpoint, 'POST', '/v1/auth/session', headers, opening.body)).toMatchObject({ status: 401, body: { error: 'REPLAYED' } })
    const off = await fresh({ disabled: ['replay'] })
    const h = signedHeaders(writer, 'POST', '/v1/auth/session', opening.body)
    expect((await raw(off.endpoint, 'POST', '/v1/auth/session', h, opening.body)).status).toBe(200)
    expect((await raw(off.endpoint, 'POST', '/v1/auth/session', h, opening.body)).status).toBe(200)
  })

  it('refuses a malformed or low-order x25519 key (400)', async () => {
    for (const x25519 of ['zz'.repeat(32), 'ab'.repeat(31), 'AB'.repeat(32), '00'.repeat(32), `01${'00'.repeat(31)}`]) {
      const body = { x25519 }
      const res = await raw(node.endpoint, 'POST', '/v1/auth/session', signedHeaders(writer, 'POST', '/v1/auth/session', body), body)
      expect(res, x25519).toMatchObject({ status: 400, body: { error: 'BAD_FIELD' } })
    }
    const extra = { x25519: toHex(beginHttpSession().ephemeral.publicKey), more: 1 }
    expect((await raw(node.endpoint, 'POST', '/v1/auth/session', signedHeaders(writer, 'POST', '/v1/auth/session', extra), extra)).status).toBe(400)
  })
})

describe('the session table', () => {
  const ephemeral = () => beginHttpSession().ephemeral.publicKey
  it('holds its bound: the oldest session is dropped first, and a client over its own cap drops its own oldest', () => {
    const table = new HttpSessionTable({ cluster: '', node: 'n' }, { maxSessions: 4, maxSessionsPerClient: 2, ttlMs: TTL })
    const [a, b, c] = [generateKeyPair(), generateKeyPair(), generateKeyPair()]
    const a1 = table.open(a.publicKey, ephemeral(), 0).session
    const b1 = table.open(b.publicKey, ephemeral(), 1).session
    // a opens more than its cap: only its own oldest goes.
    table.open(a.publicKey, ephemeral(), 2)
    table.open(a.publicKey, ephemeral(), 3)
    expect(table.get(a1, 4)).toBeUndefined()
    expect(table.get(b1, 4)).toBeDefined()
    expect(table.size).toBe(3)
    table.open(c.publicKey, ephemeral(), 4)
    table.open(c.publicKey, ephemeral(), 5) // table full (4): the oldest of all (b1) goes
    expect(table.size).toBe(4)
    expect(table.get(b1, 6)).toBeUndefined()
  })

  it('without the per-client cap one client flushes everyone else out (the attack the cap stops)', () => {
    const victim = generateKeyPair()
    const flooder = generateKeyPair()
    for (const perClient of [4, 100]) {
      const table = new HttpSessionTable({ cluster: '', node: 'n' }, { maxSessions: 100, maxSessionsPerClient: perClient, ttlMs: TTL })
      const kept = table.open(victim.publicKey, ephemeral(), 0).session
      for (let i = 0; i < 100; i++) table.open(flooder.publicKey, ephemeral(), 1)
      expect(table.get(kept, 2) !== undefined, `cap ${perClient}`).toBe(perClient === 4)
    }
  })
})

describe('member MACs on forwarded requests', () => {
  const members = new MemberMacKeys(memberKey.secretKey)
  const forgedMacs = new MemberMacKeys(stranger.secretKey)
  const leader = toHex(nodeKey.publicKey)
  function forward(macs: MemberMacKeys, forClient: string, method: string, path: string, body?: Record<string, unknown>, extra: Record<string, string> = {}) {
    const { operation } = describeRequest(method, new URL(path, 'http://x').pathname, body)!
    return { 'synod-forwarded': '1', 'synod-forwarded-for': forClient, ...macs.headers(leader, operation, CLUSTER, now()), ...extra }
  }

  it('a member forwards with its MAC and the client role applies', async () => {
    seen.length = 0
    expect((await raw(node.endpoint, 'GET', '/v1/kv/pub%2Fa', forward(members, hex(reader), 'GET', '/v1/kv/pub%2Fa'))).status).toBe(200)
    expect(seen).toMatchObject([{ call: 'get', caller: { client: hex(reader), via: 'member-1' } }])
    expect((await raw(node.endpoint, 'GET', '/v1/kv/app%2Fx', forward(members, hex(reader), 'GET', '/v1/kv/app%2Fx'))).status).toBe(403)
    // A forwarded read is one use only (the member's (session, timestamp) in the replay cache).
    const once = forward(members, hex(reader), 'GET', '/v1/kv/pub%2Fb')
    expect((await raw(node.endpoint, 'GET', '/v1/kv/pub%2Fb', once)).status).toBe(200)
    expect(await raw(node.endpoint, 'GET', '/v1/kv/pub%2Fb', once)).toMatchObject({ status: 401, body: { error: 'REPLAYED' } })
  })

  it('refuses a non-member, a MAC under a wrong key, and a client naming Synod-Forwarded-For; with the member MAC off anyone acts as the admin', async () => {
    // A non-member's own key: 403.
    const outsider = { ...forward(forgedMacs, hex(admin), 'DELETE', '/v1/members/x') }
    expect((await raw(node.endpoint, 'DELETE', '/v1/members/x', outsider)).status).toBe(403)
    // Claiming to be the member, with a MAC under the wrong key: 401.
    const claimed = { ...outsider, 'synod-member-key': toHex(memberKey.publicKey) }
    expect(await raw(node.endpoint, 'DELETE', '/v1/members/x', claimed)).toMatchObject({ status: 401, body: { error: 'BAD_MEMBER_MAC' } })
    // A client with a valid signature of its own cannot name another client.
    const asClient = { ...signedHeaders(reader, 'DELETE', '/v1/members/x'), 'synod-forwarded-for': hex(admin) }
    expect((await raw(node.endpoint, 'DELETE', '/v1/members/x', asClient)).status).toBe(403)
    seen.length = 0
    const off = await fresh({ disabled: ['member-mac'] })
    expect((await raw(off.endpoint, 'DELETE', '/v1/members/x', { ...forward(forgedMacs, hex(admin), 'DELETE', '/v1/members/x'), 'synod-member-key': toHex(memberKey.publicKey) })).status).toBe(200)
    expect(seen).toMatchObject([{ call: 'removeMember', caller: { client: hex(admin) } }])
  })

  it("the leader skips re-verifying a forwarded client signature only with a valid member MAC (and never under a byzantine protocol)", async () => {
    const body = { value: 'v' }
    const good = signedHeaders(writer, 'PUT', '/v1/kv/app%2Fk', body)
    const bad = { ...good, 'synod-signature': 'ab'.repeat(64) }
    // Straight from a client: a bad signature is refused.
    expect(await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', bad, body)).toMatchObject({ status: 401, body: { error: 'BAD_SIGNATURE' } })
    // With a valid member MAC (Raft): the member checked it at its edge, the leader trusts its word and proposes the envelope.
    seen.length = 0
    expect((await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', forward(members, hex(writer), 'PUT', '/v1/kv/app%2Fk', body, good), body)).status).toBe(200)
    expect(seen[0]?.caller).toMatchObject({ client: hex(writer), by: 'signature', via: 'member-1' })
    expect(seen[0]?.caller?.envelope).toBeInstanceOf(Uint8Array)
    // An invalid member MAC does not buy the skip.
    const badMac = { ...forward(members, hex(writer), 'PUT', '/v1/kv/app%2Fk', body, bad), 'synod-member-mac': '00'.repeat(32) }
    expect(await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', badMac, body)).toMatchObject({ status: 401, body: { error: 'BAD_MEMBER_MAC' } })
    // The forwarded client must be the signer.
    expect((await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', forward(members, hex(admin), 'PUT', '/v1/kv/app%2Fk', body, good), body)).status).toBe(400)
    // Byzantine: re-verified even with a valid member MAC.
    const byzantine = await fresh({ reverify: true })
    expect(await raw(byzantine.endpoint, 'PUT', '/v1/kv/app%2Fk', forward(members, hex(writer), 'PUT', '/v1/kv/app%2Fk', body, bad), body)).toMatchObject({
      status: 401,
      body: { error: 'BAD_SIGNATURE' },
    })
    expect((await raw(byzantine.endpoint, 'PUT', '/v1/kv/app%2Fk', forward(members, hex(writer), 'PUT', '/v1/kv/app%2Fk', body, signedHeaders(writer, 'PUT', '/v1/kv/app%2Fk', body)), body)).status).toBe(200)
  })

  it("a forwarded session may name only the forwarded client's own signed session", async () => {
    const body = { value: 'v' }
    const own = forward(members, hex(writer), 'PUT', '/v1/kv/app%2Fk', body, { 'synod-client-id': `${hex(writer)}:3`, 'synod-client-seq': '5' })
    seen.length = 0
    expect((await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', own, body)).status).toBe(200)
    expect(seen[0]?.caller?.session).toEqual({ client: `${hex(writer)}:3`, seq: 5 })
    const foreign = forward(members, hex(writer), 'PUT', '/v1/kv/app%2Fk', body, { 'synod-client-id': `${hex(admin)}:0`, 'synod-client-seq': '5' })
    expect(await raw(node.endpoint, 'PUT', '/v1/kv/app%2Fk', foreign, body)).toMatchObject({ status: 400, body: { error: 'BAD_SESSION' } })
  })
})

describe('client fallbacks', () => {
  it('re-opens transparently when the node forgot the session, and the retried write runs once', async () => {
    // A table of one session: another client's open drops ours, as a restart or expiry would.
    const n = await fresh({ limits: { maxSessions: 1, maxSessionsPerClient: 1 } })
    const client = new NodeSynodClient(n.endpoint, { timeoutMs: 5000, signer: createSigner(writer.secretKey), cluster: CLUSTER })
    await client.put('app/a', '1')
    await open(admin, n.endpoint)
    seen.length = 0
    await client.put('app/a', '2')
    expect(client.sessionOpens).toBe(2)
    expect(client.authMode).toBe('sessions')
    // The refused attempt never reached the service; the retry did, once.
    expect(seen.map((s) => s.call)).toEqual(['put'])
  })

  it('falls back to signing every request against a node without sessions (404)', async () => {
    const open = createHttpApi(service, { maxKeyBytes: 64, maxValueBytes: 64 })
    const address = await listen(open, '127.0.0.1', 0)
    try {
      const client = new NodeSynodClient(`127.0.0.1:${address.port}`, { timeoutMs: 5000, signer: createSigner(writer.secretKey) })
      await client.put('app/a', '1')
      await client.put('app/a', '2')
      expect(client.authMode).toBe('signatures')
      expect(client.sessionOpens).toBe(1)
      expect(client.lastEnvelope).toBeInstanceOf(Uint8Array)
    } finally {
      await new Promise<void>((resolve) => open.close(() => resolve()))
    }
  })

  it('reports a refused open (no role) as the error it is', async () => {
    const client = new NodeSynodClient(node.endpoint, { timeoutMs: 5000, signer: createSigner(stranger.secretKey), cluster: CLUSTER })
    const error = await client.get('app/a').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SynodHttpError)
    expect((error as SynodHttpError).status).toBe(403)
  })
})
