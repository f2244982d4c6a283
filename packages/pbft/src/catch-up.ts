import { bytesEqual, type NodeId } from '@synod/core'
import { MAX_COMMITTED_BATCHES, statement, type CommitCertificate, type Digest, type PrePrepare, type Signature, type Vote } from './messages.js'

/**
 * Catch-up by commit certificates (docs/adr/0006). A batch with 2f+1 signed
 * commits of one view w is committed at its sequence number for good: those
 * commits come from at least f+1 correct replicas that prepared it in w, so
 * every later NEW-VIEW carries it there (TOCS'02 §4.4, the committed
 * invariant). Executing it needs no view: a replica that missed the
 * messages, or one waiting alone in a higher view's view change, may execute
 * it in order without preparing or committing anything in w itself.
 */

/** Bytes of batch content one catch-up answer carries at most (one batch always fits, however large). */
export const MAX_CATCH_UP_BYTES = 1 << 20

interface CommitVote {
  readonly view: number
  readonly digest: Digest
  readonly sig: Signature
  readonly verified: boolean
}

export interface ExecutedSlot {
  readonly prePrepare: PrePrepare | undefined
  readonly commits: ReadonlyMap<NodeId, CommitVote>
  readonly committed: boolean
}

/**
 * The commit certificates of the executed, still logged slots from `from` on,
 * consecutive, stopping at the first slot without one (it was executed in an
 * older view whose votes a view change discarded, or by state transfer).
 */
export function commitCertificates(slots: ReadonlyMap<number, ExecutedSlot>, from: number, lastExecuted: number, quorum: number): CommitCertificate[] {
  const out: CommitCertificate[] = []
  let bytes = 0
  for (let seq = from; seq <= lastExecuted && out.length < MAX_COMMITTED_BATCHES; seq++) {
    const slot = slots.get(seq)
    const pp = slot?.prePrepare
    if (slot === undefined || pp === undefined || !slot.committed) break
    const commits: Vote[] = []
    for (const [id, vote] of slot.commits) {
      if (vote.verified && vote.view === pp.view && bytesEqual(vote.digest, pp.digest)) commits.push({ id, sig: vote.sig })
      if (commits.length === quorum) break
    }
    if (commits.length < quorum) break
    const size = pp.bundles.reduce((sum, b) => sum + b.body.byteLength, 0)
    if (out.length > 0 && bytes + size > MAX_CATCH_UP_BYTES) break
    bytes += size
    out.push({ view: pp.view, seq, bundles: pp.bundles, digest: pp.digest, commits })
  }
  return out
}

/** Whether `cert` carries 2f+1 distinct members' valid commits for its (view, seq, batch digest). */
export function validCommitCertificate(cert: CommitCertificate, quorum: number, verify: (id: NodeId, message: Uint8Array, sig: Signature) => boolean): boolean {
  const message = statement('commit', cert.view, cert.seq, cert.digest)
  const good = new Set<NodeId>()
  for (const vote of cert.commits) {
    if (good.has(vote.id)) continue
    if (verify(vote.id, message, vote.sig)) good.add(vote.id)
    if (good.size >= quorum) return true
  }
  return false
}
