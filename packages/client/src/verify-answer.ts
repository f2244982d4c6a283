// "A client that verifies" (BFT-SMaRt's ServiceProxy, TOCS'02 §4.1): the
// answer counts only with f+1 members' signatures over the result of the
// exact request this client signed — or, for a read answered without
// ordering (PBFT's read-only requests, §5.1.3), 2f+1 members' signatures. The members' keys come from a
// configuration the client trusts — never from the node that answered.
import { decodeSignedClientRequest, InvalidMessageError, type Membership, type Verifier } from '@synod/core'
import { createVerifier, verifyReplyCertificate } from '@synod/crypto'
import { decodeResult, type KvResult } from '@synod/kv'
import { isReadCertificate, verifyReadCertificate } from '@synod/pbft'

export interface CertifiedAnswer {
  /** The answer's proof: a reply certificate (ordered) or a read certificate (read-only request). */
  readonly certificate: Uint8Array
  /** The state machine's raw result that the certificate signs. */
  readonly result: Uint8Array
  /** The log index the node reported, if any: must match the certified one. */
  readonly index?: number
}

export interface VerifiedAnswer {
  /**
   * 'ordered': a reply certificate, the command executed at `index`; 'read': a read certificate,
   * answered without ordering by 2f+1 replicas (then `index` is the node's report, not certified).
   */
  readonly kind: 'ordered' | 'read'
  readonly index: number
  readonly result: Uint8Array
  /** Members whose signed replies the certificate carries (f+1 distinct for 'ordered', 2f+1 for 'read'). */
  readonly signers: readonly string[]
}

/**
 * Verify that `answer` is the cluster's answer to `envelope` (the signed
 * request bytes this client sent), whichever certificate it carries (read
 * certificates start with the tag 'ro'). Throws InvalidMessageError for a
 * certificate of another request (stale or foreign), too few or forged
 * signatures (f+1 for an ordered answer, 2f+1 for a read), non-members, or
 * a result other than the certified one.
 */
export function verifyAnswer(envelope: Uint8Array, answer: CertifiedAnswer, members: Membership, verifier: Verifier = createVerifier()): VerifiedAnswer {
  decodeSignedClientRequest(envelope) // only the client's own envelope can be verified against
  if (isReadCertificate(answer.certificate)) {
    const read = verifyReadCertificate(answer.certificate, members, verifier, { request: envelope, result: answer.result })
    return { kind: 'read', index: answer.index ?? 0, result: answer.result, signers: read.signers }
  }
  const verified = verifyReplyCertificate(answer.certificate, members, verifier, {
    command: envelope,
    result: answer.result,
    ...(answer.index === undefined ? {} : { index: answer.index }),
  })
  if (verified.failed) throw new InvalidMessageError('the certificate says the command failed to apply')
  return { kind: 'ordered', index: verified.index, result: answer.result, signers: verified.signers }
}

/** verifyAnswer, then decode the certified bytes as a @synod/kv result. */
export function verifyKvAnswer(envelope: Uint8Array, answer: CertifiedAnswer, members: Membership, verifier?: Verifier): VerifiedAnswer & { readonly kv: KvResult } {
  const verified = verifyAnswer(envelope, answer, members, verifier)
  return { ...verified, kv: decodeResult(verified.result) }
}
