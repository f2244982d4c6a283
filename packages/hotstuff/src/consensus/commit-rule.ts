import type { BlockStore } from '../blockchain/block-store.js'
import type { Block, QC } from '../messages.js'

export interface ChainUpdate {
  /** The head of the 2-chain under the QC: lock on it. */
  readonly lock?: Block
  /** The head of a 3-chain of consecutive views: commit it (and its uncommitted ancestors). */
  readonly commit?: Block
}

/**
 * Chained HotStuff's update on a new QC (PODC'19 Algorithm 3, with b'' the
 * certified block, b' its parent and b the grandparent): b' heads a 2-chain
 * (b'' and the QC), so lock on it; b heads a 3-chain, committed when b, b'
 * and b'' are in consecutive views — a direct chain, no view skipped in
 * between (see docs/adr/0009-hotstuff-commit-rule.md). Blocks' justify QCs
 * always certify their parents, so the parent links are the QC links.
 */
export function chainUpdate(qc: QC, store: BlockStore, rule: CommitRule = 'three-chain'): ChainUpdate {
  const b2 = store.get(qc.block)
  if (b2 === undefined) return {}
  const b1 = store.parent(b2)
  if (b1 === undefined) return {}
  const b0 = store.parent(b1)
  if (rule === 'two-chain-unsafe') return b1.view + 1 === b2.view ? { lock: b1, commit: b1 } : { lock: b1 }
  if (b0 === undefined) return { lock: b1 }
  const consecutive = b0.view + 1 === b1.view && b1.view + 1 === b2.view
  return consecutive || rule === 'three-chain-any-views' ? { lock: b1, commit: b0 } : { lock: b1 }
}

/**
 * 'three-chain' is the protocol. The others exist for tests only: they show
 * why each condition is there ('three-chain-any-views' drops the
 * consecutive-views condition; 'two-chain-unsafe' commits on a 2-chain with
 * HotStuff's vote rule, which is not enough without DiemBFT v4's TC rule).
 */
export type CommitRule = 'three-chain' | 'three-chain-any-views' | 'two-chain-unsafe'
