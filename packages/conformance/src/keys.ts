import { toHex, type NodeId, type Signer, type Verifier } from '@synod/core'
import { createSigner, createVerifier, hmacSha256, keyPairFromSecret, sha256 } from '@synod/crypto'
import { SeededRandom } from '@synod/transport-memory'

export interface NodeKey {
  readonly publicKey: Uint8Array
  readonly signer: Signer
  readonly verifier: Verifier
}

/**
 * Which signatures a run uses.
 * - 'ed25519' (default): the real scheme, as the daemon uses it.
 * - 'simulated': a keyed-hash scheme with the same Signer/Verifier contract, for long seed sweeps (an ed25519
 *   verify costs ≈30× an HMAC, and crypto was ≈40% of a 7-node PBFT run). Inside the simulation it is as
 *   unforgeable as ed25519: a signature is HMAC-SHA256 under the signer's secret, and only the party given a
 *   Signer holds it (adversaries sign with their own Signer, like everyone else); a key nobody created
 *   verifies nothing. What it does not model is an attacker outside the process — not what conformance
 *   checks. The ed25519 scheme itself is tested in @synod/crypto; protocols see only the contract.
 */
export type ConformanceCrypto = 'ed25519' | 'simulated'

let current: ConformanceCrypto = 'ed25519'

/** Choose the signature scheme of every run that follows in this process (the CLI's --crypto). */
export function useConformanceCrypto(crypto: ConformanceCrypto): void {
  if (crypto !== 'ed25519' && crypto !== 'simulated') throw new RangeError(`unknown conformance crypto '${String(crypto)}'`)
  current = crypto
}

export function conformanceCrypto(): ConformanceCrypto {
  return current
}

/** ed25519 keys for each node, derived from the run's seed so that a run (and its signatures) is reproducible. */
export function nodeKeys(seed: number, ids: readonly NodeId[]): NodeKey[] {
  const verifier = conformanceVerifier()
  return ids.map((id) => {
    const random = SeededRandom.forLabel(seed, `key:${id}`)
    const secret = new Uint8Array(32)
    for (let i = 0; i < secret.length; i++) secret[i] = random.nextUint32() & 0xff
    if (current === 'simulated') return { ...simulatedKey(secret), verifier }
    const keyPair = keyPairFromSecret(secret)
    return { publicKey: keyPair.publicKey, signer: createSigner(keyPair), verifier }
  })
}

/** The verifier that matches the current scheme (what clients use to check reply certificates). */
export function conformanceVerifier(): Verifier {
  return current === 'simulated' ? simulatedVerifier : ed25519Verifier
}

const ed25519Verifier = createVerifier()

// ------------------------------------------------------------------ the simulated scheme

const SIMULATED_KEY_LABEL = new TextEncoder().encode('synod/conformance/simulated-key/v1')
const SIMULATED_MAC_LABEL = new TextEncoder().encode('synod/conformance/simulated-mac/v1')
/** Secrets by public key (hex), for the verifier: the simulation's stand-in for the discrete-log relation. */
const secrets = new Map<string, Uint8Array>()

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.byteLength
  }
  return out
}

/** 64 bytes like an ed25519 signature: HMAC-SHA256 under the secret, twice with different domain bytes. */
function simulatedSignature(secret: Uint8Array, message: Uint8Array): Uint8Array {
  const first = hmacSha256(secret, message)
  return concat(first, hmacSha256(secret, concat(first, message)))
}

function simulatedKey(secret: Uint8Array): { publicKey: Uint8Array; signer: Signer } {
  const publicKey = sha256(concat(SIMULATED_KEY_LABEL, secret))
  secrets.set(toHex(publicKey), secret)
  return {
    publicKey,
    signer: {
      publicKey,
      sign: (message) => simulatedSignature(secret, message),
      // Both sides derive the same key from the two secrets; only holders of one of them can.
      sharedKey: (peerPublicKey) => {
        const peer = secrets.get(toHex(peerPublicKey))
        if (peer === undefined) throw new RangeError('no simulated key with this public key')
        const [a, b] = toHex(secret) <= toHex(peer) ? [secret, peer] : [peer, secret]
        return sha256(concat(SIMULATED_MAC_LABEL, a, b))
      },
    },
  }
}

const simulatedVerifier: Verifier = {
  verify(publicKey, message, signature) {
    const secret = secrets.get(toHex(publicKey))
    if (secret === undefined || signature.byteLength !== 64) return false
    const expected = simulatedSignature(secret, message)
    let diff = 0
    for (let i = 0; i < 64; i++) diff |= expected[i]! ^ signature[i]!
    return diff === 0
  },
}
