import * as nobleEd25519 from '@noble/ed25519'
import { ConfigError } from '@synod/core'
import { sha512 } from '@noble/hashes/sha2.js'
import type { KeyObject } from 'node:crypto'
import { nodeCrypto, nodeHasEd25519, pkcs8FromSeed, spkiFromPublicKey } from './node-crypto.js'

// @noble/ed25519 ships without a synchronous SHA-512; wiring it enables the sync API the Signer contract needs.
nobleEd25519.hashes.sha512 ??= sha512

export const ED25519_SECRET_KEY_BYTES = 32
export const ED25519_PUBLIC_KEY_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64

/** 'noble': pure JS, runs anywhere. 'node': node:crypto (OpenSSL), ≈8× faster. 'auto': node when available. */
export type Ed25519BackendName = 'noble' | 'node'
export type Ed25519BackendChoice = Ed25519BackendName | 'auto'

export interface Ed25519Backend {
  readonly name: Ed25519BackendName
  publicKeyFromSeed(seed: Uint8Array): Uint8Array
  /** Prepare a signing function for one seed (the node backend builds its KeyObject once). */
  signerFor(seed: Uint8Array): (message: Uint8Array) => Uint8Array
  /** A verify function; never throws, returns false on any malformed input. Lengths are checked by the caller. */
  createVerify(keyCacheSize: number): (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean
}

export const nobleBackend: Ed25519Backend = {
  name: 'noble',
  publicKeyFromSeed: (seed) => nobleEd25519.getPublicKey(seed),
  signerFor: (seed) => {
    const ownSeed = Uint8Array.from(seed)
    return (message) => nobleEd25519.sign(message, ownSeed)
  },
  createVerify: () => (publicKey, message, signature) => {
    try {
      // Strict RFC 8032 decoding (not ZIP-215), to agree with OpenSSL on every input:
      // replicas on different backends must never disagree about a signature.
      return nobleEd25519.verify(signature, message, publicKey, { zip215: false })
    } catch {
      return false
    }
  },
}

/**
 * The key rules of noble's strict mode: a canonical encoding of a point that
 * is not of small order. OpenSSL accepts small-order keys (under the identity
 * key one signature verifies for every message); checking once per key here
 * keeps the node backend from accepting what the noble backend refuses.
 */
function isStrictPublicKey(publicKey: Uint8Array): boolean {
  try {
    return !nobleEd25519.Point.fromBytes(publicKey, false).isSmallOrder()
  } catch {
    return false
  }
}

function requireNodeCrypto(): NonNullable<typeof nodeCrypto> {
  if (nodeCrypto === undefined || !nodeHasEd25519) throw new ConfigError("node:crypto with ed25519 is not available on this host; use backend 'noble' or 'auto'", 'backend')
  return nodeCrypto
}

export const nodeBackend: Ed25519Backend = {
  name: 'node',
  publicKeyFromSeed: (seed) => {
    const crypto = requireNodeCrypto()
    const privateKey = crypto.createPrivateKey({ key: pkcs8FromSeed(seed), format: 'der', type: 'pkcs8' })
    const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
    return new Uint8Array(spki.subarray(spki.byteLength - ED25519_PUBLIC_KEY_BYTES))
  },
  signerFor: (seed) => {
    const crypto = requireNodeCrypto()
    const privateKey = crypto.createPrivateKey({ key: pkcs8FromSeed(seed), format: 'der', type: 'pkcs8' })
    return (message) => new Uint8Array(crypto.sign(null, message, privateKey))
  },
  createVerify: (keyCacheSize) => {
    const crypto = requireNodeCrypto()
    // Rebuilding a KeyObject per call costs ≈3× the verify itself; members are few, so cache by key.
    const keys = new Map<string, KeyObject | null>()
    const keyObjectFor = (publicKey: Uint8Array): KeyObject | null => {
      const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1')
      let key = keys.get(id)
      if (key === undefined) {
        try {
          key = isStrictPublicKey(publicKey)
            ? crypto.createPublicKey({ key: spkiFromPublicKey(publicKey), format: 'der', type: 'spki' })
            : null
        } catch {
          key = null // not a valid point: remember the verdict too
        }
        if (keys.size >= Math.max(1, keyCacheSize)) keys.delete(keys.keys().next().value!)
        keys.set(id, key)
      }
      return key
    }
    return (publicKey, message, signature) => {
      const key = keyObjectFor(publicKey)
      if (key === null) return false
      try {
        return crypto.verify(null, message, key, signature)
      } catch {
        return false
      }
    }
  },
}

export function resolveBackend(choice: Ed25519BackendChoice = 'auto'): Ed25519Backend {
  switch (choice) {
    case 'noble':
      return nobleBackend
    case 'node':
      requireNodeCrypto()
      return nodeBackend
    case 'auto':
      return nodeHasEd25519 ? nodeBackend : nobleBackend
    default:
      throw new ConfigError(`unknown ed25519 backend '${String(choice)}'; use 'noble', 'node' or 'auto'`, 'backend')
  }
}
