import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { ConfigError, utf8 } from '@synod/core'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SECRET_KEY_BYTES } from './ed25519-backends.js'
import { publicKeyFromSecret } from './keys.js'

export const MAC_KEY_BYTES = 32

/** Domain separation: a key derived here is useless for anything but Synod pairwise MACs. */
const MAC_KEY_LABEL = utf8('synod/pairwise-mac-key/v1')

/**
 * The 32-byte HMAC key two members share, for PBFT-style authenticators.
 * Both sides derive the same key from their own seed and the other's ed25519
 * public key: each key is converted to x25519 (RFC 7748 birational map),
 * the ECDH secret goes through HKDF-SHA256 with a label and both public keys
 * in a fixed order. A third member cannot compute it.
 *
 * Throws ConfigError when a key has the wrong length, the peer key is not a
 * valid point or yields a degenerate (all-zero) shared secret.
 */
export function sharedMacKey(mySecretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  if (!(mySecretKey instanceof Uint8Array) || mySecretKey.byteLength !== ED25519_SECRET_KEY_BYTES)
    throw new ConfigError(`must be a ${ED25519_SECRET_KEY_BYTES}-byte ed25519 seed`, 'mySecretKey')
  if (!(peerPublicKey instanceof Uint8Array) || peerPublicKey.byteLength !== ED25519_PUBLIC_KEY_BYTES)
    throw new ConfigError(`must be a ${ED25519_PUBLIC_KEY_BYTES}-byte ed25519 public key`, 'peerPublicKey')
  const myPublicKey = publicKeyFromSecret(mySecretKey)
  let shared: Uint8Array
  try {
    const peerMontgomery = ed25519.utils.toMontgomery(peerPublicKey)
    shared = x25519.getSharedSecret(ed25519.utils.toMontgomerySecret(mySecretKey), peerMontgomery)
  } catch (error) {
    throw new ConfigError(`is not a usable ed25519 public key (${(error as Error).message})`, 'peerPublicKey')
  }
  // Both public keys in byte order, so either side builds the same info string.
  const [first, second] = compareBytes(myPublicKey, peerPublicKey) <= 0 ? [myPublicKey, peerPublicKey] : [peerPublicKey, myPublicKey]
  const info = new Uint8Array(MAC_KEY_LABEL.byteLength + 2 * ED25519_PUBLIC_KEY_BYTES)
  info.set(MAC_KEY_LABEL)
  info.set(first, MAC_KEY_LABEL.byteLength)
  info.set(second, MAC_KEY_LABEL.byteLength + ED25519_PUBLIC_KEY_BYTES)
  return hkdf(sha256, shared, MAC_KEY_LABEL, info, MAC_KEY_BYTES)
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.byteLength, b.byteLength); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.byteLength - b.byteLength
}
