import { byzantineQuorum, bytesEqual, toHex, type Membership, type Verifier } from '@synod/core'
import { verifyQuorumCertificate } from '@synod/crypto'
import { GENESIS, timeoutDigest, voteDigest, type QC, type TC } from '../messages.js'

/** Why a certificate was refused; the node counts drops by these names. */
export type CertificateRejection = 'qc-wrong-genesis' | 'duplicate-signer' | 'not-a-voter' | 'too-few-signers' | 'bad-signature' | 'wrong-digest'

const MAX_CACHED = 4096

/**
 * Verifies QCs and TCs against the membership (2f+1 distinct voters, every
 * signature valid) once: a verified (view, block) or timeout view is
 * remembered, and any later certificate for the same fact is answered by the
 * one already verified — the caller uses the returned certificate, so nothing
 * unverified is ever forwarded.
 */
export class CertificateVerifier {
  private readonly quorum: number
  private readonly qcs = new Map<string, QC>()
  private readonly tcs = new Map<number, TC>()
  /** Test-only switch: accept certificates without checking them (shows what the checks defend). */
  skipChecks = false

  constructor(
    private readonly membership: Membership,
    private readonly verifier: Verifier,
  ) {
    this.quorum = byzantineQuorum(membership.voters.length)
  }

  /** The verified QC for this (view, block), or the reason it is refused. */
  qc(qc: QC): QC | CertificateRejection {
    if (qc.view === 0) return bytesEqual(qc.block, GENESIS.hash) ? qc : 'qc-wrong-genesis'
    const key = `${qc.view}:${toHex(qc.block)}`
    const known = this.qcs.get(key)
    if (known !== undefined) return known
    if (!this.skipChecks) {
      const verdict = verifyQuorumCertificate(
        { digest: voteDigest(qc.view, qc.block), signatures: qc.signatures },
        { membership: this.membership, quorum: this.quorum, verifier: this.verifier },
      )
      if (!verdict.ok) return verdict.rejection
    }
    if (this.qcs.size >= MAX_CACHED) this.qcs.delete(this.qcs.keys().next().value!)
    this.qcs.set(key, qc)
    return qc
  }

  tc(tc: TC): TC | CertificateRejection {
    const known = this.tcs.get(tc.view)
    if (known !== undefined) return known
    if (!this.skipChecks) {
      const verdict = verifyQuorumCertificate(
        { digest: timeoutDigest(tc.view), signatures: tc.signatures },
        { membership: this.membership, quorum: this.quorum, verifier: this.verifier },
      )
      if (!verdict.ok) return verdict.rejection
    }
    if (this.tcs.size >= MAX_CACHED) this.tcs.delete(this.tcs.keys().next().value!)
    this.tcs.set(tc.view, tc)
    return tc
  }

  /** A certificate this node assembled from signatures it verified one by one. */
  remember(qc: QC): void {
    this.qcs.set(`${qc.view}:${toHex(qc.block)}`, qc)
  }

  rememberTC(tc: TC): void {
    this.tcs.set(tc.view, tc)
  }
}

export function isRejection<T extends object>(value: T | CertificateRejection): value is CertificateRejection {
  return typeof value === 'string'
}
