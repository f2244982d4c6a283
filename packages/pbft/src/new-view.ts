import type { CheckpointCertificate, Digest, ViewChange } from './messages.js'
import { batchDigest } from './messages.js'

/** One pre-prepare of the O set: the batch by digest (bodies are fetched by replicas that miss them). */
export interface NewViewEntry {
  readonly seq: number
  readonly digest: Digest
}

export interface NewViewPlan {
  /** The latest stable checkpoint among the view-changes (min-s). */
  readonly checkpoint: CheckpointCertificate
  /** One pre-prepare per sequence number in (min-s, max-s]: the batch prepared in the highest view, or a null request. */
  readonly entries: readonly NewViewEntry[]
}

/**
 * The O set of PBFT's NEW-VIEW (Castro & Liskov, TOCS'02 §4.4), computed from
 * 2f+1 already-validated VIEW-CHANGE messages. Deterministic: the new primary
 * computes it to build the NEW-VIEW and every backup recomputes it to check.
 */
export function planNewView(viewChanges: readonly ViewChange[]): NewViewPlan {
  let checkpoint: CheckpointCertificate = viewChanges[0]!.checkpoint
  for (const vc of viewChanges) if (vc.checkpoint.seq > checkpoint.seq) checkpoint = vc.checkpoint
  const minS = checkpoint.seq
  let maxS = minS
  const best = new Map<number, { view: number; digest: Digest }>()
  for (const vc of viewChanges) {
    for (const p of vc.prepared) {
      if (p.seq <= minS) continue
      if (p.seq > maxS) maxS = p.seq
      const current = best.get(p.seq)
      if (current === undefined || p.view > current.view) best.set(p.seq, { view: p.view, digest: p.digest })
    }
  }
  const entries: NewViewEntry[] = []
  const empty = batchDigest([])
  for (let seq = minS + 1; seq <= maxS; seq++) {
    const chosen = best.get(seq)
    entries.push({ seq, digest: chosen === undefined ? empty : chosen.digest })
  }
  return { checkpoint, entries }
}
