import { bytesEqual, toHex, type NodeId } from '@synod/core'
import { MAX_COMMITTED_BATCHES, statement, type Bundle, type CommitCertificate, type Digest, type PrePrepare, type Signature, type Vote } from './messages.js'

/**
 * Catch-up by commit certificates (docs/adr/0010). A batch with 2f+1 signed
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
  readonly prePrepare: { readonly view: number; readonly digest: Digest } | undefined
  /** Batch bodies by hex digest (only a slot whose body is held can be certified to a peer). */
  readonly bodies: ReadonlyMap<string, readonly Bundle[]>
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
    const bundles = pp === undefined ? undefined : slot?.bodies.get(toHex(pp.digest))
    if (slot === undefined || pp === undefined || bundles === undefined || !slot.committed) break
    const commits: Vote[] = []
    for (const [id, vote] of slot.commits) {
      if (vote.verified && vote.view === pp.view && bytesEqual(vote.digest, pp.digest)) commits.push({ id, sig: vote.sig })
      if (commits.length === quorum) break
    }
    if (commits.length < quorum) break
    const size = bundles.reduce((sum, b) => sum + b.body.byteLength, 0)
    if (out.length > 0 && bytes + size > MAX_CATCH_UP_BYTES) break
    bytes += size
    out.push({ view: pp.view, seq, bundles, digest: pp.digest, commits })
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

interface LearnerSlot {
  /** The latest pre-prepares (by view) seen from lower views' primaries, at most MAX_LEARNER_PRE_PREPARES. */
  readonly prePrepares: PrePrepare[]
  /** Each sender's latest commit. */
  readonly commits: Map<NodeId, { view: number; digest: Digest; sig: Signature; verified: boolean }>
}

const MAX_LEARNER_PRE_PREPARES = 2

/**
 * Follows the normal case of a view this replica has left (it sent a
 * VIEW-CHANGE for a higher one that the others have not joined): it records
 * the pre-prepares and commits of lower views that it receives anyway and
 * yields a commit certificate as soon as 2f+1 valid commits match a
 * pre-prepare's batch. It never votes in those views (that would break the
 * promise of its VIEW-CHANGE); it only learns what they committed.
 * Bounded by the log window: one entry per sequence number, two
 * pre-prepares and one commit per member each.
 */
export class LowerViewLearner {
  private readonly slots = new Map<number, LearnerSlot>()

  constructor(
    private readonly quorum: number,
    private readonly verify: (id: NodeId, message: Uint8Array, sig: Signature) => boolean,
  ) {}

  /** Record a pre-prepare (already checked to come from its view's primary) or a commit; returns a certificate once one is complete. */
  observe(from: NodeId, message: PrePrepare | { readonly k: 'c'; readonly view: number; readonly seq: number; readonly digest: Digest; readonly sig: Signature }): CommitCertificate | undefined {
    let slot = this.slots.get(message.seq)
    if (slot === undefined) this.slots.set(message.seq, (slot = { prePrepares: [], commits: new Map() }))
    if (message.k === 'pp') {
      if (slot.prePrepares.some((pp) => pp.view === message.view)) return undefined
      slot.prePrepares.push(message)
      slot.prePrepares.sort((a, b) => b.view - a.view)
      slot.prePrepares.length = Math.min(slot.prePrepares.length, MAX_LEARNER_PRE_PREPARES)
    } else {
      const known = slot.commits.get(from)
      if (known !== undefined && known.view >= message.view) return undefined
      slot.commits.set(from, { view: message.view, digest: message.digest, sig: message.sig, verified: false })
    }
    for (const pp of slot.prePrepares) {
      const commits: Vote[] = []
      const statementOf = statement('commit', pp.view, pp.seq, pp.digest)
      for (const [id, vote] of slot.commits) {
        if (vote.view !== pp.view || !bytesEqual(vote.digest, pp.digest)) continue
        if (!vote.verified) {
          if (!this.verify(id, statementOf, vote.sig)) {
            slot.commits.delete(id)
            continue
          }
          vote.verified = true
        }
        commits.push({ id, sig: vote.sig })
        if (commits.length === this.quorum) {
          this.slots.delete(pp.seq)
          return { view: pp.view, seq: pp.seq, bundles: pp.bundles, digest: pp.digest, commits }
        }
      }
    }
    return undefined
  }

  /** Forget everything at or below `seq` (executed, or below the low watermark). */
  forgetUpTo(seq: number): void {
    for (const s of [...this.slots.keys()]) if (s <= seq) this.slots.delete(s)
  }

  clear(): void {
    this.slots.clear()
  }
}
