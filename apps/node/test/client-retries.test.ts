// @synod/client against a real node (in-process, one voter): a write whose answer is lost is retried on
// the next endpoint with the same exactly-once session and runs once — and runs twice when the retry is
// numbered anew (what a client without sessions would do), which is what the session prevents. Also the
// typed API end to end over fetch (the browser transport) and node:http.
import { LeaseSession, Mutex, NetworkError, SessionEndedError, SynodClient, type Transport } from '@synod/client'
import { NodeSynodClient, nodeTransport } from '@synod/client/node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SingleNode, startSingleNode } from './single-node.js'

/** node:http, except that the first append's answer is lost after the node ran it (a reset connection). */
function losingFirstAnswer(renumberRetries: boolean): Transport {
  const inner = nodeTransport()
  let lost = false
  return {
    async send(request) {
      if (!request.url.endsWith('/append')) return inner.send(request)
      if (!lost) {
        lost = true
        await inner.send(request)
        throw new NetworkError('socket hang up (test: the answer was lost)', 'ECONNRESET')
      }
      // Defence off: the retry carries a new sequence number, so the node cannot tell it is a repeat.
      const headers = renumberRetries ? { ...request.headers, 'synod-client-seq': String(Number(request.headers['synod-client-seq']) + 1) } : request.headers
      return inner.send({ ...request, headers })
    },
    stream: (request) => inner.stream(request),
  }
}

describe('@synod/client against a node', () => {
  let single: SingleNode
  beforeAll(async () => {
    single = await startSingleNode()
  }, 30_000)
  afterAll(() => single.close(), 30_000)

  it('retries a write whose answer was lost with the same session: it runs once', async () => {
    const at = single.node.httpAddress
    // The same node under two entries: the retry goes to "the next endpoint".
    const client = new SynodClient([at, at], { transport: losingFirstAnswer(false) })
    const answer = await client.append('ledger/once', 'pay-100')
    expect(answer.length).toBe(1)
    expect(JSON.parse((await client.get('ledger/once')).value!)).toEqual(['pay-100'])
  }, 30_000)

  it('defence off — a retry numbered anew runs twice', async () => {
    const at = single.node.httpAddress
    const client = new SynodClient([at, at], { transport: losingFirstAnswer(true) })
    await client.append('ledger/twice', 'pay-100')
    expect(JSON.parse((await client.get('ledger/twice')).value!)).toEqual(['pay-100', 'pay-100'])
  }, 30_000)

  it('a lease session notices its lease is gone (revoked elsewhere): done settles, a waiting lock gives up', async () => {
    const client = new SynodClient(single.node.httpAddress)
    const holder = await LeaseSession.open(client, { ttlSeconds: 30 })
    const waiter = await LeaseSession.open(client, { ttlSeconds: 30, keepAliveEveryMs: 100 })
    await new Mutex(holder, 'locks/revoked/').lock()
    const waiting = new Mutex(waiter, 'locks/revoked/').lock().catch((e: unknown) => e)
    await new SynodClient(single.node.httpAddress).leaseRevoke(waiter.lease) // an operator, or the lease ran out
    expect(await waiter.done).toBe('expired')
    expect(await waiting).toBeInstanceOf(SessionEndedError)
    await holder.close()
    expect(holder.ended).toBe('closed')
  }, 30_000)

  it("a lock asked for after its session's lease is gone fails with SessionEndedError, not the raw 404", async () => {
    // The race above on a busy machine: the revoke landed before the waiter's key was put.
    const session = await LeaseSession.open(new SynodClient(single.node.httpAddress), { ttlSeconds: 30, keepAliveEveryMs: 60_000 })
    await new SynodClient(single.node.httpAddress).leaseRevoke(session.lease)
    expect(await new Mutex(session, 'locks/gone/').lock().catch((e: unknown) => e)).toBeInstanceOf(SessionEndedError)
    await session.close().catch(() => undefined)
  }, 30_000)

  it('the typed API over fetch and over node:http: put with a lease, txn, pages, revoke', async () => {
    for (const client of [new SynodClient(single.node.httpAddress), new NodeSynodClient(single.node.httpAddress)]) {
      const prefix = `typed/${client instanceof NodeSynodClient ? 'node' : 'fetch'}/`
      const lease = await client.leaseGrant(30)
      await client.put(`${prefix}a`, '1', { lease: lease.id! })
      await client.put(`${prefix}b`, '2')
      await client.put(`${prefix}c`, '3')
      const created = (await client.get(`${prefix}a`)).createRevision!
      const txn = await client.txn({
        compare: [{ key: `${prefix}a`, target: 'createRevision', result: '=', value: created }],
        success: [{ op: 'put', key: `${prefix}b`, value: 'guarded' }],
      })
      expect(txn.succeeded).toBe(true)
      const keys: string[] = []
      for await (const page of client.pages(prefix, { limit: 2 })) keys.push(...page.kvs!.map((kv) => `${kv.key}=${kv.value}`))
      expect(keys).toEqual([`${prefix}a=1`, `${prefix}b=guarded`, `${prefix}c=3`])
      expect((await client.list(prefix, { countOnly: true })).count).toBe(3)
      await client.leaseRevoke(lease.id!)
      expect((await client.get(`${prefix}a`)).value).toBeNull()
      await expect(client.leaseKeepAlive(lease.id!)).rejects.toMatchObject({ status: 404, body: { error: 'LEASE_NOT_FOUND' } })
      client.close()
    }
  }, 30_000)
})
