import {
  bytesEqual,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectOnlyKeys,
  expectRecord,
  expectString,
  InvalidMessageError,
  type Membership,
  type NodeId,
  type Verifier,
} from '@synod/core'
import { ED25519_SIGNATURE_BYTES } from './ed25519-backends.js'

/** One member's signature over a certificate's digest. */
export interface CertificateSignature {
  readonly signer: NodeId
  readonly signature: Uint8Array
}

/**
 * A quorum certificate: distinct voters' signatures over the same digest.
 * The signed bytes are `digest` itself, so the protocol makes the digest
 * cover everything the vote means (e.g. sha256 of a canonical
 * `{ type, view, seq, blockDigest }`), which also separates vote types.
 */
export interface QuorumCertificate {
  readonly digest: Uint8Array
  readonly signatures: readonly CertificateSignature[]
}

/** Decoding limits: a digest is at most 64 bytes, a certificate carries at most this many signatures. */
export const MAX_CERTIFICATE_SIGNATURES = 1024
export const MAX_DIGEST_BYTES = 64
export const MAX_SIGNER_ID_LENGTH = 256

/**
 * Canonical bytes of a certificate: signatures sorted by signer id, so the
 * same set of signatures always encodes the same way.
 */
export function encodeQuorumCertificate(qc: QuorumCertificate): Uint8Array {
  const signatures = [...qc.signatures]
    .sort((a, b) => compareIds(a.signer, b.signer))
    .map((s) => ({ signer: s.signer, signature: s.signature }))
  return encodeCanonical({ digest: qc.digest, signatures })
}

/**
 * Decode and shape-check a certificate. Signers must be in strictly
 * ascending order (the canonical form; this also rejects duplicates).
 * Throws InvalidMessageError. Signatures are not verified here: call
 * `verifyQuorumCertificate`.
 */
export function decodeQuorumCertificate(bytes: Uint8Array): QuorumCertificate {
  return quorumCertificateFromValue(decodeCanonical(bytes))
}

/** Shape-check a certificate already decoded as part of a larger canonical message. */
export function quorumCertificateFromValue(value: unknown, what = 'quorum certificate'): QuorumCertificate {
  const record = expectRecord(value, what)
  expectOnlyKeys(record, ['digest', 'signatures'], what)
  const digest = expectBytes(record['digest'], `${what}.digest`, MAX_DIGEST_BYTES)
  if (digest.byteLength === 0) throw new InvalidMessageError(`${what}.digest is empty`)
  const items = expectArray(record['signatures'], `${what}.signatures`, MAX_CERTIFICATE_SIGNATURES)
  const signatures: CertificateSignature[] = []
  for (const [i, item] of items.entries()) {
    const what_i = `${what}.signatures[${i}]`
    const entry = expectRecord(item, what_i)
    expectOnlyKeys(entry, ['signer', 'signature'], what_i)
    const signer = expectString(entry['signer'], `${what_i}.signer`, MAX_SIGNER_ID_LENGTH)
    const signature = expectBytes(entry['signature'], `${what_i}.signature`, ED25519_SIGNATURE_BYTES)
    if (signature.byteLength !== ED25519_SIGNATURE_BYTES)
      throw new InvalidMessageError(`${what_i}.signature must be ${ED25519_SIGNATURE_BYTES} bytes`)
    const previous = signatures[signatures.length - 1]
    if (previous !== undefined && compareIds(previous.signer, signer) >= 0)
      throw new InvalidMessageError(`${what}.signatures must be sorted by signer with no duplicates (at '${signer}')`)
    signatures.push({ signer, signature })
  }
  return { digest, signatures }
}

export type QuorumCertificateRejection =
  | 'wrong-digest'
  | 'duplicate-signer'
  | 'not-a-voter'
  | 'too-few-signers'
  | 'bad-signature'

export type QuorumCertificateVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly rejection: QuorumCertificateRejection; readonly reason: string }

export interface VerifyQuorumCertificateOptions {
  /** Only voters count; their public keys are the ones checked. */
  readonly membership: Membership
  /** Distinct valid signers required, e.g. byzantineQuorum(n). */
  readonly quorum: number
  readonly verifier: Verifier
  /** When given, the certificate must be over exactly this digest. */
  readonly expectedDigest?: Uint8Array
}

/**
 * Check a certificate: the expected digest, distinct signers, every signer a
 * voter, at least `quorum` of them, and every signature valid. Cheap checks
 * run before any signature is verified. Never throws.
 */
export function verifyQuorumCertificate(qc: QuorumCertificate, options: VerifyQuorumCertificateOptions): QuorumCertificateVerdict {
  const { membership, quorum, verifier, expectedDigest } = options
  if (expectedDigest !== undefined && !bytesEqual(qc.digest, expectedDigest))
    return reject('wrong-digest', 'the certificate is over a different digest than expected')
  const keys = new Map(membership.voters.map((v) => [v.id, v.publicKey]))
  const seen = new Set<NodeId>()
  for (const { signer } of qc.signatures) {
    if (seen.has(signer)) return reject('duplicate-signer', `'${signer}' signed more than once`)
    seen.add(signer)
    if (!keys.has(signer)) return reject('not-a-voter', `'${signer}' is not a voter of epoch ${membership.epoch}`)
  }
  // An empty certificate proves nothing, whatever quorum a caller computed.
  const required = Math.max(1, quorum)
  if (qc.signatures.length < required)
    return reject('too-few-signers', `${qc.signatures.length} distinct signers, the quorum is ${required}`)
  for (const { signer, signature } of qc.signatures) {
    if (!verifier.verify(keys.get(signer)!, qc.digest, signature))
      return reject('bad-signature', `the signature of '${signer}' does not verify`)
  }
  return { ok: true }
}

function reject(rejection: QuorumCertificateRejection, reason: string): QuorumCertificateVerdict {
  return { ok: false, rejection, reason }
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
