import { ConfigError, toHex } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { createSigner, createVerifier, decodeKeyFile, encodeKeyFile, generateKeyPair, keyPairFromSecret, publicKeyFromSecret } from '../src/index.js'

describe('key pairs', () => {
  it('generateKeyPair gives distinct working keys', () => {
    const a = generateKeyPair()
    const b = generateKeyPair()
    expect(a.secretKey.byteLength).toBe(32)
    expect(a.publicKey.byteLength).toBe(32)
    expect(a.secretKey).not.toEqual(b.secretKey)
    expect(publicKeyFromSecret(a.secretKey)).toEqual(a.publicKey)
    const message = new Uint8Array([1, 2, 3])
    expect(createVerifier().verify(a.publicKey, message, createSigner(a).sign(message))).toBe(true)
  })

  it('keyPairFromSecret is deterministic and copies its input', () => {
    const seed = new Uint8Array(32).fill(5)
    const pair = keyPairFromSecret(seed)
    seed[0] = 99
    expect(pair.secretKey[0]).toBe(5)
    expect(keyPairFromSecret(new Uint8Array(32).fill(5))).toEqual(pair)
  })

  it('rejects seeds of the wrong size', () => {
    expect(() => keyPairFromSecret(new Uint8Array(64))).toThrow(ConfigError)
    expect(() => keyPairFromSecret(new Uint8Array(64))).toThrow(/32 bytes, got 64/)
  })
})

describe('key file', () => {
  const pair = keyPairFromSecret(new Uint8Array(32).fill(1))
  const valid = { type: 'ed25519', publicKey: toHex(pair.publicKey), secretKey: toHex(pair.secretKey) }

  it('round-trips', () => {
    const text = encodeKeyFile(pair)
    expect(JSON.parse(text)).toEqual(valid)
    expect(decodeKeyFile(text)).toEqual(pair)
  })

  it('encodeKeyFile refuses a mismatched pair', () => {
    const other = keyPairFromSecret(new Uint8Array(32).fill(2))
    expect(() => encodeKeyFile({ secretKey: pair.secretKey, publicKey: other.publicKey })).toThrow(/does not belong/)
  })

  const malformed: Array<[string, string, RegExp]> = [
    ['not JSON', '{"type":', /not valid JSON/],
    ['an array', '[]', /JSON object/],
    ['null', 'null', /JSON object/],
    ['a wrong type', JSON.stringify({ ...valid, type: 'rsa' }), /type: key type must be "ed25519"/],
    ['a missing type', JSON.stringify({ publicKey: valid.publicKey, secretKey: valid.secretKey }), /^type:/],
    ['an unknown field', JSON.stringify({ ...valid, comment: 'x' }), /^comment: unknown field/],
    ['a missing secret key', JSON.stringify({ type: 'ed25519', publicKey: valid.publicKey }), /^secretKey: must be a hex string/],
    ['a numeric public key', JSON.stringify({ ...valid, publicKey: 12 }), /^publicKey: must be a hex string/],
    ['non-hex digits', JSON.stringify({ ...valid, secretKey: `zz${valid.secretKey.slice(2)}` }), /^secretKey: must be lowercase hex/],
    ['uppercase hex', JSON.stringify({ ...valid, publicKey: valid.publicKey.toUpperCase() }), /lowercase hex/],
    ['a short secret key', JSON.stringify({ ...valid, secretKey: valid.secretKey.slice(2) }), /^secretKey: must be 64 hex digits/],
    ['a 64-byte secret key', JSON.stringify({ ...valid, secretKey: valid.secretKey + valid.publicKey }), /^secretKey: must be 64 hex digits/],
    ['a long public key', JSON.stringify({ ...valid, publicKey: `${valid.publicKey}00` }), /^publicKey: must be 64 hex digits/],
    ['a public key of another seed', JSON.stringify({ ...valid, publicKey: toHex(keyPairFromSecret(new Uint8Array(32)).publicKey) }), /^publicKey: does not belong/],
  ]
  it.each(malformed)('rejects %s with a ConfigError naming the problem', (_, text, message) => {
    let thrown: unknown
    try {
      decodeKeyFile(text)
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ConfigError)
    expect((thrown as Error).message).toMatch(message)
  })
})
