// @synod/client signs (or MACs) the operation bytes it derives from each request; the node derives them
// again from what it receives (auth/operations.ts) and refuses a mismatch. The two derivations are separate
// code (the client is browser-safe and cannot import the node's), so this checks them against each other
// for every route — and that a mismatch would be caught (a changed body gives other bytes).
import { operationOf } from '@synod/client'
import { toHex } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { describeRequest } from '../src/auth/operations.js'

type Case = [method: string, path: string, body?: Record<string, unknown>]

const cases: Case[] = [
  ['GET', '/v1/kv/a%2Fb'],
  ['PUT', '/v1/kv/k', { value: 'v' }],
  ['PUT', '/v1/kv/k', { value: 'v', lease: 42 }],
  ['DELETE', '/v1/kv/k'],
  ['POST', '/v1/kv/k/cas', { expected: null, value: 'v' }],
  ['POST', '/v1/kv/k/cas', { expected: 'old', value: 'new' }],
  ['POST', '/v1/kv/k/append', { value: 'x' }],
  ['GET', '/v1/kv?prefix=p%2F'],
  ['GET', '/v1/kv?prefix=p%2F&after=p%2Fa&limit=5&keysOnly=true'],
  ['GET', '/v1/kv?prefix=&start=a&end=m&countOnly=true&consistency=stale'],
  ['GET', '/v1/kv?prefix=p%2F&revision=42&limit=3'],
  [
    'POST',
    '/v1/txn',
    {
      compare: [
        { key: 'lock/1', target: 'createRevision', result: '=', value: 17 },
        { key: 'c', target: 'value', result: '!=', value: 'x' },
        { key: 'd', target: 'version', result: '>', value: 0 },
        { key: 'e', target: 'modRevision', result: '<', value: 9 },
      ],
      success: [{ op: 'put', key: 'c', value: '1' }, { op: 'get', key: 'd' }],
      failure: [{ op: 'delete', key: 'e' }],
    },
  ],
  ['POST', '/v1/txn', {}],
  ['GET', '/v1/watch?prefix=jobs%2F'],
  ['POST', '/v1/leases', { ttlSeconds: 5 }],
  ['POST', '/v1/leases/12/keepalive'],
  ['DELETE', '/v1/leases/12'],
  ['POST', '/v1/auth/session', { x25519: 'ab'.repeat(32) }],
  ['GET', '/v1/status'],
  ['GET', '/metrics'],
  ['GET', '/v1/members'],
  ['POST', '/v1/members', { id: 'p', publicKey: 'aa', addrs: ['/ip4/1.2.3.4/tcp/1'], http: '1.2.3.4:80', role: 'learner' }],
  ['DELETE', '/v1/members/p%201'],
  ['POST', '/v1/alarm/disarm'],
  ['GET', '/v1/roles'],
  ['POST', '/v1/roles', { client: 'ab', role: 'readonly', prefix: 'pub/' }],
  ['DELETE', '/v1/roles/ab'],
]

const derive = (method: string, path: string, body: Record<string, unknown> = {}) => {
  const url = new URL(path, 'http://node')
  const client = operationOf(method, url.pathname, body, url.searchParams)
  const server = describeRequest(method, url.pathname, body, url.searchParams)?.operation
  return { client: client === undefined ? undefined : toHex(client), server: server === undefined ? undefined : toHex(server) }
}

describe('client and server derive the same operation bytes', () => {
  it.each(cases)('%s %s', (method, path, body) => {
    const { client, server } = derive(method, path, body)
    expect(server).toBeDefined()
    expect(client).toBe(server)
  })

  it('differs when the request differs (the comparison can fail)', () => {
    const a = derive('POST', '/v1/txn', { compare: [{ key: 'k', target: 'createRevision', result: '=', value: 1 }] })
    const b = derive('POST', '/v1/txn', { compare: [{ key: 'k', target: 'createRevision', result: '=', value: 2 }] })
    expect(a.client).not.toBe(b.server)
  })
})
