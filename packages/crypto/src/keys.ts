import * as nobleEd25519 from '@noble/ed25519'
import { bytesEqual, ConfigError, toHex } from '@synod/core'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SECRET_KEY_BYTES, resolveBackend } from './ed25519-backends.js'
import { nodeCrypto } from './node-crypto.js'

/**
 * A node's ed25519 key: the 32-byte seed (RFC 8032 "private key") and the
 * 32-byte public key. The same pair is the node's libp2p identity and its
 * consensus signing key; the transport converts these raw forms itself.
 */
export interface KeyPair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

/** A fresh key pair from the platform's CSPRNG. */
export function generateKeyPair(): KeyPair {
  const seed = new Uint8Array(ED25519_SECRET_KEY_BYTES)
  if (nodeCrypto !== undefined) nodeCrypto.randomFillSync(seed)
  else seed.set(nobleEd25519.utils.randomSecretKey())
  return keyPairFromSecret(seed)
}

/** The key pair of a 32-byte seed (deterministic: tests and the simulator derive keys from a seed). */
export function keyPairFromSecret(secretKey: Uint8Array): KeyPair {
  expectKeyBytes(secretKey, ED25519_SECRET_KEY_BYTES, 'secretKey')
  const seed = Uint8Array.from(secretKey)
  return { secretKey: seed, publicKey: publicKeyFromSecret(seed) }
}

/** The public key of a 32-byte seed. */
export function publicKeyFromSecret(secretKey: Uint8Array): Uint8Array {
  expectKeyBytes(secretKey, ED25519_SECRET_KEY_BYTES, 'secretKey')
  return resolveBackend('auto').publicKeyFromSeed(secretKey)
}

function expectKeyBytes(value: unknown, length: number, field: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new ConfigError(`must be a Uint8Array of ${length} bytes`, field)
  if (value.byteLength !== length)
    throw new ConfigError(`an ed25519 ${field} is ${length} bytes, got ${value.byteLength}`, field)
}

// ---- Key file: { "type": "ed25519", "publicKey": hex, "secretKey": hex } ----

export const KEY_FILE_TYPE = 'ed25519'

/** The JSON key file for `keyPair` (newline-terminated). Writing it with mode 0600 is the caller's job. */
export function encodeKeyFile(keyPair: KeyPair): string {
  expectKeyBytes(keyPair.secretKey, ED25519_SECRET_KEY_BYTES, 'secretKey')
  expectKeyBytes(keyPair.publicKey, ED25519_PUBLIC_KEY_BYTES, 'publicKey')
  assertMatchingPair(keyPair.secretKey, keyPair.publicKey)
  const file = { type: KEY_FILE_TYPE, publicKey: toHex(keyPair.publicKey), secretKey: toHex(keyPair.secretKey) }
  return `${JSON.stringify(file, null, 2)}\n`
}

/**
 * Parse and check a key file. Throws ConfigError naming the problem: not JSON,
 * wrong type, unknown or missing fields, bad hex, wrong lengths, or a public
 * key that does not belong to the secret key.
 */
export function decodeKeyFile(text: string): KeyPair {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ConfigError('key file is not valid JSON; expected { "type": "ed25519", "publicKey": hex, "secretKey": hex }')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError('key file must be a JSON object { "type", "publicKey", "secretKey" }')
  const record = parsed as Record<string, unknown>
  for (const field of Object.keys(record))
    if (field !== 'type' && field !== 'publicKey' && field !== 'secretKey')
      throw new ConfigError(`unknown field in key file; only type, publicKey and secretKey are allowed`, field)
  if (record['type'] !== KEY_FILE_TYPE)
    throw new ConfigError(`key type must be "${KEY_FILE_TYPE}", got ${JSON.stringify(record['type'])}`, 'type')
  const secretKey = hexField(record['secretKey'], ED25519_SECRET_KEY_BYTES, 'secretKey')
  const publicKey = hexField(record['publicKey'], ED25519_PUBLIC_KEY_BYTES, 'publicKey')
  assertMatchingPair(secretKey, publicKey)
  return { secretKey, publicKey }
}

function hexField(value: unknown, length: number, field: string): Uint8Array {
  if (typeof value !== 'string') throw new ConfigError(`must be a hex string of ${length} bytes`, field)
  if (!/^[0-9a-f]*$/.test(value)) throw new ConfigError('must be lowercase hex digits only', field)
  if (value.length !== length * 2) throw new ConfigError(`must be ${length * 2} hex digits (${length} bytes), got ${value.length}`, field)
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = Number.parseInt(value.slice(i * 2, i * 2 + 2), 16)
  return out
}

function assertMatchingPair(secretKey: Uint8Array, publicKey: Uint8Array): void {
  if (!bytesEqual(publicKeyFromSecret(secretKey), publicKey))
    throw new ConfigError('does not belong to secretKey (the key file is damaged or was edited)', 'publicKey')
}
