// Issue 12 §8–9 on real processes: a 4-node PBFT cluster with authentication on
// executes only client-signed requests (every replica verifies the client's
// signature; a session-MAC'd write is refused and the client falls back to
// signing, ADR 0011), and `synod kv … --verify` accepts only the certificate of the
// request it signed: a stale answer (the attack: an older, valid certificate of
// the same key's get) and another client's answer are rejected.
import { beginHttpSession, finishHttpSession } from '@synod/client'
import { clientIdOf, signClientRequest, toHex, utf8 } from '@synod/core'
import { kvCommands } from '@synod/kv'
import { createSigner, keyPairFromSecret, sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { readConfigFile, validateConfig } from '../src/config.js'
import { type KvResponse, type SynodClient, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import { verifyAnswer } from '../src/verify.js'
import { describeRequest } from '../src/auth/operations.js'
import { useLocalCluster } from './local-cluster.js'

const adminKeys = keyPairFromSecret(sha256(utf8('pbft-signed-test:admin')))
const { nodes } = useLocalCluster('pbft', 4, 'synod-pbft-signed-', {
  security: { admins: [clientIdOf(adminKeys.publicKey)] },
  credentials: { signer: createSigner(adminKeys) },
})

function signedClient(endpoint: string, secret: string): SynodClient {
  return new NodeSynodClient(endpoint, { timeoutMs: 15_000, signer: createSigner(keyPairFromSecret(sha256(utf8(secret)))) })
}

async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (i >= 20 || (error instanceof SynodHttpError && error.status < 500)) throw error
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

/** Open a session as the admin and send one MAC-authenticated write: what a byzantine cluster must refuse. */
async function macWrite(endpoint: string): Promise<{ status: number; error: unknown }> {
  const post = async (path: string, headers: Record<string, string>, body: unknown) => {
    const res = await fetch(`http://${endpoint}${path}`, { method: path.endsWith('session') ? 'POST' : 'PUT', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  const opening = beginHttpSession()
  const timestamp = Date.now()
  const signed = signClientRequest(createSigner(adminKeys), { session: 9, timestamp, operation: opening.operation }, '')
  const opened = await post('/v1/auth/session', { 'synod-client-key': toHex(signed.client), 'synod-session': '9', 'synod-timestamp': String(timestamp), 'synod-signature': toHex(signed.signature) }, opening.body)
  const session = finishHttpSession(opening, opened.body, adminKeys.publicKey, '', Date.now())
  const res = await post('/v1/kv/balance', session.headers(kvCommands.put('balance', 'mac'), 9, Date.now()), { value: 'mac' })
  return { status: res.status, error: res.body.error }
}

describe('4-node PBFT cluster with authentication on', () => {
  it('answers signed requests with certificates bound to them; stale and foreign certificates fail verification', async () => {
    const members = validateConfig(readConfigFile(nodes[0]!.configFile).raw).members
    const admin = signedClient(nodes[1]!.http, 'pbft-signed-test:admin')
    // Every replica verifies client signatures (not only the node that took the request).
    const status = (await admin.status()) as { detail?: { clientAuthentication?: string } }
    expect(status.detail?.clientAuthentication).toBe('signed')
    // The client opened an HTTP session (status went through it), but the cluster refuses a MAC-authenticated
    // write (400 SIGNATURE_REQUIRED: replicas must verify the client's signature) and the client signs from then on.
    expect(admin.authMode).toBe('sessions')
    expect(admin.sessionOpens).toBe(1)
    await retrying(() => admin.put('balance', '100'))
    expect(admin.authMode).toBe('signatures')
    expect(admin.sessionOpens).toBe(1)
    expect(await macWrite(nodes[1]!.http)).toMatchObject({ status: 400, error: 'SIGNATURE_REQUIRED' })
    const putEnvelope = admin.lastEnvelope!
    const oldGet: KvResponse = await retrying(() => admin.get('balance'))
    const oldEnvelope = admin.lastEnvelope!
    expect(oldGet.value).toBe('100')
    await retrying(() => admin.put('balance', '0'))
    const newGet = await retrying(() => admin.get('balance'))
    const newEnvelope = admin.lastEnvelope!
    expect(newGet.value).toBe('0')

    expect(verifyAnswer(newEnvelope, newGet, members).signers.length).toBeGreaterThanOrEqual(2)
    expect(verifyAnswer(oldEnvelope, oldGet, members).result).toMatchObject({ ok: true, op: 'get' })
    // The replayed answer of issue 12 §9: valid, but for an older request.
    expect(() => verifyAnswer(newEnvelope, oldGet, members)).toThrow()
    expect(() => verifyAnswer(putEnvelope, newGet, members)).toThrow()

    // A range read is a signed, certified read too: its certificate binds the list request and its answer.
    await retrying(() => admin.put('balance-2', '7'))
    const listed = await retrying(() => admin.list('balance'))
    const listEnvelope = admin.lastEnvelope!
    expect(listed.kvs).toMatchObject([{ key: 'balance', value: '0' }, { key: 'balance-2', value: '7', version: 1 }])
    // Revisions are part of the certified result, so every replica agreed on them too.
    expect(listed.kvs![1]!.modRevision).toBe(listed.kvs![1]!.createRevision)
    const certifiedList = verifyAnswer(listEnvelope, listed, members).result
    expect(certifiedList).toMatchObject({ ok: true, op: 'list', keys: ['balance', 'balance-2'] })
    expect(() => verifyAnswer(newEnvelope, listed, members)).toThrow()

    // Another client (granted nothing) is refused at the edge; an unsigned request is refused too.
    const stranger = signedClient(nodes[2]!.http, 'pbft-signed-test:stranger')
    await expect(stranger.get('balance')).rejects.toMatchObject({ status: 403 })
    await expect(new NodeSynodClient(nodes[2]!.http, { timeoutMs: 5000 }).get('balance')).rejects.toMatchObject({ status: 401 })
  }, 180_000)

  it("the protocol's check of a client signature reuses the API's verdict (one ed25519 verification at the node that took the request)", async () => {
    const scrape = async (): Promise<{ cached: number; verified: number }> => {
      const operation = describeRequest('GET', '/metrics')!.operation
      const timestamp = Date.now()
      const signed = signClientRequest(createSigner(adminKeys), { session: 7, timestamp, operation }, '')
      const headers = { 'synod-client-key': toHex(signed.client), 'synod-session': '7', 'synod-timestamp': String(timestamp), 'synod-signature': toHex(signed.signature) }
      const text = await (await fetch(`http://${nodes[0]!.http}/metrics`, { headers })).text()
      const figure = (result: string) => Number(new RegExp(`synod_signature_verifications_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? Number.NaN)
      return { cached: figure('cached'), verified: figure('verified') }
    }
    const before = await scrape()
    const admin = signedClient(nodes[0]!.http, 'pbft-signed-test:admin')
    for (let i = 0; i < 10; i++) await retrying(() => admin.put(`verdicts/${i}`, 'v'))
    const after = await scrape()
    // Each write's signature: verified once by the guard, then found in the cache by PBFT's client check.
    expect(after.cached - before.cached).toBeGreaterThanOrEqual(10)
  }, 60_000)

  it('a read at a past revision is a certified read of the state then', async () => {
    const members = validateConfig(readConfigFile(nodes[0]!.configFile).raw).members
    const admin = signedClient(nodes[2]!.http, 'pbft-signed-test:admin')
    const before = await retrying(() => admin.put('past/k', 'old'))
    await retrying(() => admin.put('past/k', 'new'))
    // The revision is in the signed list command, so the certificate binds it.
    const past = await retrying(() => admin.list('past/', { revision: before.revision! }))
    expect(past.kvs).toMatchObject([{ key: 'past/k', value: 'old', modRevision: before.revision }])
    expect(verifyAnswer(admin.lastEnvelope!, past, members).result).toMatchObject({ ok: true, op: 'list', keys: ['past/k'] })
  }, 60_000)

  it('a lease expires: f + 1 members sign their expiry votes (ADR 0022), no client signature needed', async () => {
    const admin = signedClient(nodes[3]!.http, 'pbft-signed-test:admin')
    const lease = await retrying(() => admin.leaseGrant(1))
    const granted = Date.now()
    await retrying(() => admin.put('leased/k', 'v', { lease: lease.id! }))
    let gone = false
    for (let i = 0; i < 60 && !gone; i++) {
      gone = (await retrying(() => admin.get('leased/k'))).value === null
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 200))
    }
    expect(gone).toBe(true)
    expect(Date.now() - granted).toBeGreaterThanOrEqual(1000)
    await expect(admin.leaseKeepAlive(lease.id!)).rejects.toMatchObject({ status: 404 })
  }, 30_000)
})
