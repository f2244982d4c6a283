import { createPrivateKey, createPublicKey } from 'node:crypto'
import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPublicKey as libp2pPeerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { bytesEqual, ConfigError, type NodeId } from '@synod/core'

/**
 * A node's ed25519 key pair as @synod/crypto produces it: the 32-byte seed
 * and the 32-byte public key. The same key is the node's libp2p identity and
 * its consensus signing key.
 */
export interface Ed25519KeyPair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

const ED25519_KEY_BYTES = 32
// PKCS#8 wrapping of a raw ed25519 seed (RFC 8410): lets node:crypto derive the public key synchronously.
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])

/** The ed25519 public key (32 bytes) of a 32-byte seed. */
export function ed25519PublicKeyFromSeed(seed: Uint8Array): Uint8Array {
  if (seed.byteLength !== ED25519_KEY_BYTES)
    throw new ConfigError(`an ed25519 seed is ${ED25519_KEY_BYTES} bytes, got ${seed.byteLength}`, 'keyPair.secretKey')
  const der = new Uint8Array(PKCS8_ED25519_PREFIX.length + ED25519_KEY_BYTES)
  der.set(PKCS8_ED25519_PREFIX)
  der.set(seed, PKCS8_ED25519_PREFIX.length)
  const privateKey = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'))
}

/**
 * Convert our key pair into a libp2p Ed25519 private key. Refuses a pair whose
 * public key does not belong to its seed: a mismatch would give the node an
 * identity other than the one its peers expect.
 */
export function libp2pPrivateKey(keyPair: Ed25519KeyPair): Ed25519PrivateKey {
  if (keyPair.publicKey.byteLength !== ED25519_KEY_BYTES)
    throw new ConfigError(
      `an ed25519 public key is ${ED25519_KEY_BYTES} bytes, got ${keyPair.publicKey.byteLength}`,
      'keyPair.publicKey',
    )
  const derived = ed25519PublicKeyFromSeed(keyPair.secretKey)
  if (!bytesEqual(derived, keyPair.publicKey))
    throw new ConfigError('the public key does not match the secret key (seed); regenerate the key pair', 'keyPair.publicKey')
  const raw = new Uint8Array(2 * ED25519_KEY_BYTES)
  raw.set(keyPair.secretKey)
  raw.set(keyPair.publicKey, ED25519_KEY_BYTES)
  const key = privateKeyFromRaw(raw)
  if (key.type !== 'Ed25519') throw new ConfigError(`expected an Ed25519 key, got ${key.type}`, 'keyPair')
  return key
}

/** The NodeId (libp2p PeerId string) of the node whose ed25519 public key this is. */
export function peerIdFromPublicKey(publicKey: Uint8Array): NodeId {
  if (publicKey.byteLength !== ED25519_KEY_BYTES)
    throw new ConfigError(`an ed25519 public key is ${ED25519_KEY_BYTES} bytes, got ${publicKey.byteLength}`, 'publicKey')
  return libp2pPeerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString()
}

/**
 * The ed25519 public key embedded in a NodeId. Ed25519 PeerIds inline the key,
 * so a verifier can check signatures from the id alone.
 */
export function publicKeyFromPeerId(id: NodeId): Uint8Array {
  let peerId
  try {
    peerId = peerIdFromString(id)
  } catch {
    throw new ConfigError(`'${id}' is not a libp2p PeerId`, 'id')
  }
  if (peerId.type !== 'Ed25519') throw new ConfigError(`'${id}' is a ${peerId.type} PeerId; Synod uses Ed25519`, 'id')
  return peerId.publicKey.raw
}
