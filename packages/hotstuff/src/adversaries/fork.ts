// The forking leader: a Byzantine replica that, leading a view after a timeout, proposes on a stale QC so
// that blocks honest replicas locked on (and some may have committed) would be orphaned.
import { toHex, type NodeId, type ProtocolContext, type ProtocolNode, type Random } from '@synod/core'
import { decodeMessage, encodeProposal, encodeVote, makeBlock, voteDigest, type Block, type Hash } from '../messages.js'

const limits = { maxCommandBytes: 1 << 21, maxBlockCommands: 1 << 16 }
/** Blocks remembered to fork from (FIFO): enough for the few views a fork reaches back. */
const MAX_BLOCKS = 512

export interface ForkOptions {
  /** Chance of forking when the attacker leads a view entered by a TC (the only views a stale QC may justify). */
  readonly rate: number
}

/**
 * The forking leader. When the attacker leads view v with a TC of view v−1 —
 * the only case in which honest replicas accept a justify QC older than
 * v−1 (a proposal on a stale QC without it is dropped as 'unjustified-view')
 * — it replaces its honest proposal, with probability `rate`, by a block
 * that extends the QC of its highest QC's grandparent: the parent of the
 * block honest replicas locked on, so the locked block (which a replica that
 * saw one more QC has committed) and everything after it would be orphaned. The fork
 * re-orders the orphaned blocks' batches (reversed), so a replica that had
 * committed them and one that commits the fork would execute different
 * commands at the same index. The block is signed by the attacker's real
 * key and carries the real TC; the attacker also votes for it, not for its
 * honest block. Only the locking rule (SafetyRules: a block must extend the
 * lock or carry a QC newer than it) stops it: the test with
 * `safety.unsafe.ignoreLock` shows the harm (test/forking-leader.test.ts).
 *
 * Each fork is announced as a custom event `hotstuff/fork` (counted by the
 * tests; shown in conformance timelines), so a run cannot pass with the
 * attack silently absent.
 */
export class ForkingLeader {
  private readonly blocks = new Map<string, Block>()
  /** The view decided last and its fork (undefined: honest this time). */
  private decided: { view: number; honest: Hash; fork: Block | undefined; vote?: Uint8Array } | undefined

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly random: Random,
    private readonly options: ForkOptions,
  ) {}

  /** Wraps the node's receive: blocks arriving in proposals and fetch answers are remembered. */
  watch(node: ProtocolNode): ProtocolNode {
    const receive = node.receive.bind(node)
    node.receive = (from: NodeId, message: Uint8Array) => {
      this.observe(message)
      receive(from, message)
    }
    return node
  }

  /** Rewrites what the honest node sends (its own proposal and its vote for it); everything else passes. */
  send(to: NodeId, message: Uint8Array, next: (to: NodeId, message: Uint8Array) => void): void {
    let m
    try {
      m = decodeMessage(message, limits)
    } catch {
      return next(to, message)
    }
    if (m.k === 'p' && m.block.author === this.ctx.self) {
      this.remember(m.block)
      const fork = this.decide(m.block, m.tc !== undefined && m.tc.view + 1 === m.block.view)
      return next(to, fork === undefined ? message : encodeProposal(fork, m.tc))
    }
    const d = this.decided
    if (m.k === 'v' && d?.fork !== undefined && m.view === d.view && toHex(m.block) === toHex(d.honest)) {
      // Vote for the fork instead: at n = 3f+1 the fork needs the attacker's vote to reach a quorum.
      d.vote ??= encodeVote(d.view, d.fork.hash, this.ctx.signer!.sign(voteDigest(d.view, d.fork.hash)))
      return next(to, d.vote)
    }
    next(to, message)
  }

  private decide(honest: Block, byTC: boolean): Block | undefined {
    const d = this.decided
    if (d !== undefined && d.view === honest.view) return d.fork
    const fork = byTC && this.random.next() < this.options.rate ? this.forkFor(honest) : undefined
    this.decided = { view: honest.view, honest: honest.hash, fork }
    if (fork !== undefined)
      this.ctx.observe({ type: 'custom', name: 'hotstuff/fork', detail: { view: fork.view, height: fork.height, orphanedFrom: honest.height - 1 } })
    return fork
  }

  /**
   * The block of the honest proposal's justify QC is b; its parent b′ is
   * what replicas that saw QC(b) locked on. Extend b′'s parent b″ with the QC
   * that b′ carries: a sibling of the locked block (fork on the
   * grandparent's QC), below the lock, so b′ and b are orphaned.
   */
  private forkFor(honest: Block): Block | undefined {
    const b = this.blocks.get(toHex(honest.parent))
    const locked = b === undefined ? undefined : this.blocks.get(toHex(b.parent))
    const base = locked === undefined ? undefined : this.blocks.get(toHex(locked.parent))
    if (b === undefined || locked === undefined || base === undefined) return undefined
    // The orphaned blocks' batches and the new ones, reversed: the same commands at other indexes.
    const seen = new Set<string>()
    const batches: Hash[] = []
    for (const digest of [...locked.batches, ...b.batches, ...honest.batches].reverse()) {
      const key = toHex(digest)
      if (seen.has(key)) continue
      seen.add(key)
      batches.push(digest)
    }
    const fork = makeBlock({ view: honest.view, height: base.height + 1, parent: base.hash, justify: locked.justify, batches, author: this.ctx.self })
    this.remember(fork)
    return fork
  }

  private observe(message: Uint8Array): void {
    let m
    try {
      m = decodeMessage(message, limits)
    } catch {
      return
    }
    if (m.k === 'p') this.remember(m.block)
    else if (m.k === 'b') for (const b of m.blocks) this.remember(b)
  }

  private remember(block: Block): void {
    const key = toHex(block.hash)
    if (this.blocks.has(key)) return
    if (this.blocks.size >= MAX_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!)
    this.blocks.set(key, block)
  }
}
