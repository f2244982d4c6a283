import type * as NodeCrypto from 'node:crypto'

type NodeCryptoModule = typeof NodeCrypto

// RFC 8410 DER wrappers: the fixed prefixes before a raw 32-byte ed25519 seed / public key.
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
])
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/**
 * node:crypto when the host provides it, otherwise undefined. Loaded through
 * `process.getBuiltinModule` (Node ≥ 20.16) rather than a static import so the
 * package still loads where node:crypto does not exist and the noble
 * backends take over.
 */
export const nodeCrypto: NodeCryptoModule | undefined = loadNodeCrypto()

function loadNodeCrypto(): NodeCryptoModule | undefined {
  const host = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
  try {
    const module = host.process?.getBuiltinModule?.('node:crypto') as NodeCryptoModule | undefined
    return module !== undefined && typeof module.createHash === 'function' ? module : undefined
  } catch {
    return undefined
  }
}

/** True when node:crypto is present and its OpenSSL build has ed25519. */
export const nodeHasEd25519: boolean = detectNodeEd25519()

function detectNodeEd25519(): boolean {
  if (nodeCrypto === undefined) return false
  try {
    nodeCrypto.createPrivateKey({ key: pkcs8FromSeed(new Uint8Array(32)), format: 'der', type: 'pkcs8' })
    return true
  } catch {
    return false
  }
}

export function pkcs8FromSeed(seed: Uint8Array): Buffer {
  const der = Buffer.alloc(PKCS8_ED25519_PREFIX.length + seed.byteLength)
  der.set(PKCS8_ED25519_PREFIX)
  der.set(seed, PKCS8_ED25519_PREFIX.length)
  return der
}

export function spkiFromPublicKey(publicKey: Uint8Array): Buffer {
  const der = Buffer.alloc(SPKI_ED25519_PREFIX.length + publicKey.byteLength)
  der.set(SPKI_ED25519_PREFIX)
  der.set(publicKey, SPKI_ED25519_PREFIX.length)
  return der
}
