// The key of an authenticated HTTP session (docs/adr/0011-http-sessions.md):
// a client that proved its ed25519 identity once (a signed session-open that
// binds its ephemeral x25519 key) and the node it opened the session with
// derive one HMAC key from an ephemeral-ephemeral x25519 exchange, so each
// later request costs an HMAC instead of an ed25519 signature and check.
import { x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { ConfigError, encodeCanonical, utf8 } from '@synod/core'
import { nodeCrypto } from './node-crypto.js'

export const X25519_KEY_BYTES = 32
export const HTTP_SESSION_KEY_BYTES = 32

/** HKDF salt: a key derived here is useless for anything but Synod HTTP sessions. */
const HTTP_SESSION_SALT = utf8('synod/http-session/v1')

export interface EphemeralKeyPair {
  readonly secretKey: Uint8Array
  readonly publicKey: Uint8Array
}

interface X25519Backend {
  generate(): EphemeralKeyPair
  shared(secretKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array
}

const noble: X25519Backend = {
  generate() {
    const secretKey = x25519.utils.randomSecretKey()
    return { secretKey, publicKey: x25519.getPublicKey(secretKey) }
  },
  shared: (secretKey, peerPublicKey) => x25519.getSharedSecret(secretKey, peerPublicKey),
}

// RFC 8410 DER wrappers of raw x25519 keys (OID 1.3.101.110).
const PKCS8_X25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const SPKI_X25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

function withPrefix(prefix: Uint8Array, key: Uint8Array): Uint8Array {
  const der = new Uint8Array(prefix.byteLength + key.byteLength)
  der.set(prefix)
  der.set(key, prefix.byteLength)
  return der
}

/** node:crypto (OpenSSL) where present: ≈30× faster than noble per exchange (a session-open costs two). */
const node: X25519Backend | undefined =
  nodeCrypto === undefined
    ? undefined
    : {
        generate() {
          const pair = nodeCrypto!.generateKeyPairSync('x25519')
          const secret = new Uint8Array(pair.privateKey.export({ type: 'pkcs8', format: 'der' }))
          const spki = new Uint8Array(pair.publicKey.export({ type: 'spki', format: 'der' }))
          return { secretKey: secret.slice(PKCS8_X25519_PREFIX.byteLength), publicKey: spki.slice(SPKI_X25519_PREFIX.byteLength) }
        },
        shared(secretKey, peerPublicKey) {
          const privateKey = nodeCrypto!.createPrivateKey({ key: Buffer.from(withPrefix(PKCS8_X25519_PREFIX, secretKey)), format: 'der', type: 'pkcs8' })
          const publicKey = nodeCrypto!.createPublicKey({ key: Buffer.from(withPrefix(SPKI_X25519_PREFIX, peerPublicKey)), format: 'der', type: 'spki' })
          return new Uint8Array(nodeCrypto!.diffieHellman({ privateKey, publicKey }))
        },
      }

/** Tests only: the backend that does the x25519 work ('node' when present, else 'noble'). */
export function x25519Backend(choice: 'node' | 'noble' | 'auto' = 'auto'): X25519Backend {
  if (choice === 'noble') return noble
  if (choice === 'node' && node === undefined) throw new ConfigError('node:crypto is not available on this host', 'backend')
  return node ?? noble
}

const backend = x25519Backend()

/** A fresh x25519 pair from the platform's CSPRNG; use it for one session only. */
export function generateEphemeralKeyPair(): EphemeralKeyPair {
  return backend.generate()
}

/** Everything the session key is bound to: both sides build the same HKDF info from it. */
export interface HttpSessionContext {
  /** The cluster name ('' when none). */
  readonly cluster: string
  /** The client's ed25519 public key (the identity that signed the session-open). */
  readonly client: Uint8Array
  /** The node's member id (its libp2p PeerId). */
  readonly node: string
  /** The session id the node gave out. */
  readonly session: string
  readonly clientEphemeral: Uint8Array
  readonly nodeEphemeral: Uint8Array
}

/**
 * HKDF-SHA256(x25519(mySecret, peerPublic), salt 'synod/http-session/v1',
 * info = canonical CBOR of [cluster, client key, node id, session id,
 * client ephemeral, node ephemeral]) — 32 bytes. Throws ConfigError for a
 * key of the wrong length, or a peer key that yields the all-zero secret
 * (a low-order point: the "shared" key would be known to everyone).
 */
export function httpSessionKey(mySecretKey: Uint8Array, peerPublicKey: Uint8Array, context: HttpSessionContext): Uint8Array {
  if (!(mySecretKey instanceof Uint8Array) || mySecretKey.byteLength !== X25519_KEY_BYTES)
    throw new ConfigError(`must be a ${X25519_KEY_BYTES}-byte x25519 secret key`, 'mySecretKey')
  for (const [name, key] of [
    ['peerPublicKey', peerPublicKey],
    ['clientEphemeral', context.clientEphemeral],
    ['nodeEphemeral', context.nodeEphemeral],
  ] as const)
    if (!(key instanceof Uint8Array) || key.byteLength !== X25519_KEY_BYTES) throw new ConfigError(`must be a ${X25519_KEY_BYTES}-byte x25519 public key`, name)
  let shared: Uint8Array
  try {
    shared = backend.shared(mySecretKey, peerPublicKey)
  } catch (error) {
    throw new ConfigError(`is not a usable x25519 public key (${(error as Error).message})`, 'peerPublicKey')
  }
  if (shared.every((b) => b === 0)) throw new ConfigError('is a low-order x25519 point (all-zero shared secret)', 'peerPublicKey')
  const info = encodeCanonical([context.cluster, context.client, context.node, context.session, context.clientEphemeral, context.nodeEphemeral])
  return hkdf(sha256, shared, HTTP_SESSION_SALT, info, HTTP_SESSION_KEY_BYTES)
}
