import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ConfigError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { ed25519PublicKeyFromSeed, libp2pPrivateKey, peerIdFromPublicKey, publicKeyFromPeerId } from '../src/index.js'
import { testKeyPair } from './support.js'

/** An ed25519 key pair made by node:crypto, exported raw: an independent source of truth. */
function nodeCryptoKeyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const priv = privateKey.export({ format: 'jwk' })
  const pub = publicKey.export({ format: 'jwk' })
  return {
    keyPair: {
      secretKey: new Uint8Array(Buffer.from(priv.d!, 'base64url')),
      publicKey: new Uint8Array(Buffer.from(pub.x!, 'base64url')),
    },
    publicKeyObject: publicKey,
  }
}

describe('identity: our ed25519 key is the libp2p key', () => {
  it('derives the same public key from the seed as node:crypto', () => {
    const { keyPair } = nodeCryptoKeyPair()
    expect(ed25519PublicKeyFromSeed(keyPair.secretKey)).toEqual(keyPair.publicKey)
  })

  it('round-trips: key pair → libp2p key → PeerId → public key', () => {
    for (let i = 0; i < 20; i++) {
      const { keyPair } = nodeCryptoKeyPair()
      const privateKey = libp2pPrivateKey(keyPair)
      expect(privateKey.type).toBe('Ed25519')
      expect(privateKey.publicKey.raw).toEqual(keyPair.publicKey)
      const id = peerIdFromPublicKey(keyPair.publicKey)
      expect(peerIdFromPrivateKey(privateKey).toString()).toBe(id)
      expect(peerIdFromString(id).type).toBe('Ed25519')
      expect(publicKeyFromPeerId(id)).toEqual(keyPair.publicKey)
    }
  })

  it('signs with the libp2p key what node:crypto verifies under our public key', async () => {
    const { keyPair, publicKeyObject } = nodeCryptoKeyPair()
    const message = new TextEncoder().encode('one key for identity and consensus')
    const signature = await libp2pPrivateKey(keyPair).sign(message)
    expect(verify(null, message, publicKeyObject, signature)).toBe(true)
    // and the other way round
    const raw = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(keyPair.publicKey).toString('base64url') }, format: 'jwk' })
    expect(raw.equals(publicKeyObject)).toBe(true)
  })

  it('refuses a key pair whose public key is not the seed’s, or of the wrong size', () => {
    const a = testKeyPair()
    const b = testKeyPair()
    expect(() => libp2pPrivateKey({ secretKey: a.secretKey, publicKey: b.publicKey })).toThrow(ConfigError)
    expect(() => libp2pPrivateKey({ secretKey: a.secretKey.subarray(0, 31), publicKey: a.publicKey })).toThrow(ConfigError)
    expect(() => peerIdFromPublicKey(new Uint8Array(33))).toThrow(ConfigError)
    expect(() => publicKeyFromPeerId('not-a-peer-id')).toThrow(ConfigError)
  })
})
