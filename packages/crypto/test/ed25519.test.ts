import { createHash } from 'node:crypto'
import { fromHex, toHex, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { createSigner, createVerifier, keyPairFromSecret, nodeHasEd25519, type Ed25519BackendName } from '../src/index.js'

// RFC 8032 §7.1 test vectors (TEST 1, 2, 3 and TEST SHA(abc)).
const rfc8032 = [
  {
    name: 'TEST 1 (empty message)',
    secretKey: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    secretKey: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    name: 'TEST 3 (two bytes)',
    secretKey: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
  {
    name: 'TEST SHA(abc) (64-byte message)',
    secretKey: '833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42',
    publicKey: 'ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf',
    message: createHash('sha512').update('abc').digest('hex'),
    signature:
      'dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704',
  },
]

const backends: Ed25519BackendName[] = ['noble', 'node']

it('node:crypto has ed25519 on this host (so the node backend is really tested)', () => {
  expect(nodeHasEd25519).toBe(true)
})

describe.each(backends)('%s backend', (backend) => {
  describe.each(rfc8032)('RFC 8032 $name', (vector) => {
    const secretKey = fromHex(vector.secretKey)
    const message = fromHex(vector.message)

    it('derives the public key and the exact signature', () => {
      const signer = createSigner(secretKey, { backend })
      expect(signer.backend).toBe(backend)
      expect(toHex(signer.publicKey)).toBe(vector.publicKey)
      expect(toHex(signer.sign(message))).toBe(vector.signature)
    })

    it('verifies the vector signature and rejects a flipped bit anywhere', () => {
      const verifier = createVerifier({ backend, cacheSize: 0 })
      const publicKey = fromHex(vector.publicKey)
      const signature = fromHex(vector.signature)
      expect(verifier.verify(publicKey, message, signature)).toBe(true)
      for (const position of [0, 31, 32, 63]) {
        const bad = Uint8Array.from(signature)
        bad[position]! ^= 0x01
        expect(verifier.verify(publicKey, message, bad)).toBe(false)
      }
      const otherMessage = Uint8Array.from([...message, 0])
      expect(verifier.verify(publicKey, otherMessage, signature)).toBe(false)
      if (message.byteLength > 0) {
        const flipped = Uint8Array.from(message)
        flipped[0]! ^= 0x80
        expect(verifier.verify(publicKey, flipped, signature)).toBe(false)
      }
      const otherKey = Uint8Array.from(publicKey)
      otherKey[0]! ^= 0x01
      expect(verifier.verify(otherKey, message, signature)).toBe(false)
    })
  })

  it('returns false, never throws, on malformed input', () => {
    const verifier = createVerifier({ backend })
    const { publicKey, secretKey } = keyPairFromSecret(new Uint8Array(32).fill(7))
    const message = utf8('hello')
    const signature = createSigner(secretKey, { backend }).sign(message)
    const garbage: Array<[unknown, unknown, unknown]> = [
      [publicKey.subarray(0, 31), message, signature],
      [new Uint8Array(33), message, signature],
      [publicKey, message, signature.subarray(0, 63)],
      [publicKey, message, new Uint8Array(65)],
      [new Uint8Array(32).fill(0xff), message, signature], // not a canonical point
      [new Uint8Array(32), message, new Uint8Array(64)],
      [publicKey, 'hello', signature],
      [undefined, message, signature],
      [publicKey, message, null],
      [publicKey, message, Uint8Array.from([...signature.subarray(0, 32), ...new Uint8Array(32).fill(0xff)])], // S ≥ L
    ]
    for (const [key, msg, sig] of garbage) {
      expect(verifier.verify(key as Uint8Array, msg as Uint8Array, sig as Uint8Array)).toBe(false)
    }
    expect(verifier.verify(publicKey, message, signature)).toBe(true)
  })
})

describe('edge cases where OpenSSL alone would differ from noble strict mode', () => {
  const message = utf8('any message at all')
  // Identity point as the public key, R = identity, S = 0: satisfies the cofactorless equation for every message.
  const identityKey = new Uint8Array(32)
  identityKey[0] = 1
  const universalSignature = new Uint8Array(64)
  universalSignature[0] = 1
  // y = p + 1: a non-canonical encoding of the same y as the identity.
  const nonCanonicalKey = new Uint8Array(32).fill(0xff)
  nonCanonicalKey[0] = 0xee
  nonCanonicalKey[31] = 0x7f

  it.each(backends)('%s rejects a small-order public key and a non-canonical one', (backend) => {
    const verifier = createVerifier({ backend, cacheSize: 0 })
    expect(verifier.verify(identityKey, message, universalSignature)).toBe(false)
    expect(verifier.verify(nonCanonicalKey, message, universalSignature)).toBe(false)
  })
})

describe('cross-backend', () => {
  it('noble and node produce identical signatures and accept each other’s', () => {
    const noble = createVerifier({ backend: 'noble', cacheSize: 0 })
    const node = createVerifier({ backend: 'node', cacheSize: 0 })
    for (let i = 0; i < 20; i++) {
      const secretKey = new Uint8Array(32).fill(i + 1)
      const message = utf8(`message ${i} `.repeat(i))
      const fromNoble = createSigner(secretKey, { backend: 'noble' })
      const fromNode = createSigner(secretKey, { backend: 'node' })
      expect(fromNode.publicKey).toEqual(fromNoble.publicKey)
      const signature = fromNoble.sign(message)
      expect(fromNode.sign(message)).toEqual(signature)
      expect(node.verify(fromNoble.publicKey, message, signature)).toBe(true)
      expect(noble.verify(fromNode.publicKey, message, signature)).toBe(true)
    }
  })
})

describe('createSigner', () => {
  it('accepts a KeyPair and checks its public key belongs to the seed', () => {
    const pair = keyPairFromSecret(new Uint8Array(32).fill(3))
    expect(createSigner(pair).publicKey).toEqual(pair.publicKey)
    const other = keyPairFromSecret(new Uint8Array(32).fill(4))
    expect(() => createSigner({ secretKey: pair.secretKey, publicKey: other.publicKey })).toThrow(/publicKey/)
  })

  it('refuses a seed of the wrong length and unknown backends with ConfigError', () => {
    expect(() => createSigner(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'CONFIG' }))
    expect(() => createSigner(new Uint8Array(32), { backend: 'wasm' as 'node' })).toThrow(/unknown ed25519 backend/)
    expect(() => createVerifier({ cacheSize: -1 })).toThrow(/cacheSize/)
  })

  it('auto picks the node backend here', () => {
    expect(createSigner(new Uint8Array(32)).backend).toBe('node')
    expect(createVerifier().backend).toBe('node')
  })
})

describe('verify cache', () => {
  it('answers a repeated (key, message, signature) from the cache, and keys on the message', () => {
    const verifier = createVerifier({ cacheSize: 2 })
    const signer = createSigner(new Uint8Array(32).fill(9))
    const a = utf8('a')
    const b = utf8('b')
    const sigA = signer.sign(a)
    expect(verifier.verify(signer.publicKey, a, sigA)).toBe(true)
    expect(verifier.verify(signer.publicKey, a, sigA)).toBe(true)
    expect(verifier.cacheStats()).toEqual({ hits: 1, misses: 1, size: 1 })
    // Same signature on another message must not hit the cached "true".
    expect(verifier.verify(signer.publicKey, b, sigA)).toBe(false)
    expect(verifier.verify(signer.publicKey, b, sigA)).toBe(false)
    expect(verifier.cacheStats()).toEqual({ hits: 2, misses: 2, size: 2 })
  })

  it('stays bounded, evicting the oldest verdict', () => {
    const verifier = createVerifier({ cacheSize: 3 })
    const signer = createSigner(new Uint8Array(32).fill(10))
    const messages = Array.from({ length: 5 }, (_, i) => utf8(`m${i}`))
    for (const m of messages) verifier.verify(signer.publicKey, m, signer.sign(m))
    expect(verifier.cacheStats().size).toBe(3)
    verifier.verify(signer.publicKey, messages[0]!, signer.sign(messages[0]!))
    expect(verifier.cacheStats().hits).toBe(0) // m0 was evicted
    verifier.verify(signer.publicKey, messages[4]!, signer.sign(messages[4]!))
    expect(verifier.cacheStats().hits).toBe(1)
  })
})
