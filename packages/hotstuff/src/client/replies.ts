import { bytesEqual, toHex, type ClientRef, type NodeId } from '@synod/core'
import { encodeAnswerCertificate, encodeReplies, replyStatement, type ReplyVote } from '@synod/crypto'

/** A local client's answer waiting for its reply certificate. */
export interface PendingAnswer {
  readonly client: ClientRef
  readonly index: number
  /** Position of its leaf in the block's result tree. */
  readonly position: number
  readonly failed: boolean
  readonly result: Uint8Array
}

interface Awaiting {
  readonly root: Uint8Array
  readonly levels: Uint8Array[][]
  readonly answers: PendingAnswer[]
}

interface Signed {
  readonly root: Uint8Array
  readonly sig: Uint8Array
  verified: boolean
}

/**
 * Reply certificates in PBFT's format (@synod/crypto): after executing a
 * block every replica signs `replyStatement(height, root)` over the Merkle
 * root of the block's (index, command, result) leaves; a proxy answers its
 * clients once f+1 replicas (itself included) signed the root it computed.
 * Signatures are verified lazily, only those matching our root, only until
 * f+1 are found.
 */
export class ReplyCollector {
  private readonly awaiting = new Map<number, Awaiting>()
  private readonly votes = new Map<number, Map<NodeId, Signed>>()

  constructor(
    private readonly needed: number,
    private readonly verify: (from: NodeId, statement: Uint8Array, sig: Uint8Array) => boolean,
    private readonly answer: (client: ClientRef, answer: PendingAnswer, proof: Uint8Array) => void,
    private readonly fail: (answer: PendingAnswer) => void,
  ) {}

  /** Our own execution of block `height`: our signature counts, and our clients there wait. */
  executed(height: number, root: Uint8Array, levels: Uint8Array[][], answers: PendingAnswer[], self: NodeId, sig: Uint8Array): void {
    if (answers.length === 0) {
      this.votes.delete(height)
      return
    }
    this.awaiting.set(height, { root, levels, answers })
    this.record(height, self, root, sig, true)
    this.tryAnswer(height)
  }

  /** A peer's reply; `window` says whether the height is one we may still need. */
  received(height: number, from: NodeId, root: Uint8Array, sig: Uint8Array, executedHere: boolean): void {
    if (executedHere && !this.awaiting.has(height)) return
    this.record(height, from, root, sig, false)
    this.tryAnswer(height)
  }

  /** Forget heights below `height` (their clients were answered or have timed out in the Replica). */
  pruneBelow(height: number): void {
    for (const h of this.votes.keys()) if (h < height) this.votes.delete(h)
    for (const h of this.awaiting.keys()) if (h < height) this.awaiting.delete(h)
  }

  get pendingHeights(): number {
    return this.awaiting.size + this.votes.size
  }

  private record(height: number, from: NodeId, root: Uint8Array, sig: Uint8Array, verified: boolean): void {
    let votes = this.votes.get(height)
    if (votes === undefined) this.votes.set(height, (votes = new Map()))
    if (!votes.has(from)) votes.set(from, { root, sig, verified })
  }

  private tryAnswer(height: number): void {
    const awaiting = this.awaiting.get(height)
    const votes = this.votes.get(height)
    if (awaiting === undefined || votes === undefined) return
    const replies: ReplyVote[] = []
    for (const [id, vote] of votes) {
      if (replies.length >= this.needed) break
      if (!bytesEqual(vote.root, awaiting.root)) continue
      if (!vote.verified) {
        if (!this.verify(id, replyStatement(height, vote.root), vote.sig)) {
          votes.delete(id)
          continue
        }
        vote.verified = true
      }
      replies.push({ id, sig: vote.sig })
    }
    if (replies.length < this.needed) return
    this.awaiting.delete(height)
    this.votes.delete(height)
    const encoded = encodeReplies(replies)
    for (const answer of awaiting.answers) {
      if (answer.failed) this.fail(answer)
      else this.answer(answer.client, answer, encodeAnswerCertificate(height, answer.index, false, awaiting.levels, answer.position, encoded))
    }
  }
}

export const rootKey = (root: Uint8Array): string => toHex(root)
