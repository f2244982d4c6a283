import { describe, expect, it } from 'vitest'
import { memoryStorage } from '@synod/storage'
import { BlockStore } from '../src/blockchain/block-store.js'
import { chainUpdate } from '../src/consensus/commit-rule.js'
import { SafetyRules } from '../src/consensus/safety.js'
import { GENESIS, GENESIS_QC, makeBlock, type Block, type QC } from '../src/messages.js'

// Blocks built by hand (QC signatures are not needed here: the store and the rules only read views and hashes).
const qcOf = (b: Block): QC => ({ view: b.view, block: b.hash, signatures: [] })
const child = (parent: Block, view: number, tag = ''): Block =>
  makeBlock({ view, height: parent.height + 1, parent: parent.hash, justify: parent === GENESIS ? GENESIS_QC : qcOf(parent), batches: [], author: tag })

function chain(views: number[]): { store: BlockStore; blocks: Block[] } {
  const store = new BlockStore(GENESIS, 16)
  const blocks: Block[] = []
  let parent = GENESIS
  for (const v of views) {
    const b = child(parent, v)
    expect(store.insert(b)).toBe('inserted')
    blocks.push(b)
    parent = b
  }
  return { store, blocks }
}

describe('commit rule (PODC\'19 Algorithm 3; docs/adr/0009)', () => {
  it('a QC on the third of three blocks in consecutive views commits the first and locks the second', () => {
    const { store, blocks } = chain([1, 2, 3])
    const update = chainUpdate(qcOf(blocks[2]!), store)
    expect(update.commit?.view).toBe(1)
    expect(update.lock?.view).toBe(2)
  })

  it('no commit when a view is skipped inside the chain (a 3-chain that is not direct)', () => {
    for (const views of [
      [1, 3, 4],
      [1, 2, 4],
    ]) {
      const { store, blocks } = chain(views)
      const update = chainUpdate(qcOf(blocks[2]!), store)
      expect(update.commit).toBeUndefined()
      expect(update.lock?.view).toBe(views[1])
      // The test-only rule without the condition would commit here.
      expect(chainUpdate(qcOf(blocks[2]!), store, 'three-chain-any-views').commit?.view).toBe(1)
    }
  })

  it('a 2-chain alone commits nothing under the 3-chain rule', () => {
    // (Views 5, 6 over genesis: genesis is view 0, so the three are not consecutive.)
    const { store, blocks } = chain([5, 6])
    expect(chainUpdate(qcOf(blocks[1]!), store).commit).toBeUndefined()
    expect(chainUpdate(qcOf(blocks[1]!), store, 'two-chain-unsafe').commit?.view).toBe(5)
  })
})

describe('vote rule (safeNode)', () => {
  it('votes for a block extending the lock, or with a justify QC newer than the lock; once per view', () => {
    const { store, blocks } = chain([1, 2, 3])
    const safety = new SafetyRules(memoryStorage())
    safety.lock(blocks[1]!) // locked on view 2
    // A fork from block 1 (view 1) in view 4: justify QC of view 1 < lock, does not extend the lock.
    const fork = child(blocks[0]!, 4, 'fork')
    expect(store.insert(fork)).toBe('inserted')
    expect(safety.check(fork, store)).toBe('not-safe')
    safety.unsafe.ignoreLock = true
    expect(safety.check(fork, store)).toBe('vote')
    safety.unsafe.ignoreLock = false
    // Extends the lock.
    const next = child(blocks[2]!, 4)
    expect(store.insert(next)).toBe('inserted')
    expect(safety.check(next, store)).toBe('vote')
    safety.recordVote(4)
    expect(safety.check(next, store)).toBe('already-voted')
    // A newer QC than the lock unlocks (liveness): a fork whose justify is view 3 > 2.
    const other = child(blocks[2]!, 5, 'other')
    expect(store.insert(other)).toBe('inserted')
    expect(safety.check(other, store)).toBe('vote')
  })

  it('the lock, the last voted view and the high QC survive a restart (read from storage)', () => {
    const storage = memoryStorage()
    const { blocks } = chain([1, 2])
    const a = new SafetyRules(storage)
    a.lock(blocks[1]!)
    a.recordVote(7)
    a.updateHighQC(qcOf(blocks[1]!))
    const b = new SafetyRules(storage)
    b.load()
    expect([b.lockedView, b.lastVotedView, b.highQC.view]).toEqual([2, 7, 2])
  })
})
