import { decodeCanonical, encodeCanonical, expectBytes, expectRecord, expectUint, type Storage } from '@synod/core'
import type { BlockStore } from '../blockchain/block-store.js'
import { decodeQCWire, GENESIS, GENESIS_QC, qcWire, type Block, type Hash, type QC } from '../messages.js'

const KEY_SAFETY = 'hotstuff/safety'

export type VoteVerdict = 'vote' | 'already-voted' | 'not-safe' | 'missing-ancestor'

/**
 * The safety rules of chained HotStuff (PODC'19 Algorithm 3, "safeNode"):
 * vote at most once per view, and only for a block that extends the locked
 * block or whose justify QC is newer than the lock. The last voted view, the
 * lock and the highest QC are written to storage in the same step that emits
 * a vote (the Replica syncs before sending), so a restarted replica never
 * votes twice in a view or forgets its lock.
 */
export class SafetyRules {
  lastVotedView = 0
  lockedView = 0
  lockedBlock: Hash = GENESIS.hash
  highQC: QC = GENESIS_QC
  /** Test-only switches that turn a rule off, to show the attack it stops. */
  readonly unsafe = { ignoreLock: false, forgetVotes: false }

  constructor(private readonly storage: Storage) {}

  load(): void {
    const bytes = this.storage.getHardState(KEY_SAFETY)
    if (bytes === undefined) return
    const r = expectRecord(decodeCanonical(bytes), 'safety state')
    this.lastVotedView = expectUint(r['v'], 'last voted view')
    this.lockedView = expectUint(r['l'], 'locked view')
    this.lockedBlock = expectBytes(r['b'], 'locked block', 32)
    this.highQC = decodeQCWire(r['q'])
  }

  persist(): void {
    if (this.unsafe.forgetVotes) return
    this.storage.setHardState(KEY_SAFETY, encodeCanonical({ b: this.lockedBlock, l: this.lockedView, q: qcWire(this.highQC), v: this.lastVotedView }))
  }

  /** May this replica vote for `block` (already in the store) in its view? */
  check(block: Block, store: BlockStore): VoteVerdict {
    if (block.view <= this.lastVotedView) return 'already-voted'
    // Liveness rule: a QC newer than the lock proves 2f+1 replicas moved past it.
    if (block.justify.view > this.lockedView || this.unsafe.ignoreLock) return 'vote'
    const extendsLock = store.extends(block, this.lockedBlock, this.lockedView)
    if (extendsLock === 'missing') return 'missing-ancestor'
    return extendsLock ? 'vote' : 'not-safe'
  }

  /** Record the vote; the caller sends it in the same step, after this write. */
  recordVote(view: number): void {
    this.lastVotedView = view
    this.persist()
  }

  /** A replica that timed out of a view votes in it no more (DiemBFT): its timeout and a late vote cannot both count. */
  recordTimeout(view: number): void {
    if (view <= this.lastVotedView) return
    this.lastVotedView = view
    this.persist()
  }

  /** Returns true when `qc` is newer than the highest QC known. */
  updateHighQC(qc: QC): boolean {
    if (qc.view <= this.highQC.view) return false
    this.highQC = qc
    this.persist()
    return true
  }

  /** Lock on the head of a 2-chain (monotonically). */
  lock(block: Block): void {
    if (block.view <= this.lockedView) return
    this.lockedView = block.view
    this.lockedBlock = block.hash
    this.persist()
  }
}
