import { bytesEqual, toHex } from '@synod/core'
import type { Block, Hash } from '../messages.js'

export type InsertOutcome = 'inserted' | 'known' | 'missing-parent' | 'bad-height' | 'bad-view' | 'bad-parent' | 'below-root'

/**
 * The block tree above the last committed block (the root), plus the last
 * `retain` committed blocks so laggards can fetch them. A block enters only
 * if its parent is here (so everything held descends from the root or is
 * committed history); committing a block prunes the forks it rules out and
 * committed history past the retention window, so memory stays bounded.
 */
export class BlockStore {
  private readonly blocks = new Map<string, Block>()
  /** Committed blocks still held, oldest first; the last one is the root. */
  private committed: Block[]
  private readonly committedSet = new Set<string>()

  constructor(
    root: Block,
    private readonly retain: number,
  ) {
    this.committed = [root]
    this.blocks.set(toHex(root.hash), root)
    this.committedSet.add(toHex(root.hash))
  }

  get root(): Block {
    return this.committed[this.committed.length - 1]!
  }

  /** The oldest committed block still held (history below it is pruned). */
  get oldest(): Block {
    return this.committed[0]!
  }

  get size(): number {
    return this.blocks.size
  }

  get(hash: Hash): Block | undefined {
    return this.blocks.get(toHex(hash))
  }

  isCommitted(hash: Hash): boolean {
    return this.committedSet.has(toHex(hash))
  }

  /** Structural checks against the parent: one height more, a later view, the justify QC certifying the parent. */
  insert(block: Block): InsertOutcome {
    const key = toHex(block.hash)
    if (this.blocks.has(key)) return 'known'
    if (block.height <= this.root.height) return 'below-root'
    if (!bytesEqual(block.parent, block.justify.block) || block.justify.view >= block.view) return 'bad-parent'
    const parent = this.blocks.get(toHex(block.parent))
    if (parent === undefined) return 'missing-parent'
    if (parent.height + 1 !== block.height) return 'bad-height'
    if (parent.view !== block.justify.view || parent.view >= block.view) return 'bad-view'
    // A parent at or below the root that is not the root is committed history: a fork off it is dead.
    if (parent.height < this.root.height) return 'below-root'
    this.blocks.set(key, block)
    return 'inserted'
  }

  parent(block: Block): Block | undefined {
    return this.blocks.get(toHex(block.parent))
  }

  /**
   * Does `block` extend the block (`hash`, `view`)? Walks parents down to that
   * view; 'missing' when an ancestor is not here (fetch it first).
   */
  extends(block: Block, hash: Hash, view: number): boolean | 'missing' {
    let current: Block | undefined = block
    while (current !== undefined && current.view > view) current = this.parent(current)
    if (current === undefined) return 'missing'
    return current.view === view && bytesEqual(current.hash, hash)
  }

  /** The uncommitted blocks from the root's child up to `block` (inclusive), or undefined if it does not descend from the root. */
  pathFromRoot(block: Block): Block[] | undefined {
    const path: Block[] = []
    let current: Block | undefined = block
    while (current !== undefined && current.height > this.root.height) {
      path.push(current)
      current = this.parent(current)
    }
    if (current === undefined || !bytesEqual(current.hash, this.root.hash)) return undefined
    return path.reverse()
  }

  /** Up to `count` blocks from `hash` down its ancestry, newest first (for a peer's fetch). */
  chain(hash: Hash, count: number): Block[] {
    const out: Block[] = []
    let current = this.get(hash)
    while (current !== undefined && out.length < count && current.height > 0) {
      out.push(current)
      current = this.parent(current)
    }
    return out
  }

  /** Make `block` (a descendant of the root) the new root; prune what that rules out. Returns the committed blocks pruned. */
  commit(path: readonly Block[]): Block[] {
    for (const b of path) {
      this.committed.push(b)
      this.committedSet.add(toHex(b.hash))
    }
    let pruned: Block[] = []
    if (this.committed.length > this.retain + 1) {
      pruned = this.committed.slice(0, this.committed.length - this.retain - 1)
      for (const old of pruned) {
        this.blocks.delete(toHex(old.hash))
        this.committedSet.delete(toHex(old.hash))
      }
      this.committed = this.committed.slice(-this.retain - 1)
    }
    const root = this.root
    for (const [key, b] of this.blocks) {
      if (this.committedSet.has(key)) continue
      if (b.height <= root.height || this.pathFromRoot(b) === undefined) this.blocks.delete(key)
    }
    return pruned
  }

  /** Replace everything with a new root (an installed snapshot). */
  reset(root: Block): void {
    this.blocks.clear()
    this.committedSet.clear()
    this.committed = [root]
    this.blocks.set(toHex(root.hash), root)
    this.committedSet.add(toHex(root.hash))
  }

  /** Every held block, for restart bookkeeping and tests. */
  all(): IterableIterator<Block> {
    return this.blocks.values()
  }
}
