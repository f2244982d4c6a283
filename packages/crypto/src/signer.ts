import { bytesEqual, ConfigError, type Signer, type Verifier } from '@synod/core'
import {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  type Ed25519BackendChoice,
  type Ed25519BackendName,
  resolveBackend,
} from './ed25519-backends.js'
import { sha256 } from './hash.js'
import type { KeyPair } from './keys.js'
import { sharedMacKey } from './mac-key.js'

export interface SignerOptions {
  /** Default 'auto': node:crypto when it has ed25519, else noble. Signatures are identical either way. */
  readonly backend?: Ed25519BackendChoice
}

/** A Signer that also says which backend it runs on. */
export interface Ed25519Signer extends Signer {
  readonly backend: Ed25519BackendName
  /** The pairwise MAC key shared with the member holding `peerPublicKey` (`sharedMacKey`; x25519 + HKDF). */
  sharedKey(peerPublicKey: Uint8Array): Uint8Array
}

/**
 * A synchronous ed25519 Signer for a 32-byte seed, or for a KeyPair (whose
 * public key is checked against its seed).
 */
export function createSigner(key: Uint8Array | KeyPair, options: SignerOptions = {}): Ed25519Signer {
  const secretKey = key instanceof Uint8Array ? key : key.secretKey
  if (!(secretKey instanceof Uint8Array) || secretKey.byteLength !== ED25519_SECRET_KEY_BYTES)
    throw new ConfigError(`an ed25519 secret key is a ${ED25519_SECRET_KEY_BYTES}-byte seed`, 'secretKey')
  const backend = resolveBackend(options.backend)
  const publicKey = backend.publicKeyFromSeed(secretKey)
  if (!(key instanceof Uint8Array) && !bytesEqual(publicKey, key.publicKey))
    throw new ConfigError('does not belong to secretKey', 'publicKey')
  const sign = backend.signerFor(secretKey)
  const sharedKey = (peerPublicKey: Uint8Array) => sharedMacKey(secretKey, peerPublicKey)
  return { backend: backend.name, publicKey, sign, sharedKey }
}

export interface VerifierOptions {
  /** Default 'auto'. Both backends use strict RFC 8032 rules and agree on every input we test. */
  readonly backend?: Ed25519BackendChoice
  /**
   * Remembered verdicts, keyed by (public key, sha256 of the message,
   * signature). Byzantine protocols see the same signed vote many times
   * (forwarded, inside certificates); a hit costs one sha256 instead of a
   * verify. 0 disables it. Default 4096 entries; the oldest is evicted first.
   */
  readonly cacheSize?: number
  /** Parsed public keys kept by the node backend. Default 1024. */
  readonly keyCacheSize?: number
}

/** A Verifier with hit statistics for its verdict cache. */
export interface Ed25519Verifier extends Verifier {
  readonly backend: Ed25519BackendName
  readonly cacheStats: () => { readonly hits: number; readonly misses: number; readonly size: number }
}

/** A synchronous ed25519 Verifier. `verify` never throws: malformed input of any kind is simply false. */
export function createVerifier(options: VerifierOptions = {}): Ed25519Verifier {
  const cacheSize = options.cacheSize ?? 4096
  const keyCacheSize = options.keyCacheSize ?? 1024
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new ConfigError('must be a non-negative integer', 'cacheSize')
  if (!Number.isSafeInteger(keyCacheSize) || keyCacheSize < 1) throw new ConfigError('must be a positive integer', 'keyCacheSize')
  const backend = resolveBackend(options.backend)
  const verifyRaw = backend.createVerify(keyCacheSize)

  const wellFormed = (publicKey: unknown, message: unknown, signature: unknown): boolean =>
    publicKey instanceof Uint8Array &&
    publicKey.byteLength === ED25519_PUBLIC_KEY_BYTES &&
    message instanceof Uint8Array &&
    signature instanceof Uint8Array &&
    signature.byteLength === ED25519_SIGNATURE_BYTES

  let hits = 0
  let misses = 0
  const verdicts = new Map<string, boolean>()

  const verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean => {
    if (!wellFormed(publicKey, message, signature)) return false
    if (cacheSize === 0) return verifyRaw(publicKey, message, signature)
    const id = cacheKey(publicKey, sha256(message), signature)
    const known = verdicts.get(id)
    if (known !== undefined) {
      hits++
      return known
    }
    misses++
    const verdict = verifyRaw(publicKey, message, signature)
    if (verdicts.size >= cacheSize) verdicts.delete(verdicts.keys().next().value!)
    verdicts.set(id, verdict)
    return verdict
  }

  return {
    backend: backend.name,
    verify,
    cacheStats: () => ({ hits, misses, size: verdicts.size }),
  }
}

// A latin1 string of the raw bytes: cheaper to build than hex and a faithful Map key.
function cacheKey(publicKey: Uint8Array, messageDigest: Uint8Array, signature: Uint8Array): string {
  return String.fromCharCode(...publicKey, ...messageDigest, ...signature)
}
