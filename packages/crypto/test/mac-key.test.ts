import { ConfigError, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { createSigner, hmacSha256, keyPairFromSecret, sharedMacKey } from '../src/index.js'

const alice = keyPairFromSecret(new Uint8Array(32).fill(0xa1))
const bob = keyPairFromSecret(new Uint8Array(32).fill(0xb0))
const carol = keyPairFromSecret(new Uint8Array(32).fill(0xc4))

describe('sharedMacKey', () => {
  it('is symmetric: both sides derive the same 32-byte key', () => {
    const ab = sharedMacKey(alice.secretKey, bob.publicKey)
    const ba = sharedMacKey(bob.secretKey, alice.publicKey)
    expect(ab.byteLength).toBe(32)
    expect(ab).toEqual(ba)
    const message = utf8('prepare v=1 n=7')
    expect(hmacSha256(ab, message)).toEqual(hmacSha256(ba, message))
  })

  it('differs for every other pair, so a third member cannot forge', () => {
    const ab = sharedMacKey(alice.secretKey, bob.publicKey)
    const ac = sharedMacKey(alice.secretKey, carol.publicKey)
    const cb = sharedMacKey(carol.secretKey, bob.publicKey)
    expect(ac).not.toEqual(ab)
    expect(cb).not.toEqual(ab)
    expect(ac).not.toEqual(cb)
  })

  it('is deterministic across calls', () => {
    expect(sharedMacKey(alice.secretKey, bob.publicKey)).toEqual(sharedMacKey(alice.secretKey, bob.publicKey))
  })

  it('rejects wrong lengths and a point not on the curve with ConfigError', () => {
    expect(() => sharedMacKey(alice.secretKey.subarray(1), bob.publicKey)).toThrow(/mySecretKey/)
    expect(() => sharedMacKey(alice.secretKey, new Uint8Array(31))).toThrow(/peerPublicKey/)
    // y = 2^255 - 1 is not a field element, so not a public key.
    const invalid = new Uint8Array(32).fill(0xff)
    invalid[31] = 0x7f
    expect(() => sharedMacKey(alice.secretKey, invalid)).toThrow(ConfigError)
  })

  it('rejects a small-order peer key (all-zero shared secret)', () => {
    // The identity point (y = 1) maps to x25519 u = 0: every ECDH output is zero.
    const identity = new Uint8Array(32)
    identity[0] = 1
    expect(() => sharedMacKey(alice.secretKey, identity)).toThrow(ConfigError)
  })
})

describe('Signer.sharedKey', () => {
  it('is sharedMacKey for the signer\'s own seed, on both backends, and symmetric between two signers', () => {
    for (const backend of ['noble', 'node'] as const) {
      const a = createSigner(alice, { backend })
      const b = createSigner(bob, { backend })
      expect(a.sharedKey(bob.publicKey)).toEqual(sharedMacKey(alice.secretKey, bob.publicKey))
      expect(a.sharedKey(bob.publicKey)).toEqual(b.sharedKey(alice.publicKey))
      expect(a.sharedKey(carol.publicKey)).not.toEqual(a.sharedKey(bob.publicKey))
    }
  })

  it('throws ConfigError for an unusable peer key', () => {
    expect(() => createSigner(alice).sharedKey(new Uint8Array(31))).toThrow(ConfigError)
  })
})
