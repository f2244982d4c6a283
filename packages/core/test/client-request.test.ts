import { generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  CLIENT_REQUEST_DOMAIN,
  clientIdOf,
  clientRequestStatement,
  decodeSignedClientRequest,
  encodeCanonical,
  encodeSignedClientRequest,
  InvalidMessageError,
  isSignedClientRequest,
  signClientRequest,
  utf8,
  verifyClientRequest,
  type Signer,
  type Verifier,
} from '../src/index.js'

// A node:crypto ed25519 signer, so core's tests need no other package.
function testSigner(): Signer {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)
  return { publicKey: new Uint8Array(raw), sign: (m) => new Uint8Array(sign(null, m, privateKey)) }
}
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const verifier: Verifier = {
  verify: (pk, m, s) => verify(null, m, createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pk]), format: 'der', type: 'spki' }), s),
}

describe('signed client requests', () => {
  const signer = testSigner()
  const request = signClientRequest(signer, { session: 2, timestamp: 1_700_000_000_123, operation: utf8('put x 1') }, 'prod')

  it('round-trips and verifies for its cluster', () => {
    const bytes = encodeSignedClientRequest(request)
    expect(isSignedClientRequest(bytes)).toBe(true)
    const decoded = decodeSignedClientRequest(bytes)
    expect(decoded).toEqual(request)
    expect(verifyClientRequest(verifier, decoded, 'prod')).toBe(true)
    expect(clientIdOf(decoded.client)).toMatch(/^[0-9a-f]{64}$/)
  })

  it('rejects a signature for another cluster, timestamp, session, operation or key', () => {
    expect(verifyClientRequest(verifier, request, 'staging')).toBe(false)
    expect(verifyClientRequest(verifier, { ...request, timestamp: request.timestamp + 1 }, 'prod')).toBe(false)
    expect(verifyClientRequest(verifier, { ...request, session: 3 }, 'prod')).toBe(false)
    expect(verifyClientRequest(verifier, { ...request, operation: utf8('put x 2') }, 'prod')).toBe(false)
    expect(verifyClientRequest(verifier, { ...request, client: testSigner().publicKey }, 'prod')).toBe(false)
    expect(verifyClientRequest(verifier, { ...request, signature: request.signature.slice(0, 63) }, 'prod')).toBe(false)
  })

  it('rejects malformed envelopes with a named field', () => {
    const good = { v: 1, c: request.client, n: 2, t: request.timestamp, o: request.operation, s: request.signature }
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...good, v: 2 }, /version/],
      [{ ...good, c: new Uint8Array(31) }, /client key/],
      [{ ...good, s: new Uint8Array(65) }, /signature/],
      [{ ...good, t: 0 }, /timestamp/],
      [{ ...good, n: 70_000 }, /session/],
      [{ ...good, x: 1 }, /unknown field/],
      [{ v: 1, c: request.client }, /session/],
    ]
    for (const [fields, message] of bad) expect(() => decodeSignedClientRequest(encodeCanonical(fields)), JSON.stringify(Object.keys(fields))).toThrow(message)
    expect(() => decodeSignedClientRequest(utf8('not cbor'))).toThrow(InvalidMessageError)
    expect(isSignedClientRequest(encodeCanonical({ op: 'get', key: 'x' }))).toBe(false)
  })

  it('refuses to sign an out-of-range session or timestamp', () => {
    expect(() => signClientRequest(signer, { session: -1, timestamp: 1, operation: utf8('x') }, '')).toThrow(/session/)
    expect(() => signClientRequest(signer, { session: 0, timestamp: 0, operation: utf8('x') }, '')).toThrow(/timestamp/)
  })
})

describe('clientRequestStatement', () => {
  it('is canonical CBOR of [domain, cluster, client, session, timestamp, operation] for every shape', () => {
    const clusters = ['', 'prod', 'a'.repeat(23), 'b'.repeat(24), 'c'.repeat(300), 'grüße', '名前']
    const numbers = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 1_764_000_000_000, Number.MAX_SAFE_INTEGER]
    const operations = [0, 1, 23, 24, 255, 256, 70_000].map((n) => Uint8Array.from({ length: n }, (_, i) => i & 0xff))
    const client = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
    for (const cluster of clusters)
      for (const session of [0, 7, 65_535])
        for (const timestamp of numbers)
          for (const operation of operations) {
            if (operation.byteLength > 256 && (session !== 7 || timestamp !== 65_536)) continue // the long operation once per cluster
            const expected = encodeCanonical([CLIENT_REQUEST_DOMAIN, cluster, client, session, timestamp, operation])
            expect(clientRequestStatement({ client, session, timestamp, operation }, cluster)).toEqual(expected)
          }
  })

  it('falls back to the generic encoder for shapes outside the fast path (and still matches it)', () => {
    const client = new Uint8Array(32)
    for (const [session, timestamp] of [[-1, 5], [1.5, 5], [1, -3], [1, 2.25]] as const) {
      const operation = utf8('x')
      expect(clientRequestStatement({ client, session, timestamp, operation }, 'c')).toEqual(encodeCanonical([CLIENT_REQUEST_DOMAIN, 'c', client, session, timestamp, operation]))
    }
  })

  it('a transient statement has the same bytes, in a buffer the next transient call reuses', () => {
    const client = new Uint8Array(32).fill(5)
    const a = { client, session: 3, timestamp: 1_764_000_000_000, operation: utf8('a'.repeat(300)) }
    const b = { client, session: 0, timestamp: 1, operation: utf8('b') }
    const first = clientRequestStatement(a, 'cluster', true)
    expect(first).toEqual(clientRequestStatement(a, 'cluster'))
    const second = clientRequestStatement(b, 'cluster', true)
    expect(second).toEqual(clientRequestStatement(b, 'cluster'))
    // The reuse is the point (no allocation per MAC) and the contract: a caller must not keep it.
    expect(second.buffer).toBe(first.buffer)
  })
})

