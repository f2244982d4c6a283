import {
  byzantineFaults,
  byzantineQuorum,
  bytesEqual,
  ClientRequestChecker,
  ConfigError,
  decodeCanonical,
  encodeCanonical,
  expectUint,
  fromHex,
  InvalidMessageError,
  OverloadedError,
  SynodError,
  TimeoutError,
  toHex,
  type ClientRef,
  type NodeId,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolNode,
  type Signer,
  type TimerId,
  type Verifier,
} from '@synod/core'
import { merkleTree, replyStatement, resultLeaf, treeRoot, type CertificateSignature } from '@synod/crypto'
import { BlockStore } from './blockchain/block-store.js'
import { BlockPersistence } from './blockchain/persistence.js'
import { CertificateVerifier, isRejection } from './consensus/certificates.js'
import { chainUpdate, type CommitRule } from './consensus/commit-rule.js'
import { SafetyRules } from './consensus/safety.js'
import { Mempool } from './client/mempool.js'
import { ReplyCollector, type PendingAnswer } from './client/replies.js'
import {
  decodeMessage,
  encodeBlocks,
  encodeCommandRequest,
  encodeFetch,
  encodeProposal,
  encodeReply,
  encodeSnapshotOffer,
  encodeSync,
  encodeTimeout,
  encodeVote,
  GENESIS,
  makeBatch,
  makeBlock,
  MAX_FETCH_BLOCKS,
  snapshotDigest,
  timeoutDigest,
  voteDigest,
  type Batch,
  type Block,
  type DecodeLimits,
  type Hash,
  type QC,
  type SnapshotOffer,
  type TC,
} from './messages.js'
import { resolveOptions, type HotstuffOptions } from './options.js'
import { Pacemaker } from './synchronizer/pacemaker.js'

const EMPTY = new Uint8Array(0)
const KEY_INCARNATION = 'hotstuff/incarnation'
const decodeUint = (bytes: Uint8Array): number => expectUint(decodeCanonical(bytes), 'incarnation')
/** Proposals (and fetched blocks) held while their parent is being fetched. */
const MAX_ORPHANS = 1024
/** Snapshot offers held while f+1 matching ones are gathered. */
const MAX_OFFERS = 64
/** A fetch answer stops adding blocks (and their batches) past this many bytes (messages are capped at 16 MiB). */
const MAX_FETCH_ANSWER_BYTES = 8 * 1024 * 1024

interface WaitingProposal {
  readonly from: NodeId
  readonly block: Block
}

interface Request {
  at: number
  peer: number
  tries: number
  /** Blocks asked for: the chain below a missing block, or 1 (a block whose batches a commit waits for). */
  readonly count: number
}

/**
 * One chained-HotStuff replica (Yin et al., PODC'19, Algorithm 3) with a
 * DiemBFT-style pacemaker. This file wires the parts together: the safety
 * rules (consensus/), the pacemaker (synchronizer/), the block tree and its
 * persistence (blockchain/) and the client side — mempool and reply
 * certificates (client/). Every message is validated; a message that is
 * well-formed but wrong (bad or short certificate, non-leader proposal,
 * stale or far-future view, ...) is dropped and counted in
 * `status().detail.drops`.
 */
export class HotstuffNode implements ProtocolNode {
  readonly options: HotstuffOptions
  private readonly voters: readonly NodeId[]
  private readonly keys: ReadonlyMap<NodeId, Uint8Array>
  private readonly f: number
  private readonly quorum: number
  private readonly signer: Signer
  private readonly verifier: Verifier
  private readonly limits: DecodeLimits
  readonly certificates: CertificateVerifier
  readonly safety: SafetyRules
  readonly pacemaker: Pacemaker
  private store: BlockStore
  private readonly persistence: BlockPersistence
  private readonly mempool: Mempool
  private readonly replies: ReplyCollector
  private readonly clientRequests: ClientRequestChecker | undefined
  private committedIndex = 0
  private proposedView = 0
  /** The last view this replica timed out of. */
  private timedOut = 0
  private readonly votes = new Map<string, Map<NodeId, Uint8Array>>()
  private readonly timeouts = new Map<number, Map<NodeId, Uint8Array>>()
  private readonly orphans = new Map<string, Block[]>()
  private orphanCount = 0
  private readonly waitingProposals = new Map<string, WaitingProposal>()
  private readonly requested = new Map<string, Request>()
  private readonly offers = new Map<string, { offer: SnapshotOffer; signers: Set<NodeId> }>()
  /** The last snapshot offered to each peer, and when (offers are rate-limited, see offerSnapshot). */
  private readonly offered = new Map<NodeId, { height: number; at: number }>()
  private readonly drops = new Map<string, number>()
  private tick: TimerId | undefined
  private stopped = false
  /** Test-only: which commit rule runs (see consensus/commit-rule.ts). */
  commitRule: CommitRule = 'three-chain'
  /** A proposal of the current view waiting for batches it orders (see tryVote). */
  private waitingVote: Block | undefined
  /** A committed block (and its ancestors) waiting for batches this replica misses before it can execute. */
  private pendingCommit: Block | undefined
  /** Which peer to ask next for the batches `pendingCommit` misses. */
  private batchAsk = 0
  /** Set by maybePropose: the leader proposes once per Replica batch, in flush, with everything that batch brought. */
  private proposeDue = false
  /** Test-only: vote for blocks whose batches this replica never received from their proxy (shows the attack). */
  voteUnheldCommands = false
  /** Test-only: keep the mempool when a snapshot is installed (shows why installSnapshot clears it). */
  keepMempoolOnSnapshot = false
  /** Test-only: keep other proxies' batches when an own proposal timed out (shows why forgetFailedProposal drops them). */
  keepFailedProposalCommands = false
  /** Test-only: ask for a committed block's missing batches by digest, which peers that pruned the block cannot answer (shows why askForBatches fetches the block). */
  askBatchesByDigest = false
  /** Test-only: offer a snapshot only for a block asked for and pruned here, not to every peer behind the history kept (shows why onFetch offers it). */
  offerSnapshotsOnlyForPrunedBlocks = false
  /** Test-only: offer the snapshot on every fetch of a replica behind, however often (shows why offerSnapshot limits it). */
  unlimitedSnapshotOffers = false
  /** This replica's latest proposal, until its view ends. */
  private lastProposal: Block | undefined
  /** How many upcoming leaders receive each vote: f+1 (see voteCollectors); tests lower it to show why. */
  voteFanout: number

  constructor(
    private readonly ctx: ProtocolContext,
    partial: Partial<HotstuffOptions> | undefined,
  ) {
    this.options = resolveOptions(partial)
    if (ctx.signer === undefined || ctx.verifier === undefined)
      throw new ConfigError('hotstuff signs its votes: give the Replica a signer and a verifier', 'signer')
    this.signer = ctx.signer
    this.verifier = ctx.verifier
    this.voters = ctx.membership.voters.map((m) => m.id)
    this.keys = new Map(ctx.membership.voters.map((m) => [m.id, m.publicKey]))
    this.f = byzantineFaults(this.voters.length)
    this.quorum = byzantineQuorum(this.voters.length)
    this.voteFanout = this.f + 1
    this.limits = { maxCommandBytes: this.options.maxCommandBytes + 1024, maxBlockCommands: this.options.maxBlockCommands }
    this.certificates = new CertificateVerifier(ctx.membership, this.verifier)
    this.safety = new SafetyRules(ctx.storage)
    this.pacemaker = new Pacemaker(ctx, this.voters, this.options.viewTimeoutMs, this.options.maxViewTimeoutMs, (view) => this.onLocalTimeout(view))
    this.store = new BlockStore(GENESIS, this.options.retainCommittedBlocks)
    this.persistence = new BlockPersistence(ctx.storage)
    this.mempool = new Mempool(this.options.maxPendingCommands, 0)
    this.replies = new ReplyCollector(
      this.f + 1,
      (from, statement, sig) => {
        const ok = this.verifyFrom(from, statement, sig)
        if (!ok) this.drop('bad-reply-signature')
        return ok
      },
      (client, answer, proof) => this.ctx.respond(client, { index: answer.index, result: answer.result, proof }),
      (answer) => this.ctx.reject(answer.client, new SynodError('APPLY_FAILED', `the state machine failed to apply the command at index ${answer.index}`)),
    )
    this.clientRequests =
      this.options.clientAuthentication === 'signed'
        ? new ClientRequestChecker(this.verifier, this.options.cluster, this.options.maxCommandBytes)
        : undefined
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    // Each incarnation numbers its clients' commands in its own range, so a restarted proxy's tags never
    // collide with ones peers remember as committed. Written before anything is sent (same batch).
    const incarnation = (this.ctx.storage.getHardState(KEY_INCARNATION)?.[0] === undefined ? 0 : decodeUint(this.ctx.storage.getHardState(KEY_INCARNATION)!)) + 1
    this.ctx.storage.setHardState(KEY_INCARNATION, encodeCanonical(incarnation))
    this.mempool.restartAt(incarnation * 2 ** 32)
    this.safety.load()
    this.certificates.remember(this.safety.highQC)
    const restored = this.persistence.loadSnapshotRoot(this.limits)
    if (restored !== undefined) {
      this.store = new BlockStore(restored.block, this.options.retainCommittedBlocks)
      this.committedIndex = restored.index
    }
    // Blocks this replica accepted before a restart, parents first; those that no longer connect are ignored.
    for (const { block, batches } of this.persistence.loadBlocks(this.limits).sort((a, b) => a.block.height - b.block.height)) {
      this.store.insert(block)
      // Batches this replica accepted before the restart (it checked them then): what executing its blocks needs.
      for (const message of batches) this.intakeBatch(message, false)
    }
    const marker = this.persistence.committedMarker()
    const committed = marker === undefined ? undefined : this.store.get(marker)
    if (committed !== undefined && committed.height > this.store.root.height) this.commitTo(committed, true)
    this.pacemaker.advanceTo(Math.max(this.safety.lastVotedView, this.safety.highQC.view + 1))
    this.ctx.observe({ type: 'role', role: 'replica', term: this.pacemaker.view })
    this.scheduleTick()
    this.updateWork()
    this.maybePropose()
  }

  stop(): void {
    this.stopped = true
    this.pacemaker.stop()
    if (this.tick !== undefined) this.ctx.clearTimer(this.tick)
    this.tick = undefined
  }

  status(): NodeStatus {
    const view = this.pacemaker.view
    const leader = this.pacemaker.leaderOf(view)
    return {
      id: this.ctx.self,
      role: leader === this.ctx.self ? 'leader' : 'replica',
      term: view,
      leader,
      commitIndex: this.committedIndex,
      lastIndex: this.committedIndex,
      membership: this.ctx.membership,
      detail: {
        view,
        highQCView: this.safety.highQC.view,
        lockedView: this.safety.lockedView,
        lastVotedView: this.safety.lastVotedView,
        lastTCView: this.pacemaker.lastTC?.view ?? 0,
        committedHeight: this.store.root.height,
        committedView: this.store.root.view,
        blocks: this.store.size,
        mempool: this.mempool.size,
        orphans: this.orphanCount,
        waitingProposals: this.waitingProposals.size,
        fetching: this.requested.size,
        pendingCommitHeight: this.pendingCommit?.height ?? null,
        viewTimeoutMs: this.pacemaker.currentTimeoutMs(),
        clientAuthentication: this.options.clientAuthentication,
        drops: Object.fromEntries(this.drops),
      },
    }
  }

  // ---------------------------------------------------------------- client side (proxy)

  propose(command: Uint8Array, client: ClientRef): void {
    if (command.byteLength > this.limits.maxCommandBytes) throw new InvalidMessageError(`command of ${command.byteLength} bytes is too large`)
    if (this.clientRequests !== undefined && !this.clientRequests.check(command))
      throw new InvalidMessageError(`not a client request signed for cluster '${this.options.cluster}' (clientAuthentication 'signed')`)
    if (!this.mempool.addLocal(command, client))
      throw new OverloadedError(`hotstuff mempool is full (${this.options.maxPendingCommands} commands)`)
    this.updateWork()
    this.maybePropose()
  }

  /**
   * Once per Replica batch: this proxy's new commands go to every replica as
   * one signed batch, and a leader that may propose does so now, with all
   * that this batch brought (its own clients' commands included).
   */
  flush(): void {
    if (this.stopped) return
    for (const { seq, commands, clients } of this.mempool.takeOutgoing(this.options.maxBlockCommands)) {
      const batch = makeBatch(this.ctx.self, seq, commands, (digest) => this.signer.sign(digest))
      this.mempool.addOwn(batch, clients, this.ctx.now())
      this.broadcast(batch.message)
    }
    if (this.proposeDue) {
      this.proposeDue = false
      this.proposeNow()
    }
  }

  /** A proxy's signed batch: receivers take only batches their proxy signed (the mempool holds nothing altered). */
  private onCommands(batch: Batch, sig: Uint8Array): void {
    if (!this.verifyFrom(batch.proxy, batch.digest, sig)) return this.drop('bad-commands-signature')
    if (this.clientRequests !== undefined && !batch.commands.every((c) => this.clientRequests!.check(c))) return this.drop('bad-client-signature')
    if (!this.mempool.add(batch)) return this.drop('mempool-full')
    this.updateWork()
    this.maybePropose()
    // A proposal that arrived before its batches: vote now if they are all here and the view is still its own.
    const waiting = this.waitingVote
    if (waiting !== undefined && waiting.view === this.pacemaker.view && waiting.batches.every((d) => this.mempool.holds(d))) {
      this.waitingVote = undefined
      this.tryVote(waiting, true)
    }
    // A committed block waiting for this batch can execute now.
    if (this.pendingCommit !== undefined) this.commitTo(this.pendingCommit, false)
  }

  /** A batch message stored or relayed (fetch answers, restart): checked like a proxy's own broadcast. */
  private intakeBatch(message: Uint8Array, verify: boolean): void {
    let m
    try {
      m = decodeMessage(message, this.limits)
    } catch {
      return this.drop('bad-batch-message')
    }
    if (m.k !== 'c') return this.drop('bad-batch-message')
    if (verify) return this.onCommands(m.batch, m.sig)
    this.mempool.addStored(m.batch)
  }

  /** Relay the signed batches a peer misses (it verifies the proxies' signatures itself). */
  private onCommandRequest(from: NodeId, digests: readonly Hash[]): void {
    for (const message of this.mempool.messagesFor(digests.slice(0, 64))) this.ctx.send(from, message)
  }

  /** The signed messages of the batches `block` orders, as far as they are here (what persistence keeps). */
  private batchMessages = (block: Block): Uint8Array[] => this.mempool.messagesFor(block.batches)

  // ---------------------------------------------------------------- messages

  receive(from: NodeId, message: Uint8Array): void {
    if (this.stopped) return
    if (!this.keys.has(from)) return this.drop('non-member')
    const m = decodeMessage(message, this.limits)
    switch (m.k) {
      case 'p':
        return this.onProposal(from, m.block, m.tc)
      case 'v':
        return this.onVote(from, m.view, m.block, m.sig)
      case 't':
        return this.onTimeout(from, m.view, m.highQC, m.tc, m.sig)
      case 's':
        return this.onSync(from, m.highQC, m.tc)
      case 'f':
        return this.onFetch(from, m.block, m.count, m.root)
      case 'b':
        return this.onBlocks(from, m.blocks, m.batches)
      case 'c':
        return this.onCommands(m.batch, m.sig)
      case 'q':
        return this.onCommandRequest(from, m.digests)
      case 'r':
        return this.onReply(from, m.height, m.root, m.sig)
      case 'o':
        return this.onSnapshotOffer(from, m)
    }
  }

  private onProposal(from: NodeId, block: Block, tcIn: TC | undefined): void {
    if (from !== this.pacemaker.leaderOf(block.view) || block.author !== from) return this.drop('proposal-not-from-leader')
    if (block.height <= this.store.root.height) return this.drop('stale-proposal')
    if (block.view > this.pacemaker.view + this.options.maxViewLead) return this.drop('far-future-view')
    const qc = this.verifiedQC(block.justify)
    if (qc === undefined) return
    let tc: TC | undefined
    if (tcIn !== undefined) {
      tc = this.verifiedTC(tcIn)
      if (tc === undefined) return
    }
    // A leader may lead view v only with a certificate of view v−1 (its QC or a TC), so a faulty leader
    // cannot drag replicas into a far view where they would then refuse to vote for honest proposals.
    if (qc.view + 1 !== block.view && (tc === undefined || tc.view + 1 !== block.view)) return this.drop('unjustified-view')
    this.processQC(qc, from)
    if (tc !== undefined) this.processTC(tc)
    this.acceptProposal(from, block)
  }

  private acceptProposal(from: NodeId, block: Block): void {
    const outcome = this.store.insert(block)
    if (outcome === 'missing-parent') {
      if (this.waitingProposals.size < MAX_ORPHANS) this.waitingProposals.set(toHex(block.parent), { from, block })
      this.fetch(block.parent, from)
      return
    }
    if (outcome !== 'inserted' && outcome !== 'known') return this.drop(`bad-block-${outcome}`)
    if (outcome === 'inserted') {
      this.persistence.saveBlock(block, this.batchMessages)
      this.afterInsert(block, from)
    }
    this.pacemaker.advanceTo(block.view)
    this.tryVote(block)
  }

  /**
   * SafetyRules decide; the vote (and the safety state) is written before it
   * leaves, in the same step. `resave`: the block was stored before its
   * batches arrived; store it again with them before vouching for it.
   */
  private tryVote(block: Block, resave = false): void {
    if (block.view !== this.pacemaker.view) return this.drop('vote-skipped-stale-view')
    // Vouch only for batches this replica received, signed, from their proxy: a leader (or a relay) cannot
    // slip in altered or invented commands in a proxy's name. Missing ones may still be on their way.
    if (!this.voteUnheldCommands) {
      const missing = block.batches.filter((d) => !this.mempool.holds(d))
      if (missing.length > 0) {
        // Ask the leader for the proxies' signed batches (it had them), once per proposal.
        if (this.waitingVote === undefined || !bytesEqual(this.waitingVote.hash, block.hash)) this.ctx.send(block.author, encodeCommandRequest(missing))
        this.waitingVote = block
        return this.drop('vote-waits-for-commands')
      }
    }
    const verdict = this.safety.check(block, this.store)
    if (verdict !== 'vote') return this.drop(`vote-refused-${verdict}`)
    // What this replica vouches for stays with it across a restart: the block and its batches.
    if (resave) this.persistence.saveBlock(block, this.batchMessages)
    this.safety.recordVote(block.view)
    const sig = this.signer.sign(voteDigest(block.view, block.hash))
    const vote = encodeVote(block.view, block.hash, sig)
    for (const leader of this.voteCollectors(block.view)) {
      if (leader === this.ctx.self) this.addVote(this.ctx.self, block.view, block.hash, sig)
      else this.ctx.send(leader, vote)
    }
  }

  /**
   * Who collects votes of `view`: the next leader, and the f after it. The
   * 3-chain commits block v only once QC(v+2) reaches a replica that will
   * propose with it; sent to the next leader alone, that takes four honest
   * leaders in a row, which round-robin over 3f+1 replicas with f silent
   * ones never gives. One of f+1 consecutive leaders is correct, and it
   * carries QC(v+2) in its proposal after the views in between time out.
   */
  private voteCollectors(view: number): NodeId[] {
    const out: NodeId[] = []
    for (let i = 1; i <= this.voteFanout; i++) {
      const leader = this.pacemaker.leaderOf(view + i)
      if (!out.includes(leader)) out.push(leader)
    }
    return out
  }

  private onVote(from: NodeId, view: number, block: Hash, sig: Uint8Array): void {
    if (!this.voteCollectors(view).includes(this.ctx.self)) return this.drop('vote-not-for-me')
    if (view <= this.safety.highQC.view) return this.drop('stale-vote')
    if (view > this.pacemaker.view + this.options.maxViewLead) return this.drop('far-future-view')
    const key = `${view}:${toHex(block)}`
    if (this.votes.get(key)?.has(from)) return this.drop('duplicate-vote')
    if (!this.verifyFrom(from, voteDigest(view, block), sig)) return this.drop('bad-vote-signature')
    this.addVote(from, view, block, sig)
  }

  private addVote(from: NodeId, view: number, block: Hash, sig: Uint8Array): void {
    const key = `${view}:${toHex(block)}`
    let votes = this.votes.get(key)
    if (votes === undefined) this.votes.set(key, (votes = new Map()))
    votes.set(from, sig)
    if (votes.size < this.quorum) return
    const signatures: CertificateSignature[] = [...votes].map(([signer, signature]) => ({ signer, signature }))
    const qc: QC = { view, block, signatures }
    this.votes.delete(key)
    this.certificates.remember(qc)
    const committedBefore = this.committedIndex
    this.processQC(qc, from === this.ctx.self ? undefined : from)
    // A backup collector (not the next leader) holds a QC the others may never see if the next leader is
    // faulty: when it commits commands, share it so everyone commits (and answers clients) now.
    if (this.pacemaker.leaderOf(view + 1) !== this.ctx.self && this.committedIndex > committedBefore)
      this.broadcast(encodeSync(qc, this.pacemaker.lastTC))
  }

  /** Everything a new (verified) QC teaches: the highest QC, the view, the lock and commits. */
  private processQC(qc: QC, source: NodeId | undefined): void {
    if (this.safety.updateHighQC(qc)) {
      for (const key of this.votes.keys()) if (Number(key.split(':')[0]) <= qc.view) this.votes.delete(key)
      this.updateWork()
    }
    if (this.store.get(qc.block) === undefined && qc.view > this.store.root.view) this.fetch(qc.block, source ?? qc.signatures[0]?.signer)
    this.enterView(qc.view + 1)
    this.applyChain(qc)
  }

  private processTC(tc: TC): void {
    this.pacemaker.recordTC(tc)
    this.forgetFailedProposal(tc.view)
    this.enterView(tc.view + 1, true)
  }

  /**
   * Our proposal of `view` timed out uncertified. A correct leader's block
   * gets no votes when it orders batches the others already committed: a
   * replica that caught up through a snapshot cannot tell which batches
   * reaching it late (queued behind the snapshot, retransmitted) the skipped
   * blocks committed, and the others never vote for a committed batch
   * again. Forget the other proxies' pending batches — all of them, not only
   * the block's, which holds at most maxBlockCommands commands of possibly
   * many stale batches — or they are proposed, and fail, every time our turn
   * comes. Their proxies re-broadcast whatever is still uncommitted, and the
   * other replicas hold them meanwhile.
   */
  private forgetFailedProposal(view: number): void {
    const block = this.lastProposal
    if (block === undefined || block.view !== view || this.safety.highQC.view >= view) return
    this.lastProposal = undefined
    if (!this.keepFailedProposalCommands) this.mempool.forgetForeign(this.inFlightBatches())
  }

  private enterView(view: number, byTC = false): void {
    if (!this.pacemaker.advanceTo(view)) return
    for (const v of this.timeouts.keys()) if (v < view) this.timeouts.delete(v)
    const caughtUp = this.timedOut === view - 1 && !byTC
    this.maybePropose()
    // We waited a whole view and heard no proposal of any later view, then a peer's certificate showed the
    // others had moved on: this view's leader has not reached us either, so join its timeout now rather
    // than wait a second full timeout (a TC, by contrast, starts everyone in the next view together).
    if (caughtUp && this.pacemaker.leaderOf(view) !== this.ctx.self) this.onLocalTimeout(view)
  }

  private applyChain(qc: QC): void {
    const update = chainUpdate(qc, this.store, this.commitRule)
    if (update.lock !== undefined) this.safety.lock(update.lock)
    if (update.commit !== undefined && update.commit.height > this.store.root.height) this.commitTo(update.commit, false)
  }

  // ---------------------------------------------------------------- proposing (leader)

  /** Optimistic responsiveness: the leader of a view proposes as soon as it holds the certificate of the view before (at the end of the Replica batch, see flush). */
  private maybePropose(): void {
    this.proposeDue = true
  }

  private proposeNow(): void {
    const view = this.pacemaker.view
    if (this.stopped || this.proposedView >= view || this.pacemaker.leaderOf(view) !== this.ctx.self) return
    const qc = this.safety.highQC
    const tc = this.pacemaker.lastTC
    if (qc.view + 1 !== view && (tc === undefined || tc.view + 1 !== view)) return
    const parent = this.store.get(qc.block)
    if (parent === undefined) return
    const path = this.store.pathFromRoot(parent)
    if (path === undefined) return
    const inFlight = this.inFlightBatches(path)
    const batches = this.mempool.select(this.options.maxBlockCommands, inFlight)
    // Idle: nothing new and nothing uncommitted to push through the 3-chain.
    if (batches.length === 0 && inFlight.size === 0) return
    const block = makeBlock({ view, height: parent.height + 1, parent: parent.hash, justify: qc, batches, author: this.ctx.self })
    this.proposedView = view
    this.lastProposal = block
    this.store.insert(block)
    this.persistence.saveBlock(block, this.batchMessages)
    this.broadcast(encodeProposal(block, qc.view + 1 === view ? undefined : tc))
    this.ctx.observe({ type: 'leader', leader: this.ctx.self, term: view })
    this.tryVote(block)
  }

  // ---------------------------------------------------------------- pacemaker

  private onLocalTimeout(view: number): void {
    this.timedOut = view
    this.safety.recordTimeout(view)
    const sig = this.signer.sign(timeoutDigest(view))
    this.broadcast(encodeTimeout(view, this.safety.highQC, this.pacemaker.lastTC, sig))
    this.addTimeout(this.ctx.self, view, sig)
  }

  private onTimeout(from: NodeId, view: number, highQC: QC, tcIn: TC | undefined, sig: Uint8Array): void {
    if (view > this.pacemaker.view + this.options.maxViewLead) return this.drop('far-future-view')
    const qc = this.verifiedQC(highQC)
    if (qc === undefined) return
    const tc = tcIn === undefined ? undefined : this.verifiedTC(tcIn)
    if (tcIn !== undefined && tc === undefined) return
    this.processQC(qc, from)
    if (tc !== undefined) this.processTC(tc)
    if (view < this.pacemaker.view) {
      // The sender is behind: hand it the certificates that brought us here.
      this.ctx.send(from, encodeSync(this.safety.highQC, this.pacemaker.lastTC))
      return this.drop('stale-timeout')
    }
    if (this.timeouts.get(view)?.has(from)) return this.drop('duplicate-timeout')
    if (!this.verifyFrom(from, timeoutDigest(view), sig)) return this.drop('bad-timeout-signature')
    this.addTimeout(from, view, sig)
  }

  private addTimeout(from: NodeId, view: number, sig: Uint8Array): void {
    if (view < this.pacemaker.view) return
    let timeouts = this.timeouts.get(view)
    if (timeouts === undefined) this.timeouts.set(view, (timeouts = new Map()))
    timeouts.set(from, sig)
    // f+1 timeouts include a correct replica's: join them (Bracha-style amplification), even if we were idle,
    // so that a view whose leader failed ends once f+1 noticed, not when everyone's own timer fires.
    if (timeouts.size === this.f + 1 && view === this.pacemaker.view && this.timedOut < view && from !== this.ctx.self) this.onLocalTimeout(view)
    if (timeouts.size < this.quorum) return
    const tc: TC = { view, signatures: [...timeouts].map(([signer, signature]) => ({ signer, signature })) }
    this.timeouts.delete(view)
    this.certificates.rememberTC(tc)
    this.processTC(tc)
  }

  private onSync(from: NodeId, highQC: QC, tcIn: TC | undefined): void {
    const qc = this.verifiedQC(highQC)
    if (qc === undefined) return
    this.processQC(qc, from)
    if (tcIn !== undefined) {
      const tc = this.verifiedTC(tcIn)
      if (tc !== undefined) this.processTC(tc)
    }
  }

  /** Is there anything to wait for? Only then do views time out (an idle cluster stays in its view). */
  private updateWork(): void {
    if (this.stopped) return
    let working = this.mempool.size > 0
    if (!working) {
      const head = this.store.get(this.safety.highQC.block)
      const path = head === undefined ? undefined : this.store.pathFromRoot(head)
      working = head === undefined || path === undefined || path.some((b) => b.batches.length > 0)
    }
    this.pacemaker.setWorking(working)
  }

  // ---------------------------------------------------------------- commit and execution

  /**
   * Execute `target` and its uncommitted ancestors, in order. A block whose
   * batches are not all here (it was committed by a QC this replica did not
   * vote for) waits, with what follows it, until they arrive: 2f+1 replicas
   * voted for it, so at least f+1 correct ones hold them; they are asked in
   * turn (here and on every tick).
   */
  private commitTo(target: Block, replay: boolean): void {
    if (target.height <= this.store.root.height) {
      if (this.pendingCommit === target) this.pendingCommit = undefined
      return
    }
    const path = this.store.pathFromRoot(target)
    if (path === undefined) {
      if (this.pendingCommit === target) this.pendingCommit = undefined
      return this.drop('commit-off-root')
    }
    let ready = path.length
    for (const [i, block] of path.entries()) {
      const missing = block.batches.filter((d) => this.mempool.get(d) === undefined)
      if (missing.length === 0) continue
      ready = i
      if (this.pendingCommit === undefined || target.height > this.pendingCommit.height) this.pendingCommit = target
      this.askForBatches(block, missing)
      break
    }
    if (ready === path.length && this.pendingCommit !== undefined && this.pendingCommit.height <= target.height) this.pendingCommit = undefined
    if (ready === 0) return
    const done = path.slice(0, ready)
    for (const block of done) this.execute(block, replay)
    const pruned = this.store.commit(done)
    this.persistence.saveCommitted(done, done[done.length - 1]!, this.batchMessages)
    for (const block of pruned) this.mempool.forget(block.batches)
    this.pacemaker.progress()
    this.replies.pruneBelow(this.store.root.height - this.options.retainCommittedBlocks)
    if (this.orphanCount > 0) this.pruneOrphans()
    this.updateWork()
  }

  /**
   * Batches a committed block needs: fetched as that one block with its batches, from its author first,
   * then from the other peers in turn (retried on every tick, like any fetch). A plain request for the
   * batches would go unanswered for good once every peer pruned the block (the batches go with it): a
   * replica that received the blocks but not their batches would never execute them. A peer that pruned
   * the block answers the fetch with its snapshot instead (see onFetch).
   */
  private askForBatches(block: Block, missing: readonly Hash[]): void {
    if (this.requested.has(toHex(block.hash))) return
    const peers = this.voters.filter((v) => v !== this.ctx.self)
    const peer = this.batchAsk === 0 && peers.includes(block.author) ? block.author : peers[this.batchAsk % peers.length]!
    this.batchAsk++
    if (this.askBatchesByDigest) this.ctx.send(peer, encodeCommandRequest(missing.slice(0, 64)))
    else this.fetch(block.hash, peer, 1)
  }

  private execute(block: Block, replay: boolean): void {
    const leaves: Uint8Array[] = []
    const answers: PendingAnswer[] = []
    let position = 0
    for (const digest of block.batches) {
      const batch = this.mempool.get(digest)!
      const clients = this.mempool.committed(batch)
      const commands = batch.commands
      for (let i = 0; i < commands.length; i++) {
        const command = commands[i]!
        const index = ++this.committedIndex
        const result = this.ctx.commit({ index, command })
        const failed = result === undefined
        leaves.push(resultLeaf(index, command, failed ? EMPTY : result, failed))
        const client = clients?.[i]
        if (client !== undefined) answers.push({ client, index, position, failed, result: result ?? EMPTY })
        position++
      }
    }
    if (leaves.length > 0 && !replay) {
      const levels = merkleTree(leaves)
      const root = treeRoot(levels)
      const sig = this.signer.sign(replyStatement(block.height, root))
      this.broadcast(encodeReply(block.height, root, sig))
      this.replies.executed(block.height, root, levels, answers, this.ctx.self, sig)
    }
    if (block.height % this.options.snapshotInterval === 0) {
      const snapshot = this.ctx.takeSnapshot()
      this.persistence.saveSnapshot(block, snapshot.index, snapshot.data)
      this.ctx.observe({ type: 'snapshot', index: snapshot.index })
    }
  }

  private onReply(from: NodeId, height: number, root: Hash, sig: Uint8Array): void {
    const committed = this.store.root.height
    if (height + this.options.retainCommittedBlocks < committed || height > committed + 4 * MAX_FETCH_BLOCKS) return this.drop('reply-out-of-window')
    this.replies.received(height, from, root, sig, height <= committed)
  }

  // ---------------------------------------------------------------- catch-up

  private fetch(hash: Hash, peer: NodeId | undefined, count = MAX_FETCH_BLOCKS): void {
    const key = toHex(hash)
    if (this.requested.has(key)) return
    let index = peer === undefined ? 0 : this.voters.indexOf(peer)
    if (index < 0 || this.voters[index] === this.ctx.self) index = (this.voters.indexOf(this.ctx.self) + 1) % this.voters.length
    this.requested.set(key, { at: this.ctx.now(), peer: index, tries: 0, count })
    this.ctx.send(this.voters[index]!, encodeFetch(hash, count, this.store.root.height))
  }

  private onFetch(from: NodeId, hash: Hash, count: number, theirRoot: number): void {
    // A peer whose root is below the history kept here cannot connect anything this replica holds to its
    // root: it needs a snapshot, whatever it asked for. (It asks every peer for the block of a snapshot it
    // was offered, to gather f+1 matching offers: each that pruned past its root offers its own.)
    const behind = !this.offerSnapshotsOnlyForPrunedBlocks && theirRoot + 1 < this.store.oldest.height
    if (behind) this.offerSnapshot(from, theirRoot)
    const blocks = this.store.chain(hash, count)
    if (blocks.length > 0) {
      // With the batches they order (as far as they are here), so the peer can execute them; bounded in size.
      const batches: Uint8Array[] = []
      let bytes = 0
      let count = 0
      for (const block of blocks) {
        if (count > 0 && bytes >= MAX_FETCH_ANSWER_BYTES) break
        count++
        bytes += block.bytes.byteLength
        for (const message of this.batchMessages(block)) {
          batches.push(message)
          bytes += message.byteLength
        }
      }
      return this.ctx.send(from, encodeBlocks(blocks.slice(0, count), batches))
    }
    // Not here (pruned, or a fork that died): a peer behind our root gets our snapshot instead.
    if (!behind && theirRoot < this.store.root.height) this.offerSnapshot(from, theirRoot)
  }

  private onBlocks(from: NodeId, blocks: readonly Block[], batches: readonly Uint8Array[]): void {
    const first = blocks[0]
    if (first === undefined || !this.requested.has(toHex(first.hash))) return this.drop('unrequested-blocks')
    // Each batch is checked against its proxy's signature, as if the proxy had sent it. (The request ends
    // after them: a commit they unblock does not ask for the same block again meanwhile.)
    for (const message of batches) this.intakeBatch(message, true)
    this.requested.delete(toHex(first.hash))
    // Authentic by the hash chain from a hash we asked for (itself certified by a QC or a child's parent link);
    // each block's own justify QC is verified too before it counts.
    const chain: Block[] = []
    for (const [i, block] of blocks.entries()) {
      if (i > 0 && !bytesEqual(block.hash, blocks[i - 1]!.parent)) {
        this.drop('broken-block-chain')
        break
      }
      if (this.verifiedQC(block.justify) === undefined) break
      chain.push(block)
    }
    for (const block of chain.reverse()) this.insertFetched(block, from)
  }

  private insertFetched(block: Block, from: NodeId): void {
    const outcome = this.store.insert(block)
    if (outcome === 'inserted') {
      this.persistence.saveBlock(block, this.batchMessages)
      this.afterInsert(block, from)
    } else if (outcome === 'missing-parent') {
      if (this.orphanCount >= MAX_ORPHANS) return this.drop('orphans-full')
      const key = toHex(block.parent)
      const siblings = this.orphans.get(key)
      if (siblings === undefined) this.orphans.set(key, [block])
      else if (!siblings.some((b) => bytesEqual(b.hash, block.hash))) siblings.push(block)
      else return
      this.orphanCount++
      this.fetch(block.parent, from)
    } else if (outcome !== 'known') this.drop(`bad-block-${outcome}`)
  }

  /** A block joined the tree: its QC may lock or commit, and blocks waiting for it can follow. */
  private afterInsert(block: Block, from: NodeId): void {
    this.applyChain(block.justify)
    const key = toHex(block.hash)
    const children = this.orphans.get(key)
    if (children !== undefined) {
      this.orphans.delete(key)
      this.orphanCount -= children.length
      for (const child of children) this.insertFetched(child, from)
    }
    const waiting = this.waitingProposals.get(key)
    if (waiting !== undefined) {
      this.waitingProposals.delete(key)
      this.acceptProposal(waiting.from, waiting.block)
    }
    this.applyChain(this.safety.highQC)
    this.updateWork()
    this.maybePropose()
  }

  /** Blocks waiting for a parent at or below the committed root can never join: free their orphan space. */
  private pruneOrphans(): void {
    const root = this.store.root.height
    for (const [parent, blocks] of this.orphans) {
      const keep = blocks.filter((b) => b.height > root)
      this.orphanCount -= blocks.length - keep.length
      if (keep.length === 0) this.orphans.delete(parent)
      else if (keep.length < blocks.length) this.orphans.set(parent, keep)
    }
  }

  private offerSnapshot(to: NodeId, theirRoot: number): void {
    // Decided on the snapshot's block alone: the state (it may be large, and a durable store reads it from
    // its file) is read only for an offer that goes out.
    const snapshot = this.persistence.snapshot(this.limits)
    if (snapshot === undefined || snapshot.block.height <= theirRoot) return
    // A replica far behind fetches the parent of every proposal it gets: one copy of a snapshot per peer per
    // retransmit interval is enough; a newer snapshot goes out at once.
    const now = this.ctx.now()
    const last = this.offered.get(to)
    if (!this.unlimitedSnapshotOffers && last !== undefined && last.height === snapshot.block.height && now - last.at < this.options.retransmitMs)
      return this.drop('snapshot-offer-repeat')
    this.offered.set(to, { height: snapshot.block.height, at: now })
    const { block, index, data } = snapshot
    const sig = this.signer.sign(snapshotDigest(block.height, block.hash, index, data))
    this.ctx.send(to, encodeSnapshotOffer(block, index, data, sig))
  }

  /**
   * A peer's snapshot, for a replica too far behind to fetch blocks. Its state
   * cannot be checked against the chain (blocks carry no state root), so it is
   * installed only once f+1 replicas — at least one correct — signed the same
   * (height, block, index, state digest); snapshots are taken at the same
   * heights everywhere, so correct replicas' offers match.
   */
  private onSnapshotOffer(from: NodeId, offer: SnapshotOffer): void {
    if (offer.block.height <= this.store.root.height) return this.drop('stale-snapshot')
    const digest = snapshotDigest(offer.block.height, offer.block.hash, offer.index, offer.data)
    if (!this.verifyFrom(from, digest, offer.sig)) return this.drop('bad-snapshot-signature')
    const key = toHex(digest)
    let entry = this.offers.get(key)
    if (entry === undefined) {
      if (this.offers.size >= MAX_OFFERS) this.offers.delete(this.offers.keys().next().value!)
      this.offers.set(key, (entry = { offer, signers: new Set() }))
      // Ask everyone else too, so f+1 matching offers arrive without waiting for retries.
      for (const peer of this.voters) if (peer !== this.ctx.self && peer !== from) this.ctx.send(peer, encodeFetch(offer.block.hash, 1, this.store.root.height))
    }
    entry.signers.add(from)
    if (entry.signers.size >= this.f + 1) this.installSnapshot(offer)
  }

  private installSnapshot(offer: SnapshotOffer): void {
    const { block, index, data } = offer
    this.ctx.installSnapshot({ index, term: block.height, data, meta: this.persistence.snapshotMeta(block) })
    this.persistence.saveSnapshot(block, index, data)
    this.persistence.saveCommitted([block], block, () => [])
    this.store.reset(block)
    this.committedIndex = index
    this.safety.lock(block)
    this.offers.clear()
    this.requested.clear()
    // The skipped blocks committed some of the mempool's batches; which ones is unknown here (see Mempool.clear).
    if (!this.keepMempoolOnSnapshot)
      for (const client of this.mempool.clear())
        this.ctx.reject(client, new TimeoutError(0, 'request (its proxy caught up through a snapshot and cannot tell whether it committed)'))
    this.ctx.observe({ type: 'snapshot', index })
    // Orphans that hang off the new root can now join.
    const children = this.orphans.get(toHex(block.hash))
    if (children !== undefined) {
      this.orphans.delete(toHex(block.hash))
      this.orphanCount -= children.length
      for (const child of children) this.insertFetched(child, this.voters[0]!)
    }
    this.pruneOrphans()
    this.applyChain(this.safety.highQC)
    if (this.store.get(this.safety.highQC.block) === undefined) this.fetch(this.safety.highQC.block, this.safety.highQC.signatures[0]?.signer)
    this.updateWork()
    this.maybePropose()
  }

  // ---------------------------------------------------------------- timers and helpers

  private scheduleTick(): void {
    this.tick = this.ctx.setTimer(this.options.retransmitMs, () => {
      this.tick = undefined
      if (this.stopped) return
      this.onTick()
      this.scheduleTick()
    })
  }

  /** Retransmission: commands not yet committed, and block fetches nobody answered (to the next peer). */
  private onTick(): void {
    const now = this.ctx.now()
    for (const message of this.mempool.due(now, this.options.retransmitMs, this.inFlightBatches())) this.broadcast(message)
    if (this.pendingCommit !== undefined) this.commitTo(this.pendingCommit, false)
    for (const [key, request] of this.requested) {
      if (now - request.at < this.options.retransmitMs) continue
      if (++request.tries > 3 * this.voters.length) {
        this.requested.delete(key)
        continue
      }
      request.at = now
      request.peer = (request.peer + 1) % this.voters.length
      if (this.voters[request.peer] === this.ctx.self) request.peer = (request.peer + 1) % this.voters.length
      this.ctx.send(this.voters[request.peer]!, encodeFetch(fromHex(key), request.count, this.store.root.height))
    }
  }

  /** Digests (hex) of the batches in uncommitted blocks on the branch of the highest QC (or of `path`). */
  private inFlightBatches(path?: readonly Block[]): Set<string> {
    const digests = new Set<string>()
    if (path === undefined) {
      const head = this.store.get(this.safety.highQC.block)
      path = head === undefined ? [] : (this.store.pathFromRoot(head) ?? [])
    }
    for (const b of path) for (const d of b.batches) digests.add(toHex(d))
    return digests
  }

  private verifiedQC(qc: QC): QC | undefined {
    const verdict = this.certificates.qc(qc)
    if (isRejection(verdict)) {
      this.drop(`qc-${verdict}`)
      return undefined
    }
    return verdict
  }

  private verifiedTC(tc: TC): TC | undefined {
    const verdict = this.certificates.tc(tc)
    if (isRejection(verdict)) {
      this.drop(`tc-${verdict}`)
      return undefined
    }
    return verdict
  }

  private verifyFrom(from: NodeId, statement: Uint8Array, sig: Uint8Array): boolean {
    const key = this.keys.get(from)
    return key !== undefined && this.verifier.verify(key, statement, sig)
  }

  private broadcast(message: Uint8Array): void {
    for (const peer of this.voters) if (peer !== this.ctx.self) this.ctx.send(peer, message)
  }

  private drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1)
  }
}
