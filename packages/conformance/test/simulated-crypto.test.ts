// The simulated signature scheme (--crypto simulated) keeps the contract the
// protocols rely on: a signature verifies only under the key that made it,
// for the message it was made over; a key nobody created verifies nothing;
// pairwise MAC keys agree on both sides and differ between pairs.
import { afterEach, describe, expect, it } from 'vitest'
import { conformanceCrypto, conformanceVerifier, nodeKeys, useConformanceCrypto } from '../src/index.js'

afterEach(() => useConformanceCrypto('ed25519'))

const bytes = (text: string) => new TextEncoder().encode(text)

describe('simulated conformance crypto', () => {
  it('signs and verifies like ed25519 does: 32-byte keys, 64-byte signatures, deterministic per seed', () => {
    useConformanceCrypto('simulated')
    expect(conformanceCrypto()).toBe('simulated')
    const [a] = nodeKeys(7, ['n1'])
    const [again] = nodeKeys(7, ['n1'])
    expect(a!.publicKey.byteLength).toBe(32)
    const signature = a!.signer.sign(bytes('hello'))
    expect(signature.byteLength).toBe(64)
    expect(again!.publicKey).toEqual(a!.publicKey)
    expect(conformanceVerifier().verify(a!.publicKey, bytes('hello'), signature)).toBe(true)
  })

  it('rejects a signature over another message, by another key, tampered, truncated, or under an unknown key', () => {
    useConformanceCrypto('simulated')
    const [a, b] = nodeKeys(1, ['n1', 'n2'])
    const verifier = conformanceVerifier()
    const signature = a!.signer.sign(bytes('m'))
    expect(verifier.verify(a!.publicKey, bytes('m2'), signature)).toBe(false)
    expect(verifier.verify(b!.publicKey, bytes('m'), signature)).toBe(false)
    const tampered = signature.slice()
    tampered[63] = tampered[63]! ^ 1
    expect(verifier.verify(a!.publicKey, bytes('m'), tampered)).toBe(false)
    expect(verifier.verify(a!.publicKey, bytes('m'), signature.subarray(0, 32))).toBe(false)
    expect(verifier.verify(new Uint8Array(32).fill(9), bytes('m'), signature)).toBe(false)
    expect(verifier.verify(a!.publicKey, bytes('m'), new Uint8Array(64))).toBe(false)
  })

  it('derives the same pairwise MAC key on both sides, a different one per pair, and none for an unknown key', () => {
    useConformanceCrypto('simulated')
    const [a, b, c] = nodeKeys(3, ['n1', 'n2', 'n3'])
    expect(a!.signer.sharedKey!(b!.publicKey)).toEqual(b!.signer.sharedKey!(a!.publicKey))
    expect(a!.signer.sharedKey!(b!.publicKey)).not.toEqual(a!.signer.sharedKey!(c!.publicKey))
    expect(() => a!.signer.sharedKey!(new Uint8Array(32))).toThrow(RangeError)
  })

  it('is off by default: ed25519 keys verify with the ed25519 verifier, and the schemes do not mix', () => {
    const [real] = nodeKeys(5, ['n1'])
    const signature = real!.signer.sign(bytes('x'))
    expect(conformanceVerifier().verify(real!.publicKey, bytes('x'), signature)).toBe(true)
    useConformanceCrypto('simulated')
    expect(conformanceVerifier().verify(real!.publicKey, bytes('x'), signature)).toBe(false)
  })

  it('refuses an unknown scheme', () => {
    expect(() => useConformanceCrypto('rsa' as never)).toThrow(RangeError)
  })
})
