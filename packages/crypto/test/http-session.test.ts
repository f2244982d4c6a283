import { ConfigError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { generateEphemeralKeyPair, generateKeyPair, httpSessionKey } from '../src/index.js'
import { x25519Backend } from '../src/http-session.js'

const client = generateKeyPair().publicKey
const context = (c: Uint8Array, n: Uint8Array) => ({ cluster: 'c1', client, node: 'node-1', session: '00ff', clientEphemeral: c, nodeEphemeral: n })

describe('httpSessionKey', () => {
  it('client and node derive the same 32-byte key', () => {
    const c = generateEphemeralKeyPair()
    const n = generateEphemeralKeyPair()
    const k1 = httpSessionKey(c.secretKey, n.publicKey, context(c.publicKey, n.publicKey))
    const k2 = httpSessionKey(n.secretKey, c.publicKey, context(c.publicKey, n.publicKey))
    expect(k1).toEqual(k2)
    expect(k1.byteLength).toBe(32)
  })

  it('binds every context field: changing one gives another key', () => {
    const c = generateEphemeralKeyPair()
    const n = generateEphemeralKeyPair()
    const base = context(c.publicKey, n.publicKey)
    const key = (ctx: typeof base) => httpSessionKey(n.secretKey, c.publicKey, ctx)
    const k = key(base)
    expect(key({ ...base, cluster: 'c2' })).not.toEqual(k)
    expect(key({ ...base, client: generateKeyPair().publicKey })).not.toEqual(k)
    expect(key({ ...base, node: 'node-2' })).not.toEqual(k)
    expect(key({ ...base, session: '00fe' })).not.toEqual(k)
    expect(key({ ...base, nodeEphemeral: generateEphemeralKeyPair().publicKey })).not.toEqual(k)
  })

  it('a man in the middle who swaps the node ephemeral shares a key with the client only, never with the node', () => {
    const c = generateEphemeralKeyPair()
    const n = generateEphemeralKeyPair()
    const mitm = generateEphemeralKeyPair()
    // The client got the MITM's key instead of the node's.
    const clientKey = httpSessionKey(c.secretKey, mitm.publicKey, context(c.publicKey, mitm.publicKey))
    const nodeKey = httpSessionKey(n.secretKey, c.publicKey, context(c.publicKey, n.publicKey))
    const mitmWithClient = httpSessionKey(mitm.secretKey, c.publicKey, context(c.publicKey, mitm.publicKey))
    expect(mitmWithClient).toEqual(clientKey)
    expect(clientKey).not.toEqual(nodeKey)
    // The node's key needs the client's ephemeral secret (or the node's): the MITM's view does not give it.
    expect(httpSessionKey(mitm.secretKey, n.publicKey, context(c.publicKey, n.publicKey))).not.toEqual(nodeKey)
  })

  it('the node:crypto and noble backends interoperate (a browser client with a node server)', () => {
    const node = x25519Backend('node')
    const noble = x25519Backend('noble')
    for (let i = 0; i < 5; i++) {
      const a = node.generate()
      const b = noble.generate()
      expect(noble.generate().publicKey.byteLength).toBe(32)
      expect(node.shared(a.secretKey, b.publicKey)).toEqual(noble.shared(b.secretKey, a.publicKey))
      expect(noble.shared(a.secretKey, b.publicKey)).toEqual(node.shared(b.secretKey, a.publicKey))
    }
  })

  it('refuses wrong lengths and low-order points', () => {
    const n = generateEphemeralKeyPair()
    const c = generateEphemeralKeyPair()
    expect(() => httpSessionKey(n.secretKey, new Uint8Array(31), context(c.publicKey, n.publicKey))).toThrow(ConfigError)
    expect(() => httpSessionKey(new Uint8Array(31), c.publicKey, context(c.publicKey, n.publicKey))).toThrow(ConfigError)
    // u = 0 and u = 1 are low-order points: the shared secret is all zero.
    for (const u of [0, 1]) {
      const low = new Uint8Array(32)
      low[0] = u
      expect(() => httpSessionKey(n.secretKey, low, context(low, n.publicKey))).toThrow(ConfigError)
    }
  })
})
