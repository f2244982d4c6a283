// Watches and leases with authentication on (one in-process node): a watch is a signed read of its
// prefix — a role limited to another prefix is refused 403, an unsigned watch 401 — and lease routes
// need write access to every key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientIdOf } from '@synod/core'
import { createSigner, generateKeyPair } from '@synod/crypto'
import { watch, type WatchEvent } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import { startSingleNode, type SingleNode } from './single-node.js'

const admin = generateKeyPair()
const reader = generateKeyPair() // readonly on pub/
let single: SingleNode

beforeAll(async () => {
  single = await startSingleNode({ authentication: true, admins: [clientIdOf(admin.publicKey)], insecureAllowUnauthenticated: undefined })
  const client = new NodeSynodClient(single.node.httpAddress, { timeoutMs: 10_000, signer: createSigner(admin.secretKey) })
  await client.request('POST', '/v1/roles', { client: clientIdOf(reader.publicKey), role: 'readonly', prefix: 'pub/' }, {})
}, 60_000)
afterAll(async () => await single.close())

async function firstFailure(prefix: string, keys?: typeof reader): Promise<string> {
  const controller = new AbortController()
  let failure = ''
  await watch({
    endpoints: [single.node.httpAddress],
    prefix,
    ...(keys === undefined ? {} : { credentials: { signer: createSigner(keys.secretKey) } }),
    signal: controller.signal,
    onEvents: () => undefined,
    onDisconnect: (_at, error) => {
      failure = error?.message ?? ''
      controller.abort()
    },
  })
  return failure
}

describe('watches and leases with authentication on', () => {
  it('a signed watch within the role streams; outside it 403; unsigned 401', async () => {
    const adminClient = new NodeSynodClient(single.node.httpAddress, { timeoutMs: 10_000, signer: createSigner(admin.secretKey) })
    const seen: WatchEvent[] = []
    const controller = new AbortController()
    const start = await adminClient.put('pub/a', '1')
    const done = watch({
      endpoints: [single.node.httpAddress],
      prefix: 'pub/',
      fromRevision: start.revision!,
      credentials: { signer: createSigner(reader.secretKey) },
      signal: controller.signal,
      onEvents: (e) => seen.push(...e),
    })
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 25))
    controller.abort()
    await done
    expect(seen.map((e) => e.key)).toEqual(['pub/a'])
    expect(await firstFailure('secret/', reader)).toMatch(/^watch answered 403/)
    expect(await firstFailure('pub/')).toMatch(/^watch answered 401/)
  })

  it('leases need write access to every key: a prefix-limited reader is refused, the admin is not', async () => {
    const readerClient = new NodeSynodClient(single.node.httpAddress, { timeoutMs: 10_000, signer: createSigner(reader.secretKey) })
    await expect(readerClient.leaseGrant(10)).rejects.toMatchObject({ status: 403 })
    const adminClient = new NodeSynodClient(single.node.httpAddress, { timeoutMs: 10_000, signer: createSigner(admin.secretKey) })
    const lease = await adminClient.leaseGrant(10)
    await adminClient.put('pub/leased', 'x', { lease: lease.id! })
    expect(await adminClient.leaseRevoke(lease.id!)).toMatchObject({ id: lease.id, deleted: 1 })
    await expect(adminClient.leaseKeepAlive(lease.id!)).rejects.toMatchObject({ status: 404, body: { error: 'LEASE_NOT_FOUND' } })
  })
})
