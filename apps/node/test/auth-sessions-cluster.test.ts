// ADR 0011 end to end, with real `synod start` processes on 127.0.0.1: a
// 3-node Raft cluster with authentication on. A client signs once per node
// and MACs its writes through a follower (which vouches for it to the leader
// with a member MAC); a replayed MAC'd write applies once (the client's own
// exactly-once session, vouched for in the log); a restarted node forgot the
// session and the client re-opens it transparently.
import { request } from 'node:http'
import { describe, expect, it } from 'vitest'
import { beginHttpSession, finishHttpSession, type HttpSession } from '@synod/client'
import { clientIdOf, signClientRequest, toHex, utf8 } from '@synod/core'
import { createSigner, keyPairFromSecret, sha256, type KeyPair } from '@synod/crypto'
import { sleep, startNodeProcess, stopNodes, waitReady, type ClusterNode } from '../src/cluster.js'
import { describeRequest } from '../src/auth/operations.js'
import { SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import { useLocalCluster } from './local-cluster.js'

const admin = keyPairFromSecret(sha256(utf8('auth-sessions-cluster:admin')))
const reader = keyPairFromSecret(sha256(utf8('auth-sessions-cluster:reader')))
const adminCreds = { signer: createSigner(admin) }
const { nodes } = useLocalCluster('raft', 3, 'synod-auth-sessions-', { security: { admins: [clientIdOf(admin.publicKey)] }, credentials: adminCreds })

/** Retry while leadership moves (503/504), as a client would; anything else is the answer. */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof SynodHttpError) || (error.status !== 503 && error.status !== 504) || attempt >= 100) throw error
      await sleep(200)
    }
  }
}

async function follower(): Promise<ClusterNode> {
  const status = await retrying(() => new NodeSynodClient(nodes[0]!.http, { timeoutMs: 10_000, ...adminCreds }).status())
  return nodes.find((n) => n.id !== status.leader)!
}

function raw(endpoint: string, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const [host, port] = endpoint.split(':')
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const all = { ...headers, ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }) }
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers: all, agent: false }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += String(c)))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

async function openSession(keys: KeyPair, endpoint: string): Promise<HttpSession> {
  const opening = beginHttpSession()
  const { operation } = describeRequest('POST', '/v1/auth/session', opening.body)!
  const timestamp = Date.now()
  const signed = signClientRequest(createSigner(keys), { session: 7, timestamp, operation }, '')
  const headers = { 'synod-client-key': toHex(signed.client), 'synod-session': '7', 'synod-timestamp': String(timestamp), 'synod-signature': toHex(signed.signature) }
  const res = await raw(endpoint, 'POST', '/v1/auth/session', headers, opening.body)
  expect(res.status, JSON.stringify(res.body)).toBe(200)
  return finishHttpSession(opening, res.body, keys.publicKey, '', Date.now())
}

describe('HTTP sessions on a 3-node Raft cluster with authentication on', () => {
  it('writes through a follower with one session; a replayed MAC-authenticated write applies once; roles hold', async () => {
    const edge = await follower()
    const client = new NodeSynodClient(edge.http, { timeoutMs: 15_000, ...adminCreds })
    for (let i = 0; i < 10; i++) await retrying(() => client.append('ledger', `entry-${i}`))
    expect(client.sessionOpens).toBe(1)
    expect(client.authMode).toBe('sessions')
    const ledger = await retrying(() => client.get('ledger'))
    expect(JSON.parse(ledger.value!)).toHaveLength(10)
    // A range read through the follower with the same session (its MAC covers the list parameters); then paging.
    for (const k of ['cfg/a', 'cfg/b', 'cfg/c']) await retrying(() => client.put(k, `v-${k}`))
    const page1 = await retrying(() => client.list('cfg/', { limit: 2 }))
    expect(page1).toMatchObject({ kvs: [{ key: 'cfg/a', value: 'v-cfg/a' }, { key: 'cfg/b', value: 'v-cfg/b' }], more: true })
    expect(await retrying(() => client.list('cfg/', { after: 'cfg/b', keysOnly: true }))).toMatchObject({ keys: ['cfg/c'], more: false })
    expect(await retrying(() => client.list('cfg/', { countOnly: true }))).toMatchObject({ count: 3 })
    expect(client.sessionOpens).toBe(1)

    // The exactly-once session of a MAC'd write is the client's own (`<id>:<session>`, seq = timestamp), vouched for in the log.
    const session = await openSession(admin, edge.http)
    const body = { value: 'pay-100' }
    const headers = session.headers(describeRequest('POST', '/v1/kv/pay/append', body)!.operation, 7, Date.now())
    const first = await retrying(async () => {
      const res = await raw(edge.http, 'POST', '/v1/kv/pay/append', headers, body)
      if (res.status === 503 || res.status === 504) throw new SynodHttpError(res.status, res.body)
      return res
    })
    expect(first).toMatchObject({ status: 200, body: { length: 1 } })
    const replay = await raw(edge.http, 'POST', '/v1/kv/pay/append', headers, body)
    // The replay is ordered again, and the session table answers it with the first result: applied once.
    expect(replay).toMatchObject({ status: 200, body: { length: 1 } })
    expect(JSON.parse((await retrying(() => client.get('pay'))).value!)).toEqual(['pay-100'])

    // A readonly client is held to its role at the follower's edge; the follower serves its reads (Raft follower reads).
    await retrying(() => client.request('POST', '/v1/roles', { client: clientIdOf(reader.publicKey), role: 'readonly' }, {}))
    const readOnly = new NodeSynodClient(edge.http, { timeoutMs: 15_000, signer: createSigner(reader) })
    await expect(readOnly.put('ledger', 'x')).rejects.toMatchObject({ status: 403 })
    // The grant is applied on the follower a little after the leader answered.
    for (let i = 0; (await readOnly.get('ledger').then(() => true, () => false)) === false && i < 50; i++) await sleep(100)
    expect(JSON.parse((await retrying(() => readOnly.get('ledger'))).value!)).toHaveLength(10)
  }, 120_000)

  it('a restarted node has forgotten the session: the client opens a new one and carries on', async () => {
    const edge = await follower()
    const client = new NodeSynodClient(edge.http, { timeoutMs: 15_000, ...adminCreds })
    await retrying(() => client.put('before', '1'))
    expect(client.sessionOpens).toBe(1)
    await stopNodes([edge], 10_000)
    startNodeProcess(edge)
    await waitReady([edge], 90_000)
    await retrying(() => client.put('after', '2'))
    expect(client.sessionOpens).toBe(2)
    expect(client.authMode).toBe('sessions')
    expect((await retrying(() => client.get('after'))).value).toBe('2')
  }, 180_000)
})
