import {
  byzantineFaults,
  byzantineQuorum,
  bytesEqual,
  ClientRequestChecker,
  ConfigError,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectOnlyKeys,
  expectRecord,
  expectString,
  expectUint,
  InvalidMessageError,
  OverloadedError,
  SynodError,
  TimeoutError,
  toHex,
  type ClientRef,
  type Member,
  type NodeId,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolNode,
  type Signer,
  type TimerId,
  type Verifier,
} from '@synod/core'
import { BatchFetcher } from './batch-fetch.js'
import { chunkCount, chunkHashes, chunkOf, chunksRoot } from './chunks.js'
import { hmacSha256, sha256 } from './digest.js'
import { encodeAnswerCertificate, encodeReplies, merkleTree, replyStatement, resultLeaf, treeRoot } from '@synod/crypto'
import {
  batchDigest,
  decodeExecutionMeta,
  decodeLoggedPrePrepare,
  decodeMessage,
  decodePreparedCertificate,
  decodeStoredMeta,
  encodeBatchBody,
  encodeBundleBody,
  encodeCheckpoint,
  encodeCheckpointCertificateMessage,
  encodeCommittedBatches,
  encodeFetchCommitted,
  encodeExecutionMeta,
  encodeLoggedPrePrepare,
  encodeNewViewBody,
  encodePreparedCertificate,
  encodeReply,
  encodeRequest,
  encodeSignedBody,
  encodeStateChunk,
  encodeStateTransfer,
  encodeStatus,
  encodeStoredMeta,
  encodeViewChangeBody,
  encodePhaseVote,
  encodePrePrepare,
  stateDigest,
  statement,
  type BatchBody,
  type Bundle,
  type CheckpointCertificate,
  type CommitCertificate,
  type Digest,
  type NewView,
  type PhaseVote,
  type PrePrepare,
  type PreparedCertificate,
  type Reply,
  type Signature,
  type Status,
  type ViewChange,
  type Vote,
} from './messages.js'
import { commitCertificates, LowerViewLearner, validCommitCertificate } from './catch-up.js'
import { planNewView, type NewViewEntry } from './new-view.js'
import { resolveOptions, type PbftOptions, type UnsafeDefence } from './options.js'
import { ReadOnlyRequests, readOnlyTesting } from './read-only.js'
import { RequestTimer, type WaitingRequest } from './request-timers.js'
import { StateReceiver } from './state-transfer.js'
import { unsafeTestSwitches } from './test-switches.js'

const KEY_VIEW = 'pbft/view'
/** How many times a restarted replica re-sends its restored votes to one peer on that peer's status (docs/adr/0032). */
const REVOTE_ROUNDS = 3
const KEY_TS = 'pbft/ts'
const keyPrePrepare = (slot: number) => `pbft/pp/${slot}`
const keyPrepared = (slot: number) => `pbft/pc/${slot}`
/** Marks a slot committed-local ({ s: seq, d: batch digest }), so a restart re-executes it without asking anyone. */
const keyCommitted = (slot: number) => `pbft/cm/${slot}`
/**
 * The stable checkpoint certificate, written whenever the low watermark moves. The low watermark can
 * move past the stored snapshot (a certificate adopted while the state is still to be fetched); a
 * restart must restore the window of that low watermark, or it would miss the pre-prepares stored
 * under `seq % L` above the snapshot's window and could prepare a second batch for one of them.
 */
const KEY_STABLE = 'pbft/stable'
/** Bodies kept per slot: the current pre-prepare's, the prepared certificate's and a few older views'. */
const MAX_BODIES_PER_SLOT = 4
const EMPTY_BATCH = batchDigest([])
const EMPTY = new Uint8Array(0)
/** The digest of checkpoint 0 (the initial state): by convention all zeros. */
const GENESIS_DIGEST = new Uint8Array(32)
const MAX_CHECKPOINTS_PER_SENDER = 4
/** Future-view messages buffered per sender: one Byzantine replica cannot crowd out the others'. */
const MAX_BUFFERED_FUTURE_PER_SENDER = 1024
/** VIEW-CHANGEs further ahead of our view are dropped unvalidated: a sender cannot make us validate one per view number forever. */
const MAX_VIEW_CHANGE_AHEAD = 64
const MAX_VERIFIED_CACHE = 1 << 16
/** Our VIEW-CHANGE is re-broadcast after 1, 2, 4, … status ticks, at least every this many. */
const MAX_VC_RETRANSMIT_TICKS = 16
/** Status intervals within which 2f other replicas must have been heard for a failed view to double the timeout. */
const HEARD_WINDOW_TICKS = 4

interface StoredVote {
  readonly view: number
  readonly digest: Digest
  readonly sig: Signature
  verified: boolean
}

/** An accepted pre-prepare; its batch body, when held, is in `Slot.bodies` under the digest. */
interface LoggedPrePrepare {
  readonly view: number
  readonly seq: number
  readonly digest: Digest
  readonly sig: Signature
}

/** Everything a replica knows about one sequence number inside the watermarks. */
interface Slot {
  readonly seq: number
  /** The pre-prepare accepted in `prePrepare.view` (the current view, or older ones until a new view replaces it). */
  prePrepare: LoggedPrePrepare | undefined
  /**
   * Batch bodies by hex digest: of the pre-prepares accepted for this slot (in any view) and of the
   * prepared certificate. Kept until the slot leaves the window so that peers missing a body after
   * a view change can fetch it from us: f+1 correct replicas accepted every prepared batch.
   */
  readonly bodies: Map<string, readonly Bundle[]>
  readonly prepares: Map<NodeId, StoredVote>
  readonly commits: Map<NodeId, StoredVote>
  /** Prepared in the pre-prepare's view; commit sent. */
  prepared: boolean
  committed: boolean
  /** Highest-view prepared certificate, for view changes. */
  preparedCert: PreparedCertificate | undefined
  /**
   * Committed without a pre-prepare of ours: 2f+1 signed commits for this digest (we missed the
   * pre-prepare). The body is fetched by digest and the slot executes like any other.
   */
  certifiedDigest: Digest | undefined
}

interface LocalAnswer {
  readonly client: ClientRef
  readonly index: number
  readonly position: number
  readonly result: Uint8Array
  readonly failed: boolean
}

/** A batch this proxy executed with answers waiting for f+1 matching signed replies. */
interface AwaitingReplies {
  readonly root: Digest
  readonly levels: Uint8Array[][]
  readonly answers: LocalAnswer[]
}

interface OwnCheckpoint {
  readonly seq: number
  readonly data: Uint8Array
  readonly meta: Uint8Array
  readonly digest: Digest
  /** sha256 of each chunk of `data` (the state-transfer manifest), computed once per checkpoint. */
  readonly hashes: readonly Digest[]
}

interface Outstanding {
  readonly bundle: Bundle
  readonly clients: readonly ClientRef[]
}

/**
 * One PBFT replica (Castro & Liskov, OSDI'99 / TOCS'02): normal case
 * (§4.2), checkpoints and garbage collection (§4.3), view changes (§4.4) and
 * state transfer (§6.2), with signatures on every replica message (the
 * "PBFT-PK" variant; see docs/adr/0003). Clients reach the cluster through a
 * proxy replica, which bundles their commands into signed requests and
 * answers them with a reply certificate of f+1 signed replies.
 */
export class PbftNode implements ProtocolNode {
  private readonly ctx: ProtocolContext
  private readonly options: PbftOptions
  private readonly signer: Signer
  private readonly verifier: Verifier
  private readonly self: NodeId
  private readonly voters: readonly Member[]
  private readonly keys = new Map<NodeId, Uint8Array>()
  private readonly n: number
  /** Our position in the membership: our entry of a MAC authenticator. */
  private readonly selfIndex: number
  private readonly f: number
  private readonly quorum: number
  private readonly counters = new Map<string, number>()
  /** Request bundles carry MAC authenticators instead of signatures. */
  private readonly mac: boolean
  /** Pairwise HMAC keys, derived once per peer (x25519 + HKDF in the signer). */
  private readonly macKeys = new Map<NodeId, Uint8Array>()
  /** 'signed' client authentication: checks client signatures (undefined in 'proxy' mode). */
  private readonly clientRequests: ClientRequestChecker | undefined
  /** TEST-ONLY switched-off defences (options.unsafeDisableDefences); empty in any real deployment. */
  private readonly unsafe: ReadonlySet<UnsafeDefence>
  /** Read-only requests (§5.1.3, `readOnlyRequests`): undefined when reads are ordered. */
  private readonly readOnly: ReadOnlyRequests | undefined

  // view state
  private view = 0
  private active = true
  private lastNewView: Uint8Array | undefined
  /** When we last sent our NEW-VIEW to each peer seen in an older view (re-sent at most once per status interval). */
  private readonly newViewSentAt = new Map<NodeId, { view: number; at: number }>()
  private failedViews = 0
  /** When each other replica was last heard from (any message): whether a quorum can hear us (failedViews). */
  private readonly lastHeard = new Map<NodeId, number>()
  private viewChangeTimer: TimerId | undefined
  /** The timeout the view being changed to gets once 2f+1 VIEW-CHANGEs for it are known (§4.5.2). */
  private viewChangeTimeout = 0
  /** Status ticks until our VIEW-CHANGE is re-broadcast, and the current gap (doubles up to MAX_VC_RETRANSMIT_TICKS). */
  private viewChangeRetransmitIn = 0
  private viewChangeRetransmitGap = 1
  /** When we last sent our pending VIEW-CHANGE straight to each peer whose status showed it lacks it (once per status interval). */
  private readonly viewChangeSentAt = new Map<NodeId, { view: number; at: number }>()
  /**
   * Sequence numbers whose pre-prepare (and maybe prepared certificate) this replica restored at start in
   * the view it restored as active: its own votes for them are sent again to a peer whose status shows it
   * has not executed them (docs/adr/0032). Empty once that view is left.
   */
  private readonly restored = new Set<number>()
  private restoredView = -1
  /** When our restored votes last went to each peer (at most once per status interval), and how often (at most REVOTE_ROUNDS). */
  private readonly revoteSentAt = new Map<NodeId, { at: number; rounds: number }>()
  /** Latest valid VIEW-CHANGE per sender (bounded by membership). */
  private readonly viewChanges = new Map<NodeId, ViewChange>()
  private futureMessages: Array<{ from: NodeId; view: number; bytes: Uint8Array }> = []
  private readonly futureBySender = new Map<NodeId, number>()

  // log and execution
  private readonly slots = new Map<number, Slot>()
  private low = 0
  private lastExecuted = 0
  private lastIndex = 0
  private lastTs = new Map<NodeId, number>()
  private nextSeq = 1

  // checkpoints
  private stableCert: CheckpointCertificate = { seq: 0, digest: GENESIS_DIGEST, votes: [] }
  private stableState: OwnCheckpoint | undefined
  private readonly ownCheckpoints = new Map<number, OwnCheckpoint>()
  private readonly checkpointVotes = new Map<number, Map<NodeId, StoredVote>>()
  private readonly stateReceiver: StateReceiver
  private readonly batchFetch: BatchFetcher

  // primary
  private readonly primaryQueue = new Map<string, Bundle>()
  private readonly assigned = new Set<string>()

  // proxy (client side)
  private proxyTs = 0
  private outstanding: Outstanding | undefined
  private queuedRequests: Array<{ command: Uint8Array; client: ClientRef }> = []
  private retransmitTimer: TimerId | undefined
  private readonly awaiting = new Map<number, AwaitingReplies>()
  private readonly replyVotes = new Map<number, Map<NodeId, { root: Digest; sig: Signature; verified: boolean }>>()

  // liveness
  /** Bundles from other proxies this replica knows and waits to see executed (one per proxy). */
  private readonly pendingBundles = new Map<NodeId, Bundle>()
  private readonly requestTimers: RequestTimer
  private statusTimer: TimerId | undefined
  /** Batches executable from commit certificates fetched from peers (catch-up), by sequence number. */
  private readonly learned = new Map<number, CommitCertificate>()
  /** In a view change the others have not joined: learns what their (lower) view commits, without voting in it. */
  private readonly learner: LowerViewLearner
  /** lastExecuted at our previous status tick, and whether it had not moved for the whole interval before it. */
  private executedAtTick = -1
  private stalledAtTick = false
  /** What each peer's latest status said it executed (unsigned: only tells whom to ask). */
  private readonly peerExecuted = new Map<NodeId, number>()
  /** No new catch-up request before this time (one in flight). */
  private catchUpQuietUntil = -1
  private readonly verified = new Set<string>()
  private readonly verifiedBundles = new Set<string>()
  private stopped = false

  constructor(ctx: ProtocolContext, options?: Partial<PbftOptions>) {
    if (ctx.signer === undefined || ctx.verifier === undefined)
      throw new ConfigError('PBFT needs a signer and a verifier (ed25519 keys of every member)', 'signer')
    this.ctx = ctx
    this.options = resolveOptions(options)
    this.signer = ctx.signer
    this.verifier = ctx.verifier
    this.self = ctx.self
    this.voters = ctx.membership.voters
    for (const m of this.voters) this.keys.set(m.id, m.publicKey)
    if (!this.keys.has(this.self)) throw new ConfigError(`${this.self} is not a voter of the membership`, 'membership')
    this.selfIndex = this.voters.findIndex((m) => m.id === this.self)
    this.n = this.voters.length
    this.f = byzantineFaults(this.n)
    this.quorum = byzantineQuorum(this.n)
    this.mac = this.options.requestAuthentication === 'mac'
    if (this.mac && typeof this.signer.sharedKey !== 'function')
      throw new ConfigError(
        "requestAuthentication 'mac' needs a signer with sharedKey() (pairwise MAC keys; @synod/crypto's createSigner has it)",
        'requestAuthentication',
      )
    this.learner = new LowerViewLearner(this.quorum, (id, message, sig) => this.verifyFrom(id, message, sig))
    this.requestTimers = new RequestTimer({
      setTimer: (ms, callback) => this.ctx.setTimer(ms, callback),
      clearTimer: (timer) => this.ctx.clearTimer(timer),
      enabled: () => this.active && !this.stopped,
      isWaiting: (request) => this.isWaiting(request),
      timeoutMs: () => this.options.viewChangeTimeoutMs * 2 ** Math.min(this.failedViews, 6),
      expired: () => {
        if (this.active) this.startViewChange(this.view + 1)
      },
    })
    const host = {
      send: (to: NodeId, bytes: Uint8Array) => ctx.send(to, bytes),
      setTimer: (afterMs: number, onFire: () => void) => ctx.setTimer(afterMs, onFire),
      clearTimer: (id: TimerId) => ctx.clearTimer(id),
    }
    this.batchFetch = new BatchFetcher(
      host,
      this.voters.map((m) => m.id).filter((id) => id !== this.self),
      this.options.stateTransferRetryMs,
    )
    this.stateReceiver = new StateReceiver(
      {
        ...host,
        drop: (reason) => this.drop(reason),
        validCertificate: (cert) => this.validCheckpointCertificate(cert),
        install: (cert, meta, data, hashes) => this.installState(cert, meta, data, hashes),
      },
      this.self,
      this.options.stateTransferRetryMs,
    )
    this.unsafe = new Set(this.options.unsafeDisableDefences)
    this.clientRequests =
      this.options.clientAuthentication === 'signed'
        ? new ClientRequestChecker(this.verifier, this.options.cluster, this.options.maxClientOperationBytes)
        : undefined
    this.readOnly = this.options.readOnlyRequests ? this.createReadOnly() : undefined
  }

  private createReadOnly(): ReadOnlyRequests {
    if (typeof this.ctx.query !== 'function')
      throw new ConfigError('readOnlyRequests needs a runtime whose ProtocolContext has query() (@synod/core Replica)', 'readOnlyRequests')
    return new ReadOnlyRequests({
      ctx: this.ctx,
      options: this.options,
      self: this.self,
      peers: this.voters.map((m) => m.id).filter((id) => id !== this.self),
      quorum: this.quorum,
      clientRequests: this.clientRequests,
      canServeReads: () => this.active && this.stateReceiver.targetSeq === undefined && !this.stopped,
      lastIndex: () => this.lastIndex,
      order: (request, client) => this.propose(request, client),
      verifyFrom: (id, message, sig) => this.verifyFrom(id, message, sig),
      drop: (reason) => this.drop(reason),
    })
  }

  /**
   * Matching signed replies a proxy needs before it answers a write: f+1, or with read-only requests
   * on 2f+1, so that every read quorum meets every acknowledged write's executors in a correct
   * replica (docs/adr/0008).
   */
  private get replyQuorum(): number {
    return this.readOnly !== undefined && !readOnlyTesting.weakWriteQuorum ? this.quorum : this.f + 1
  }

  // ---------------------------------------------------------------- lifecycle

  start(): void {
    const storage = this.ctx.storage
    const snapshot = storage.snapshot()
    if (snapshot !== undefined) {
      const stored = decodeStoredMeta(snapshot.meta)
      const meta = decodeExecutionMeta(stored.meta)
      this.stableCert = stored.cert
      this.low = meta.seq
      this.lastExecuted = meta.seq
      this.lastIndex = meta.index
      this.lastTs = new Map(meta.lastTs)
      this.stableState = { seq: meta.seq, data: snapshot.data, meta: stored.meta, digest: stored.cert.digest, hashes: chunkHashes(snapshot.data) }
    }
    const stable = storage.getHardState(KEY_STABLE)
    let fetchStable: CheckpointCertificate | undefined
    if (stable !== undefined) {
      const message = decodeMessage(stable)
      if (message.k !== 'cc') throw new SynodError('INVALID_STATE', 'stored stable checkpoint is not a certificate')
      // The low watermark had moved past the snapshot: restore its window, then fetch that state.
      if (message.checkpoint.seq > this.low) {
        this.low = message.checkpoint.seq
        this.stableCert = message.checkpoint
        fetchStable = message.checkpoint
      }
    }
    const viewState = storage.getHardState(KEY_VIEW)
    if (viewState !== undefined) {
      const record = expectRecord(decodeCanonical(viewState), 'stored view')
      expectOnlyKeys(record, ['v', 'a'], 'stored view')
      this.view = expectUint(record['v'], 'stored view')
      this.active = expectUint(record['a'], 'stored view active') === 1
    }
    const ts = storage.getHardState(KEY_TS)
    if (ts !== undefined) this.proxyTs = expectUint(decodeCanonical(ts), 'stored proxy timestamp')
    for (let i = 0; i < this.options.logWindow; i++) {
      const pp = storage.getHardState(keyPrePrepare(i))
      if (pp !== undefined && pp.byteLength > 0) {
        const { bundles, ...logged } = decodeLoggedPrePrepare(pp)
        if (this.inWindow(logged.seq)) {
          const slot = this.slot(logged.seq)
          slot.prePrepare = logged
          if (bundles !== undefined) this.keepBody(slot, logged.digest, bundles)
        }
      }
      const pc = storage.getHardState(keyPrepared(i))
      if (pc !== undefined && pc.byteLength > 0) {
        const { cert, body } = decodePreparedCertificate(pc)
        if (this.inWindow(cert.seq)) {
          const slot = this.slot(cert.seq)
          slot.preparedCert = cert
          if (body !== undefined) this.keepBody(slot, cert.digest, body)
        }
      }
    }
    // Slots this replica saw committed before it stopped: executed again below (they are
    // above the stable checkpoint, which is all the snapshot restored).
    for (let i = 0; i < this.options.logWindow; i++) {
      const marker = storage.getHardState(keyCommitted(i))
      if (marker === undefined || marker.byteLength === 0) continue
      const record = expectRecord(decodeCanonical(marker), 'stored commit marker')
      expectOnlyKeys(record, ['s', 'd', 'v', 'c'], 'stored commit marker')
      const seq = expectUint(record['s'], 'stored commit marker seq')
      const digest = expectBytes(record['d'], 'stored commit marker digest')
      const slot = this.slots.get(seq)
      if (seq > this.lastExecuted && this.inWindow(seq) && slot?.prePrepare !== undefined && bytesEqual(slot.prePrepare.digest, digest)) {
        slot.prepared = true
        slot.committed = true
        // The 2f+1 commits it committed on (markers written before docs/adr/0032 have none): a peer that
        // restarted too, or lags, can fetch this slot's commit certificate from us again.
        if (unsafeTestSwitches.forgetStoredCommits || record['v'] === undefined) continue
        const view = expectUint(record['v'], 'stored commit marker view')
        for (const entry of expectArray(record['c'], 'stored commit marker votes', this.n)) {
          const [id, sig] = expectArray(entry, 'stored commit vote', 2)
          slot.commits.set(expectString(id, 'stored commit vote id'), { view, digest, sig: expectBytes(sig, 'stored commit vote signature', 128), verified: true })
        }
      }
    }
    this.nextSeq = Math.max(this.lastExecuted, ...[...this.slots.keys()]) + 1
    if (this.active) {
      this.announceView()
      this.restoreVotes()
    } else this.startViewChange(this.view)
    this.armStatusTimer()
    if (fetchStable !== undefined) this.stateReceiver.begin(fetchStable)
    this.execute()
  }

  stop(): void {
    this.stopped = true
    for (const timer of [this.viewChangeTimer, this.retransmitTimer, this.statusTimer]) if (timer !== undefined) this.ctx.clearTimer(timer)
    this.requestTimers.pause()
    this.stateReceiver.stop()
    this.batchFetch.stop()
    this.readOnly?.stop()
  }

  status(): NodeStatus {
    const primary = this.primaryOf(this.view)
    return {
      id: this.self,
      role: !this.active ? 'view-change' : primary === this.self ? 'primary' : 'backup',
      term: this.view,
      leader: this.active ? primary : undefined,
      commitIndex: this.lastIndex,
      lastIndex: this.lastIndex,
      membership: this.ctx.membership,
      detail: {
        view: this.view,
        active: this.active,
        lastExecutedSeq: this.lastExecuted,
        lowWatermark: this.low,
        highWatermark: this.low + this.options.logWindow,
        logSlots: this.slots.size,
        nextSeq: this.nextSeq,
        queuedRequests: this.queuedRequests.length,
        bufferedFuture: Object.fromEntries(this.futureBySender),
        requestAuthentication: this.options.requestAuthentication,
        missingBatches: this.batchFetch.size,
        stateTransferSeq: this.stateReceiver.targetSeq,
        stateChunksReceived: this.stateReceiver.chunksReceived,
        clientAuthentication: this.options.clientAuthentication,
        readOnlyRequests: this.options.readOnlyRequests,
        ...(this.readOnly === undefined ? {} : { readsServed: this.readOnly.served, readFallbacks: this.readOnly.fallbacks }),
        drops: Object.fromEntries(this.counters),
      },
    }
  }

  // ---------------------------------------------------------------- client side (proxy)

  propose(command: Uint8Array, client: ClientRef): void {
    if (this.clientRequests !== undefined && !this.clientRequests.check(command))
      throw new InvalidMessageError(`not a client request signed for cluster '${this.options.cluster}' (clientAuthentication 'signed')`)
    if (this.queuedRequests.length >= this.options.maxQueuedRequests)
      throw new OverloadedError(`pbft proxy queue is full (${this.options.maxQueuedRequests} requests)`)
    this.queuedRequests.push({ command, client })
    this.sendNextBundle()
  }

  /** A linearizable read: sent to every replica with `readOnlyRequests` (read-only.ts), else ordered like a command. */
  read(request: Uint8Array, client: ClientRef): void {
    if (this.readOnly === undefined) this.propose(request, client)
    else this.readOnly.read(request, client)
  }

  /** One bundle in flight per proxy: like a PBFT client, the next waits until the previous one executed. */
  private sendNextBundle(): void {
    if (this.outstanding !== undefined || this.queuedRequests.length === 0 || this.stopped) return
    const taken = this.queuedRequests.splice(0, this.options.maxBundleRequests)
    this.proxyTs = Math.max(this.proxyTs, this.lastTs.get(this.self) ?? 0) + 1
    // Persisted (and synced by the runtime before the bundle leaves) so a restarted proxy never reuses a timestamp.
    this.ctx.storage.setHardState(KEY_TS, encodeCanonical(this.proxyTs))
    const body = encodeBundleBody(
      this.self,
      this.proxyTs,
      taken.map((r) => r.command),
    )
    const digest = sha256(body)
    const ops = taken.map((r) => r.command)
    const signed = statement('request', digest)
    const bundle: Bundle = this.mac
      ? { proxy: this.self, ts: this.proxyTs, ops, body, digest, tags: this.voters.map((m) => hmacSha256(this.macKey(m.id), signed)) }
      : { proxy: this.self, ts: this.proxyTs, ops, body, digest, sig: this.signer.sign(signed) }
    this.verifiedBundles.add(toHex(digest))
    this.outstanding = { bundle, clients: taken.map((r) => r.client) }
    this.routeBundle(bundle)
    this.armRetransmit()
    this.requestTimers.add({ proxy: this.self, ts: bundle.ts })
  }

  private routeBundle(bundle: Bundle): void {
    const primary = this.primaryOf(this.view)
    if (primary === this.self) this.enqueueForOrdering(bundle)
    else this.ctx.send(primary, encodeRequest(bundle))
  }

  private armRetransmit(): void {
    if (this.retransmitTimer !== undefined) this.ctx.clearTimer(this.retransmitTimer)
    this.retransmitTimer = this.ctx.setTimer(this.options.requestRetransmitMs, () => {
      this.retransmitTimer = undefined
      const outstanding = this.outstanding
      if (outstanding === undefined || this.stopped) return
      // §4.1: a client whose request is not answered in time multicasts it to all replicas.
      const message = encodeRequest(outstanding.bundle)
      for (const m of this.voters) if (m.id !== this.self) this.ctx.send(m.id, message)
      if (this.isPrimary()) this.enqueueForOrdering(outstanding.bundle)
      this.armRetransmit()
    })
  }

  // ---------------------------------------------------------------- receive

  receive(from: NodeId, bytes: Uint8Array): void {
    if (this.stopped) return
    if (!this.keys.has(from)) return this.drop('non-voter')
    const message = decodeMessage(bytes)
    if (from !== this.self) this.lastHeard.set(from, this.ctx.now())
    switch (message.k) {
      case 'rq':
        return this.onRequest(from, message.bundle)
      case 'pp':
        if (message.view < this.view) this.learnFromLowerView(from, message)
        if (this.deferIfFuture(from, message.view, bytes)) return
        return this.onPrePrepare(from, message, bytes)
      case 'p':
      case 'c':
        if (message.k === 'c' && message.view < this.view) this.learnFromLowerView(from, message)
        if (this.deferIfFuture(from, message.view, bytes)) return
        return this.onPhaseVote(from, message)
      case 'ck':
        return this.onCheckpoint(from, message.seq, message.digest, message.sig)
      case 'r':
        return this.onReply(from, message)
      case 'vc':
        return this.onViewChange(from, message)
      case 'nv':
        return this.onNewView(from, message, bytes)
      case 'st':
        return this.onStatus(from, message)
      case 'fs':
        return this.onFetchState(from, message.seq)
      case 'sx':
        return this.stateReceiver.onManifest(message)
      case 'cc':
        return this.onCheckpointCertificate(message.checkpoint)
      case 'bf':
        return this.onBatchFetch(from, message.seq, message.digest)
      case 'bb':
        return this.onBatchBody(message)
      case 'fc':
        return this.onFetchChunk(from, message.seq, message.index)
      case 'sc':
        return this.stateReceiver.onChunk(from, message)
      case 'rd':
        return this.readOnly === undefined ? this.drop('read-only-off') : this.readOnly.onRequest(from, message)
      case 'ra':
        return this.readOnly === undefined ? this.drop('read-only-off') : this.readOnly.onReply(from, message)
      case 'fk':
        return this.onFetchCommitted(from, message.seq)
      case 'cb':
        return this.onCommittedBatches(from, message.batches)
    }
  }

  private drop(reason: string): void {
    this.counters.set(reason, (this.counters.get(reason) ?? 0) + 1)
  }

  /** Messages of a view this replica has not entered yet wait (bounded) until it does; older views are dropped. */
  private deferIfFuture(from: NodeId, view: number, bytes: Uint8Array): boolean {
    if (view < this.view && !this.unsafe.has('old-view')) {
      this.drop('old-view')
      this.sendNewViewTo(from)
      return true
    }
    if (view > this.view || !this.active) {
      const buffered = this.futureBySender.get(from) ?? 0
      if (view > this.view + 2 || buffered >= MAX_BUFFERED_FUTURE_PER_SENDER) this.drop('future-view')
      else {
        this.futureMessages.push({ from, view, bytes })
        this.futureBySender.set(from, buffered + 1)
      }
      return true
    }
    return false
  }

  // ---------------------------------------------------------------- requests

  private onRequest(from: NodeId, bundle: Bundle): void {
    const verdict = this.checkBundle(bundle)
    if (verdict === 'unauthenticated') return this.drop('request-bad-mac')
    if (verdict !== 'ok') return
    if (bundle.ts <= (this.lastTs.get(bundle.proxy) ?? 0)) return this.drop('stale-request')
    if (this.isPrimary() && this.active) {
      this.enqueueForOrdering(bundle)
      return
    }
    // A backup that receives a request relays it to the primary and starts its timer (§4.4).
    const known = this.pendingBundles.get(bundle.proxy)
    if (known !== undefined && known.ts >= bundle.ts) return
    this.pendingBundles.set(bundle.proxy, bundle)
    if (this.active && from === bundle.proxy) this.ctx.send(this.primaryOf(this.view), encodeRequest(bundle))
    this.requestTimers.add({ proxy: bundle.proxy, ts: bundle.ts })
  }

  /**
   * 'ok' when the bundle's proxy is a voter and authenticated it to this
   * replica: a valid signature ('signature' mode) or a valid tag in this
   * replica's entry of the authenticator ('mac' mode; the other entries are
   * for the other replicas and cannot be checked here). 'unauthenticated'
   * when only our MAC tag is wrong (a byzantine proxy or primary may send a
   * partially valid authenticator), 'invalid' for anything else. Remembered
   * per digest: the tag over a digest is fixed, so one valid copy proves the
   * proxy sent that body to us.
   */
  private checkBundle(bundle: Bundle): 'ok' | 'unauthenticated' | 'invalid' {
    const key = toHex(bundle.digest)
    if (this.verifiedBundles.has(key)) return 'ok'
    const publicKey = this.keys.get(bundle.proxy)
    if (publicKey === undefined) {
      this.drop('request-non-voter')
      return 'invalid'
    }
    if (this.mac) {
      if (bundle.tags === undefined || bundle.tags.length !== this.n) {
        this.drop('request-wrong-authentication')
        return 'invalid'
      }
      const expected = hmacSha256(this.macKey(bundle.proxy), statement('request', bundle.digest))
      if (!bytesEqual(expected, bundle.tags[this.selfIndex]!)) return 'unauthenticated'
    } else {
      if (bundle.sig === undefined) {
        this.drop('request-wrong-authentication')
        return 'invalid'
      }
      if (!this.verifier.verify(publicKey, statement('request', bundle.digest), bundle.sig)) {
        this.drop('request-bad-signature')
        return 'invalid'
      }
    }
    // The proxy is authentic; in 'signed' mode each command must also be its client's own request.
    if (this.clientRequests !== undefined && !this.clientRequests.checkAll(bundle.ops)) {
      this.drop('request-bad-client-signature')
      return 'invalid'
    }
    if (this.verifiedBundles.size >= MAX_VERIFIED_CACHE) this.verifiedBundles.clear()
    this.verifiedBundles.add(key)
    return 'ok'
  }

  /** The HMAC key shared with `peer`, derived on first use. */
  private macKey(peer: NodeId): Uint8Array {
    let key = this.macKeys.get(peer)
    if (key === undefined) {
      key = this.signer.sharedKey!(this.keys.get(peer)!)
      this.macKeys.set(peer, key)
    }
    return key
  }

  private enqueueForOrdering(bundle: Bundle): void {
    if (bundle.ts <= (this.lastTs.get(bundle.proxy) ?? 0)) return
    const key = `${bundle.proxy}/${bundle.ts}`
    if (this.assigned.has(key) || this.primaryQueue.has(key)) return
    this.primaryQueue.set(key, bundle)
    this.proposeBatches()
  }

  // ---------------------------------------------------------------- normal case: primary

  private proposeBatches(): void {
    while (
      this.active &&
      this.isPrimary() &&
      this.primaryQueue.size > 0 &&
      this.nextSeq - 1 - this.lastExecuted < this.options.maxInFlight &&
      this.nextSeq <= this.low + this.options.logWindow
    ) {
      const bundles: Bundle[] = []
      for (const [key, bundle] of this.primaryQueue) {
        this.primaryQueue.delete(key)
        if (bundle.ts <= (this.lastTs.get(bundle.proxy) ?? 0)) continue
        this.assigned.add(key)
        bundles.push(bundle)
        if (bundles.length >= this.options.maxBatchBundles) break
      }
      if (bundles.length === 0) return
      this.assignSeq(this.nextSeq++, bundles)
    }
  }

  private assignSeq(seq: number, bundles: readonly Bundle[]): void {
    const digest = batchDigest(bundles)
    const sig = this.signer.sign(statement('pre-prepare', this.view, seq, digest))
    const bytes = encodePrePrepare(this.view, seq, bundles, sig)
    this.acceptPrePrepare({ view: this.view, seq, digest, sig }, bundles, bytes)
    this.broadcast(bytes)
  }

  // ---------------------------------------------------------------- normal case: backups

  private onPrePrepare(from: NodeId, pp: PrePrepare, bytes: Uint8Array): void {
    if (from !== this.primaryOf(pp.view)) return this.drop('pre-prepare-not-primary')
    if (!this.inWindow(pp.seq)) return this.drop('out-of-window')
    // A primary may not make backups hold (and persist) batches larger than it is allowed to build.
    if (pp.bundles.length > this.options.maxBatchBundles || bytes.byteLength > this.options.maxBatchBytes) return this.drop('pre-prepare-oversized')
    const existing = this.slots.get(pp.seq)?.prePrepare
    if (existing !== undefined && existing.view === pp.view) {
      if (!bytesEqual(existing.digest, pp.digest)) this.drop('pre-prepare-conflict')
      return
    }
    if (!this.verifyFrom(from, statement('pre-prepare', pp.view, pp.seq, pp.digest), pp.sig)) return this.drop('bad-signature')
    let authenticated = true
    for (const bundle of pp.bundles) {
      const verdict = this.checkBundle(bundle)
      if (verdict === 'invalid') return this.drop('pre-prepare-bad-request')
      if (verdict === 'unauthenticated') authenticated = false
    }
    this.acceptPrePrepare(pp, pp.bundles, bytes)
    if (!authenticated) {
      // 'mac' mode, our tag is wrong for some bundle: we must not vouch for the batch with our own
      // prepare. We log the pre-prepare and follow the others: 2f prepares from other backups (with
      // the primary's pre-prepare) prove that at least f+1 correct replicas authenticated every
      // bundle (docs/adr/0003), and then we commit and execute like everyone else.
      this.drop('pre-prepare-unauthenticated-request')
      this.advance(pp.seq)
      return
    }
    const sig = this.signer.sign(statement('prepare', pp.view, pp.seq, pp.digest))
    this.slot(pp.seq).prepares.set(this.self, { view: pp.view, digest: pp.digest, sig, verified: true })
    this.broadcast(encodePhaseVote('p', pp.view, pp.seq, pp.digest, sig))
    this.advance(pp.seq)
  }

  /**
   * Log the pre-prepare and persist it before our prepare (or, on the primary, the pre-prepare) leaves.
   * `body` is undefined for a new-view pre-prepare whose batch we never received: it is fetched by digest.
   */
  private acceptPrePrepare(pp: LoggedPrePrepare, body: readonly Bundle[] | undefined, bytes?: Uint8Array): void {
    const slot = this.slot(pp.seq)
    if (slot.prePrepare !== undefined && slot.prePrepare.view !== pp.view) {
      slot.prepared = false
      slot.committed = false
    }
    slot.prePrepare = { view: pp.view, seq: pp.seq, digest: pp.digest, sig: pp.sig }
    if (body !== undefined) this.keepBody(slot, pp.digest, body)
    this.ctx.storage.setHardState(
      keyPrePrepare(pp.seq % this.options.logWindow),
      bytes ?? encodeLoggedPrePrepare(pp.view, pp.seq, pp.digest, pp.sig, body),
    )
    if (body !== undefined) for (const bundle of body) this.assigned.add(`${bundle.proxy}/${bundle.ts}`)
    if (this.isPrimary()) this.advance(pp.seq)
  }

  /** Remember a batch body of this slot, evicting the oldest one no pre-prepare or certificate of the slot refers to. */
  private keepBody(slot: Slot, digest: Digest, body: readonly Bundle[]): void {
    const key = toHex(digest)
    if (slot.bodies.has(key)) return
    slot.bodies.set(key, body)
    if (slot.bodies.size <= MAX_BODIES_PER_SLOT) return
    const live = new Set([slot.prePrepare, slot.preparedCert].filter((x) => x !== undefined).map((x) => toHex(x.digest)))
    for (const old of slot.bodies.keys()) {
      if (live.has(old) || old === key) continue
      slot.bodies.delete(old)
      return
    }
  }

  // ---------------------------------------------------------------- batch fetching (bodies known by digest only)

  private onBatchFetch(from: NodeId, seq: number, digest: Digest): void {
    const body = this.slots.get(seq)?.bodies.get(toHex(digest))
    if (body === undefined) return this.drop('batch-unavailable')
    this.ctx.send(from, encodeBatchBody(seq, body))
  }

  /** A fetched body: its digest was computed from the bundles received, so matching the wanted digest proves it. */
  private onBatchBody(m: BatchBody): void {
    const wanted = this.batchFetch.wanted(m.seq)
    if (wanted === undefined || (!bytesEqual(wanted, m.digest) && !unsafeTestSwitches.skipBatchDigestCheck)) return this.drop('unsolicited-batch')
    this.batchFetch.done(m.seq)
    const slot = this.slots.get(m.seq)
    if (slot === undefined) return
    this.keepBody(slot, wanted, m.bundles)
    // Certified by the prepared certificate the O set chose it from: no request authentication of ours needed.
    for (const bundle of m.bundles) this.verifiedBundles.add(toHex(bundle.digest))
    const pp = slot.prePrepare
    if (pp !== undefined && bytesEqual(pp.digest, wanted)) {
      this.ctx.storage.setHardState(keyPrePrepare(m.seq % this.options.logWindow), encodePrePrepare(pp.view, pp.seq, m.bundles, pp.sig))
      for (const bundle of m.bundles) this.assigned.add(`${bundle.proxy}/${bundle.ts}`)
    }
    this.execute()
  }

  private onPhaseVote(from: NodeId, vote: PhaseVote): void {
    if (!this.inWindow(vote.seq)) return this.drop('out-of-window')
    if (vote.k === 'p' && from === this.primaryOf(vote.view)) return this.drop('prepare-from-primary')
    const slot = this.slot(vote.seq)
    const votes = vote.k === 'p' ? slot.prepares : slot.commits
    const known = votes.get(from)
    if (known !== undefined && known.view === vote.view) {
      if (!bytesEqual(known.digest, vote.digest)) this.drop('conflicting-vote')
      return
    }
    votes.set(from, { view: vote.view, digest: vote.digest, sig: vote.sig, verified: false })
    this.advance(vote.seq)
  }

  private advance(seq: number): void {
    const slot = this.slots.get(seq)
    if (slot !== undefined && slot.prePrepare === undefined && !slot.committed) this.commitByCertificate(slot)
    const pp = slot?.prePrepare
    if (slot === undefined || pp === undefined || pp.view !== this.view || !this.active) return
    if (!slot.prepared) {
      if (this.countPhase(slot.prepares, pp.view, seq, pp.digest, 2 * this.f, 'prepare') < 2 * this.f) return
      slot.prepared = true
      const prepares: Vote[] = []
      for (const [id, v] of slot.prepares) {
        if (v.verified && v.view === pp.view && bytesEqual(v.digest, pp.digest) && prepares.length < 2 * this.f) prepares.push({ id, sig: v.sig })
      }
      const cert: PreparedCertificate = { view: pp.view, seq, digest: pp.digest, prePrepareSig: pp.sig, prepares }
      slot.preparedCert = cert
      this.ctx.storage.setHardState(keyPrepared(seq % this.options.logWindow), encodePreparedCertificate(cert, slot.bodies.get(toHex(pp.digest))))
      const sig = this.signer.sign(statement('commit', pp.view, seq, pp.digest))
      slot.commits.set(this.self, { view: pp.view, digest: pp.digest, sig, verified: true })
      this.broadcast(encodePhaseVote('c', pp.view, seq, pp.digest, sig))
    }
    if (!slot.committed) {
      if (this.countPhase(slot.commits, pp.view, seq, pp.digest, this.quorum, 'commit') < this.quorum) return
      slot.committed = true
      // With the commits it counted: after a restart (ours, or a full one) this replica can still hand the
      // slot's commit certificate to a peer that lags (docs/adr/0032), instead of only the next checkpoint.
      const votes: Array<[NodeId, Signature]> = []
      for (const [id, v] of slot.commits)
        if (v.verified && v.view === pp.view && bytesEqual(v.digest, pp.digest) && votes.length < this.quorum) votes.push([id, v.sig])
      this.ctx.storage.setHardState(keyCommitted(seq % this.options.logWindow), encodeCanonical({ s: seq, d: pp.digest, v: pp.view, c: votes }))
      this.execute()
    }
  }

  /**
   * A slot whose pre-prepare we missed but that 2f+1 replicas signed commits for (one view, one
   * digest) is committed: f+1 correct replicas prepared that batch, so every later view keeps it.
   * Execute it once the body (fetched by digest) is here, instead of waiting for the next stable
   * checkpoint and a state transfer. Not persisted: a restart before execution loses it (the
   * checkpoint path still applies).
   */
  private commitByCertificate(slot: Slot): void {
    const groups = new Map<string, { view: number; digest: Digest; count: number }>()
    for (const vote of slot.commits.values()) {
      const key = `${vote.view}/${toHex(vote.digest)}`
      const group = groups.get(key) ?? { view: vote.view, digest: vote.digest, count: 0 }
      group.count++
      groups.set(key, group)
    }
    for (const group of groups.values()) {
      if (group.count < this.quorum) continue
      if (this.countPhase(slot.commits, group.view, slot.seq, group.digest, this.quorum, 'commit') < this.quorum) continue
      slot.committed = true
      slot.certifiedDigest = group.digest
      this.execute()
      return
    }
  }

  /** Count matching votes of `view`, verifying signatures lazily until `needed` are proven. */
  private countPhase(votes: Map<NodeId, StoredVote>, view: number, seq: number, digest: Digest, needed: number, tag: 'prepare' | 'commit'): number {
    let count = 0
    for (const [id, vote] of votes) {
      if (vote.view !== view || (!bytesEqual(vote.digest, digest) && !this.unsafe.has('vote-digest'))) continue
      if (!vote.verified) {
        if (count >= needed) continue
        if (!this.verifyFrom(id, statement(tag, view, seq, vote.digest), vote.sig)) {
          votes.delete(id)
          this.drop('bad-signature')
          continue
        }
        vote.verified = true
      }
      count++
    }
    return count
  }

  // ---------------------------------------------------------------- execution and replies

  private execute(): void {
    let progressed = false
    while (this.lastExecuted >= this.low) {
      const seq = this.lastExecuted + 1
      const slot = this.slots.get(seq)
      // Committed here (a commit certificate outranks a pre-prepare received afterwards: a primary may
      // equivocate), or learned from a commit certificate (catch-up; view-independent, docs/adr/0010).
      const digest = slot?.certifiedDigest ?? slot?.prePrepare?.digest
      let bundles = slot?.committed === true && digest !== undefined ? slot.bodies.get(toHex(digest)) : undefined
      bundles ??= this.learned.get(seq)?.bundles
      if (bundles === undefined) {
        // A slot executes only with its verified body; a batch we never received is fetched first.
        if (slot?.committed === true && digest !== undefined) this.batchFetch.want(seq, digest)
        break
      }
      this.learned.delete(seq)
      this.executeBatch(seq, bundles)
      progressed = true
    }
    if (!progressed) return
    this.learner.forgetUpTo(this.lastExecuted)
    this.failedViews = 0
    // §4.4: the timer keeps running for a request that still waits; it restarts only when its own request executed.
    // (Test-only 'request-timers' off: the old rule, restarted by any execution, which a censoring primary defeats.)
    if (this.unsafe.has('request-timers')) this.requestTimers.restart()
    else this.requestTimers.update()
    this.sendNextBundle()
    this.proposeBatches()
  }

  private executeBatch(seq: number, bundles: readonly Bundle[]): void {
    this.lastExecuted = seq
    const leaves: Uint8Array[] = []
    const answers: LocalAnswer[] = []
    const proxies = new Set<NodeId>()
    for (const bundle of bundles) {
      this.assigned.delete(`${bundle.proxy}/${bundle.ts}`)
      // §4.1: a request runs once; a timestamp not above the proxy's last executed one is a duplicate.
      if (bundle.ts <= (this.lastTs.get(bundle.proxy) ?? 0)) continue
      this.lastTs.set(bundle.proxy, bundle.ts)
      const pending = this.pendingBundles.get(bundle.proxy)
      if (pending !== undefined && pending.ts <= bundle.ts) this.pendingBundles.delete(bundle.proxy)
      // Our clients' answers come only from our own bundle (the same digest), never from another body under our timestamp.
      const outstanding = this.outstanding
      const mine =
        bundle.proxy === this.self && outstanding?.bundle.ts === bundle.ts && bytesEqual(outstanding.bundle.digest, bundle.digest) ? outstanding : undefined
      proxies.add(bundle.proxy)
      bundle.ops.forEach((command, j) => {
        const index = ++this.lastIndex
        const result = this.ctx.commit({ index, command })
        const failed = result === undefined
        const position = leaves.length
        leaves.push(resultLeaf(index, command, result ?? EMPTY, failed))
        const client = mine?.clients[j]
        if (client !== undefined) answers.push({ client, index, position, result: result ?? EMPTY, failed })
      })
      if (mine !== undefined) {
        this.outstanding = undefined
        if (this.retransmitTimer !== undefined) this.ctx.clearTimer(this.retransmitTimer)
        this.retransmitTimer = undefined
      }
    }
    if (this.outstanding !== undefined && this.outstanding.bundle.ts <= (this.lastTs.get(this.self) ?? 0)) this.abandonOutstanding()
    if (leaves.length > 0) {
      const levels = merkleTree(leaves)
      const root = treeRoot(levels)
      const sig = this.signer.sign(replyStatement(seq, root))
      const reply = encodeReply(seq, root, sig)
      for (const proxy of proxies) if (proxy !== this.self) this.ctx.send(proxy, reply)
      if (answers.length > 0) {
        this.awaiting.set(seq, { root, levels, answers })
        this.recordReplyVote(seq, this.self, root, sig, true)
        this.tryAnswer(seq)
      }
    }
    if (seq % this.options.checkpointInterval === 0) this.takeCheckpoint(seq)
  }

  /** Our bundle was executed where we could not see it (we caught up by state transfer): its clients' outcome is unknown. */
  private abandonOutstanding(): void {
    const outstanding = this.outstanding
    if (outstanding === undefined) return
    this.outstanding = undefined
    for (const client of outstanding.clients) this.ctx.reject(client, new TimeoutError(0, 'request (executed while this replica was catching up)'))
  }

  private onReply(from: NodeId, reply: Reply): void {
    if (reply.seq <= this.low - this.options.logWindow || reply.seq > this.low + 2 * this.options.logWindow) return this.drop('out-of-window')
    if (reply.seq <= this.lastExecuted && !this.awaiting.has(reply.seq)) return
    this.recordReplyVote(reply.seq, from, reply.root, reply.sig, false)
    this.tryAnswer(reply.seq)
  }

  private recordReplyVote(seq: number, from: NodeId, root: Digest, sig: Signature, verified: boolean): void {
    let votes = this.replyVotes.get(seq)
    if (votes === undefined) this.replyVotes.set(seq, (votes = new Map()))
    if (!votes.has(from)) votes.set(from, { root, sig, verified })
  }

  /** Answer this proxy's clients of batch `seq` once `replyQuorum` replicas (this one included) signed the same result root. */
  private tryAnswer(seq: number): void {
    const awaiting = this.awaiting.get(seq)
    const votes = this.replyVotes.get(seq)
    if (awaiting === undefined || votes === undefined) return
    const needed = this.replyQuorum
    const replies: Vote[] = []
    for (const [id, vote] of votes) {
      if (replies.length >= needed) break
      if (!bytesEqual(vote.root, awaiting.root)) continue
      if (!vote.verified) {
        if (!this.verifyFrom(id, replyStatement(seq, vote.root), vote.sig)) {
          votes.delete(id)
          this.drop('bad-signature')
          continue
        }
        vote.verified = true
      }
      replies.push({ id, sig: vote.sig })
    }
    if (replies.length < needed) return
    this.awaiting.delete(seq)
    this.replyVotes.delete(seq)
    const encodedReplies = encodeReplies(replies)
    for (const answer of awaiting.answers) {
      if (answer.failed) {
        this.ctx.reject(answer.client, new SynodError('APPLY_FAILED', `the state machine failed to apply the command at index ${answer.index}`))
        continue
      }
      const proof = encodeAnswerCertificate(seq, answer.index, false, awaiting.levels, answer.position, encodedReplies)
      this.ctx.respond(answer.client, { index: answer.index, result: answer.result, proof })
    }
  }

  // ---------------------------------------------------------------- checkpoints and garbage collection

  private takeCheckpoint(seq: number): void {
    const snapshot = this.ctx.takeSnapshot()
    const meta = encodeExecutionMeta({ seq, index: this.lastIndex, lastTs: this.lastTs })
    const hashes = chunkHashes(snapshot.data)
    const digest = stateDigest(chunksRoot(snapshot.data.byteLength, hashes), meta)
    this.ownCheckpoints.set(seq, { seq, data: snapshot.data, meta, digest, hashes })
    const sig = this.signer.sign(statement('checkpoint', seq, digest))
    this.broadcast(encodeCheckpoint(seq, digest, sig))
    this.onCheckpoint(this.self, seq, digest, sig, true)
  }

  private onCheckpoint(from: NodeId, seq: number, digest: Digest, sig: Signature, verified = false): void {
    if (seq <= this.low || seq % this.options.checkpointInterval !== 0) return this.drop('stale-checkpoint')
    let votes = this.checkpointVotes.get(seq)
    if (votes === undefined) this.checkpointVotes.set(seq, (votes = new Map()))
    if (votes.has(from)) return
    votes.set(from, { view: 0, digest, sig, verified })
    // Bound what one sender can make us hold: its few latest checkpoints.
    const mine = [...this.checkpointVotes.entries()].filter(([, v]) => v.has(from)).map(([s]) => s)
    if (mine.length > MAX_CHECKPOINTS_PER_SENDER) {
      const oldest = Math.min(...mine)
      this.checkpointVotes.get(oldest)!.delete(from)
    }
    this.checkStable(seq)
  }

  private checkStable(seq: number): void {
    const votes = this.checkpointVotes.get(seq)
    if (votes === undefined || seq <= this.low) return
    const byDigest = new Map<string, Vote[]>()
    for (const [id, vote] of votes) {
      const key = toHex(vote.digest)
      const group = byDigest.get(key) ?? []
      byDigest.set(key, group)
      if (group.length >= this.quorum) continue
      if (!vote.verified) {
        if (!this.verifyFrom(id, statement('checkpoint', seq, vote.digest), vote.sig)) {
          votes.delete(id)
          this.drop('bad-signature')
          continue
        }
        vote.verified = true
      }
      group.push({ id, sig: vote.sig })
      if (group.length >= this.quorum) {
        this.adoptStable({ seq, digest: vote.digest, votes: group })
        return
      }
    }
  }

  /** A checkpoint with 2f+1 matching signatures is stable: move the low watermark, drop the log below it, and catch up if behind. */
  private adoptStable(cert: CheckpointCertificate): void {
    if (cert.seq <= this.low) return
    this.low = cert.seq
    this.stableCert = cert
    this.ctx.storage.setHardState(KEY_STABLE, encodeCheckpointCertificateMessage(cert))
    this.batchFetch.prune(cert.seq)
    const own = this.ownCheckpoints.get(cert.seq)
    if (own !== undefined && bytesEqual(own.digest, cert.digest)) this.persistStable(own, cert)
    else if (this.lastExecuted >= cert.seq) {
      // Our state at this checkpoint differs from 2f+1 others': we are not correct any more; refetch it.
      this.drop('diverged-state')
      this.lastExecuted = 0
      this.beginStateTransfer(cert)
    } else this.beginStateTransfer(cert)
    for (const seq of [...this.slots.keys()]) if (seq <= cert.seq) this.slots.delete(seq)
    for (const seq of [...this.checkpointVotes.keys()]) if (seq <= cert.seq) this.checkpointVotes.delete(seq)
    for (const seq of [...this.ownCheckpoints.keys()]) if (seq <= cert.seq) this.ownCheckpoints.delete(seq)
    for (const seq of [...this.learned.keys()]) if (seq <= cert.seq) this.learned.delete(seq)
    for (const seq of [...this.replyVotes.keys()]) if (seq <= cert.seq - this.options.logWindow) this.replyVotes.delete(seq)
    for (const seq of [...this.awaiting.keys()]) if (seq <= cert.seq - this.options.logWindow) this.awaiting.delete(seq)
    if (this.nextSeq <= cert.seq) this.nextSeq = cert.seq + 1
    this.proposeBatches()
  }

  private persistStable(state: OwnCheckpoint, cert: CheckpointCertificate): void {
    this.stableState = state
    const meta = decodeExecutionMeta(state.meta)
    this.ctx.storage.saveSnapshot({ index: meta.index, term: this.view, data: state.data, meta: encodeStoredMeta(state.meta, cert) })
    this.ctx.observe({ type: 'snapshot', index: meta.index })
  }

  private onCheckpointCertificate(cert: CheckpointCertificate): void {
    if (cert.seq <= this.low) return
    if (!this.validCheckpointCertificate(cert)) return this.drop('bad-checkpoint-certificate')
    this.adoptStable(cert)
  }

  private validCheckpointCertificate(cert: CheckpointCertificate): boolean {
    // Checkpoint 0 is the initial state everyone starts from: nobody signs it, so only the genesis form is valid.
    if (cert.seq === 0) return cert.votes.length === 0 && bytesEqual(cert.digest, GENESIS_DIGEST)
    if (cert.seq % this.options.checkpointInterval !== 0) return false
    return this.countValid(cert.votes, statement('checkpoint', cert.seq, cert.digest), undefined) >= this.quorum
  }

  // ---------------------------------------------------------------- state transfer (chunked; receiving side in state-transfer.ts)

  private beginStateTransfer(cert: CheckpointCertificate): void {
    this.stateReceiver.begin(cert)
  }

  /** The manifest of our stable checkpoint at `seq` or later (the fetcher checks it against the certificate). */
  private onFetchState(from: NodeId, seq: number): void {
    const state = this.stableState
    if (state === undefined || state.seq < seq || this.stableCert.seq !== state.seq) return this.drop('fetch-unavailable')
    this.ctx.send(from, encodeStateTransfer(this.stableCert, state.meta, state.data.byteLength, state.hashes))
  }

  /** One chunk, sliced from the snapshot we hold (no re-serialization); a fetcher of an older checkpoint gets our manifest. */
  private onFetchChunk(from: NodeId, seq: number, index: number): void {
    const state = this.stableState
    if (state === undefined || this.stableCert.seq !== state.seq || state.seq < seq) return this.drop('fetch-unavailable')
    if (state.seq > seq) return this.onFetchState(from, seq)
    if (index >= chunkCount(state.data.byteLength)) return this.drop('fetch-unavailable')
    this.ctx.send(from, encodeStateChunk(seq, index, chunkOf(state.data, index)))
  }

  /** Every chunk of a certified checkpoint arrived and matched its digest: install it. */
  private installState(cert: CheckpointCertificate, metaBytes: Uint8Array, data: Uint8Array, hashes: readonly Digest[]): void {
    if (cert.seq <= this.lastExecuted) return this.drop('stale-state')
    const meta = decodeExecutionMeta(metaBytes)
    const snapshot = { index: meta.index, term: this.view, data, meta: encodeStoredMeta(metaBytes, cert) }
    this.ctx.installSnapshot(snapshot)
    this.ctx.storage.saveSnapshot(snapshot)
    this.ctx.observe({ type: 'snapshot', index: meta.index })
    this.lastExecuted = cert.seq
    this.lastIndex = meta.index
    this.lastTs = new Map(meta.lastTs)
    this.stableState = { seq: cert.seq, data, meta: metaBytes, digest: cert.digest, hashes }
    if (this.outstanding !== undefined && this.outstanding.bundle.ts <= (this.lastTs.get(this.self) ?? 0)) this.abandonOutstanding()
    for (const [proxy, bundle] of this.pendingBundles) if (bundle.ts <= (this.lastTs.get(proxy) ?? 0)) this.pendingBundles.delete(proxy)
    if (cert.seq > this.low) this.adoptStable(cert)
    else this.stableCert = cert
    for (const seq of this.slots.keys()) this.advance(seq)
    this.execute()
    this.sendNextBundle()
  }

  // ---------------------------------------------------------------- view change

  private startViewChange(newView: number): void {
    if (this.stopped) return
    if (newView < this.view || (newView === this.view && this.active && newView !== 0)) return
    const entering = newView > this.view || this.active
    this.view = newView
    this.active = false
    this.persistView()
    if (entering) this.ctx.observe({ type: 'role', role: 'view-change', term: newView })
    const prepared: PreparedCertificate[] = []
    for (const slot of [...this.slots.values()].sort((a, b) => a.seq - b.seq))
      if (slot.preparedCert !== undefined && slot.seq > this.stableCert.seq) prepared.push(slot.preparedCert)
    const checkpoint = this.stableCert
    const body = encodeViewChangeBody(newView, this.self, checkpoint, prepared)
    const sig = this.signer.sign(statement('view-change', sha256(body)))
    const vc: ViewChange = { k: 'vc', view: newView, replica: this.self, checkpoint, prepared, body, sig }
    this.viewChanges.set(this.self, vc)
    this.broadcast(encodeSignedBody('vc', body, sig))
    this.viewChangeRetransmitGap = 1
    this.viewChangeRetransmitIn = 1
    this.requestTimers.pause()
    if (this.viewChangeTimer !== undefined) this.ctx.clearTimer(this.viewChangeTimer)
    this.viewChangeTimer = undefined
    // §4.5.2: each view that fails to install waits twice as long as the last — so that the timeout outgrows
    // the real delays. A view that failed while this replica heard fewer than 2f others (a partition: no
    // timeout would have saved it) says nothing about delays and does not double: after a few partitions
    // without a quorum, a connected quorum would otherwise wait 2^k timeouts for a primary that is gone.
    this.viewChangeTimeout = this.options.viewChangeTimeoutMs * 2 ** Math.min(this.failedViews, 6)
    if (this.unsafe.has('timeouts-when-cut-off') || this.hearsQuorum()) this.failedViews++
    this.armViewChangeTimer()
    this.tryNewView()
  }

  /**
   * §4.5.2: the timer for view v starts only once 2f+1 VIEW-CHANGEs for v are
   * known (ours included). A replica that asked for v alone (cut off, or
   * behind and timing out on requests the others executed) therefore stays
   * at v instead of climbing views nobody else will join: it never gets more
   * than one view above a group that makes progress (docs/adr/0010).
   */
  private armViewChangeTimer(): void {
    if (this.active || this.stopped || this.viewChangeTimer !== undefined) return
    let count = 0
    for (const vc of this.viewChanges.values()) if (vc.view === this.view) count++
    if (count < this.quorum && !this.unsafe.has('lone-escalation')) return
    const view = this.view
    this.viewChangeTimer = this.ctx.setTimer(this.viewChangeTimeout, () => {
      this.viewChangeTimer = undefined
      if (!this.active && this.view === view) this.startViewChange(view + 1)
    })
  }

  /**
   * Whether 2f other replicas were heard from (any message) within the last HEARD_WINDOW_TICKS status
   * intervals: connected replicas send a status every interval, so fewer means this replica is cut off
   * from every quorum. Faulty replicas can only add to the count (then the timeout doubles, as it always did).
   */
  private hearsQuorum(): boolean {
    const since = this.ctx.now() - HEARD_WINDOW_TICKS * this.options.statusIntervalMs
    let heard = 0
    for (const at of this.lastHeard.values()) if (at >= since) heard++
    return heard >= this.quorum - 1
  }

  /** While our view change is pending, re-broadcast our VIEW-CHANGE (lost ones would stall it for good), backing off. */
  private retransmitViewChange(): void {
    if (this.active) return
    const own = this.viewChanges.get(this.self)
    if (own === undefined || own.view !== this.view) return
    if (--this.viewChangeRetransmitIn > 0) return
    this.viewChangeRetransmitGap = Math.min(this.viewChangeRetransmitGap * 2, MAX_VC_RETRANSMIT_TICKS)
    this.viewChangeRetransmitIn = this.viewChangeRetransmitGap
    this.broadcast(encodeSignedBody('vc', own.body, own.sig))
  }

  private persistView(): void {
    this.ctx.storage.setHardState(KEY_VIEW, encodeCanonical({ v: this.view, a: this.active ? 1 : 0 }))
  }

  private onViewChange(from: NodeId, vc: ViewChange): void {
    if (vc.replica !== from) return this.drop('view-change-not-sender')
    if (vc.view < this.view || (vc.view === this.view && this.active)) {
      this.drop('old-view')
      this.sendNewViewTo(from)
      return
    }
    if (vc.view > this.view + MAX_VIEW_CHANGE_AHEAD) return this.drop('view-change-too-far')
    const known = this.viewChanges.get(from)
    if (known !== undefined && known.view >= vc.view) return
    if (!this.validViewChange(vc)) return this.drop('bad-view-change')
    this.viewChanges.set(from, vc)
    // §4.5.2: f+1 replicas asking for higher views are enough to join the smallest of them
    // (signed evidence only: status messages are unsigned and never count).
    const higher = [...this.viewChanges.values()].filter((m) => m.replica !== this.self && m.view > this.view)
    if (higher.length >= this.f + 1) {
      const target = Math.min(...higher.map((m) => m.view))
      if (target > this.view) this.startViewChange(target)
    }
    this.armViewChangeTimer()
    this.tryNewView()
  }

  private validViewChange(vc: ViewChange): boolean {
    if (!this.keys.has(vc.replica)) return false
    if (!this.verifyFrom(vc.replica, statement('view-change', sha256(vc.body)), vc.sig)) return false
    if (!this.unsafe.has('view-change-certificates') && !this.validCheckpointCertificate(vc.checkpoint)) return false
    const h = vc.checkpoint.seq
    const seen = new Set<number>()
    for (const p of vc.prepared) {
      if (p.seq <= h || p.seq > h + this.options.logWindow || p.view >= vc.view || seen.has(p.seq)) return false
      seen.add(p.seq)
      if (!this.unsafe.has('view-change-certificates') && !this.validPreparedCertificate(p)) return false
    }
    return true
  }

  private validPreparedCertificate(p: PreparedCertificate): boolean {
    const primary = this.primaryOf(p.view)
    if (!this.verifyFrom(primary, statement('pre-prepare', p.view, p.seq, p.digest), p.prePrepareSig)) return false
    return this.countValid(p.prepares, statement('prepare', p.view, p.seq, p.digest), primary) >= 2 * this.f
  }

  /** The new primary sends NEW-VIEW once it holds 2f+1 VIEW-CHANGEs for its view. */
  private tryNewView(): void {
    if (this.active || this.primaryOf(this.view) !== this.self) return
    const chosen = [...this.viewChanges.values()].filter((vc) => vc.view === this.view).sort((a, b) => (a.replica < b.replica ? -1 : 1))
    if (chosen.length < this.quorum) return
    const viewChanges = chosen.slice(0, this.quorum)
    const plan = planNewView(viewChanges)
    const sigs = plan.entries.map((e) => this.signer.sign(statement('pre-prepare', this.view, e.seq, e.digest)))
    const body = encodeNewViewBody(this.view, viewChanges, sigs)
    const sig = this.signer.sign(statement('new-view', sha256(body)))
    const bytes = encodeSignedBody('nv', body, sig)
    this.broadcast(bytes)
    // Everyone just got it: a status sent before it arrived should not trigger a second copy at once.
    for (const m of this.voters) if (m.id !== this.self) this.newViewSentAt.set(m.id, { view: this.view, at: this.ctx.now() })
    this.enterView(this.view, plan.checkpoint, plan.entries, sigs, bytes)
  }

  /**
   * A NEW-VIEW is accepted from any replica, not only the new primary: it is
   * validated exactly the same (the primary's signature on it and on every
   * pre-prepare, every VIEW-CHANGE, the recomputed O set), so a relay cannot
   * forge one, and a primary that withholds it from some replicas cannot
   * keep them out of the view (§4.5.2; others re-send it, see sendNewViewTo).
   */
  private onNewView(from: NodeId, nv: NewView, bytes: Uint8Array): void {
    if ((nv.view < this.view && !this.unsafe.has('old-view')) || (nv.view === this.view && this.active)) return this.drop('old-view')
    const primary = this.primaryOf(nv.view)
    if (!this.verifyFrom(primary, statement('new-view', sha256(nv.body)), nv.sig)) return this.drop('bad-signature')
    if (from !== primary) this.drop('new-view-relayed')
    const senders = new Set<NodeId>()
    for (const vc of nv.viewChanges) {
      if (vc.view !== nv.view || senders.has(vc.replica) || !this.validViewChange(vc)) return this.drop('bad-new-view')
      senders.add(vc.replica)
    }
    if (senders.size < this.quorum) return this.drop('bad-new-view')
    // Every replica recomputes O from the view-changes and checks the primary's pre-prepares against it.
    const plan = planNewView(nv.viewChanges)
    if (plan.entries.length !== nv.prePrepareSigs.length) return this.drop('bad-new-view')
    for (let i = 0; i < plan.entries.length; i++) {
      const e = plan.entries[i]!
      if (!this.verifyFrom(primary, statement('pre-prepare', nv.view, e.seq, e.digest), nv.prePrepareSigs[i]!)) return this.drop('bad-new-view')
    }
    this.enterView(nv.view, plan.checkpoint, plan.entries, nv.prePrepareSigs, bytes)
  }

  private enterView(
    view: number,
    checkpoint: CheckpointCertificate,
    entries: readonly NewViewEntry[],
    sigs: readonly Signature[],
    newView: Uint8Array,
  ): void {
    this.view = view
    this.active = true
    this.lastNewView = newView
    this.persistView()
    if (this.viewChangeTimer !== undefined) this.ctx.clearTimer(this.viewChangeTimer)
    this.viewChangeTimer = undefined
    for (const [id, vc] of this.viewChanges) if (vc.view <= view) this.viewChanges.delete(id)
    if (checkpoint.seq > this.low) this.adoptStable(checkpoint)
    // Votes of older views no longer count; prepared certificates stay for later view changes.
    for (const slot of this.slots.values()) {
      slot.prepared = false
      slot.committed = false
      slot.certifiedDigest = undefined
      // The old pre-prepare goes, its body stays in `bodies` (the O set may name it, or a peer may fetch it).
      if (slot.prePrepare !== undefined && slot.prePrepare.view < view) slot.prePrepare = undefined
      for (const votes of [slot.prepares, slot.commits]) for (const [id, v] of votes) if (v.view < view) votes.delete(id)
    }
    this.primaryQueue.clear()
    this.assigned.clear()
    const primary = this.isPrimary()
    entries.forEach((entry, i) => {
      if (entry.seq <= this.low) return
      // The O set names batches by digest: use the body we hold, or fetch it (we may prepare and commit
      // meanwhile — the prepared certificate vouches for the batch — but execute only with the body).
      const slot = this.slot(entry.seq)
      const body = bytesEqual(entry.digest, EMPTY_BATCH) ? [] : slot.bodies.get(toHex(entry.digest))
      // Certified by the prepared certificate the O set chose it from.
      if (body !== undefined) for (const bundle of body) this.verifiedBundles.add(toHex(bundle.digest))
      this.acceptPrePrepare({ view, seq: entry.seq, digest: entry.digest, sig: sigs[i]! }, body)
      if (body === undefined) this.batchFetch.want(entry.seq, entry.digest)
      if (!primary) {
        const sig = this.signer.sign(statement('prepare', view, entry.seq, entry.digest))
        this.slot(entry.seq).prepares.set(this.self, { view, digest: entry.digest, sig, verified: true })
        this.broadcast(encodePhaseVote('p', view, entry.seq, entry.digest, sig))
      }
    })
    const maxS = entries.length > 0 ? entries[entries.length - 1]!.seq : checkpoint.seq
    this.nextSeq = Math.max(maxS, this.low, this.lastExecuted) + 1
    this.announceView()
    // Replay what arrived early for this view, then make sure known requests reach the new primary.
    const early = this.futureMessages.filter((m) => m.view === view)
    this.futureMessages = this.futureMessages.filter((m) => m.view > view)
    this.futureBySender.clear()
    for (const m of this.futureMessages) this.futureBySender.set(m.from, (this.futureBySender.get(m.from) ?? 0) + 1)
    for (const m of early) this.receive(m.from, m.bytes)
    for (const seq of [...this.slots.keys()]) this.advance(seq)
    if (this.outstanding !== undefined) this.routeBundle(this.outstanding.bundle)
    for (const bundle of this.pendingBundles.values()) {
      if (primary) this.enqueueForOrdering(bundle)
      else this.ctx.send(this.primaryOf(view), encodeRequest(bundle))
    }
    this.requestTimers.restart()
    this.proposeBatches()
  }

  private announceView(): void {
    const primary = this.primaryOf(this.view)
    this.ctx.observe({ type: 'role', role: primary === this.self ? 'primary' : 'backup', term: this.view })
    if (primary === this.self) this.ctx.observe({ type: 'leader', leader: this.self, term: this.view })
  }

  /**
   * A peer still in an older view gets the NEW-VIEW that installed ours —
   * again at most once per status interval (the first copy may have been
   * lost, or sent while the peer was cut off).
   */
  private sendNewViewTo(peer: NodeId): void {
    if (this.lastNewView === undefined || !this.active) return
    const sent = this.newViewSentAt.get(peer)
    const now = this.ctx.now()
    if (sent !== undefined && sent.view === this.view && now - sent.at < this.options.statusIntervalMs) return
    this.newViewSentAt.set(peer, { view: this.view, at: now })
    this.ctx.send(peer, this.lastNewView)
  }

  /**
   * We are changing view and a peer's status shows it is changing view too, to ours or a lower one, and
   * we hold no VIEW-CHANGE of its for our view: it most likely never got ours either (we were cut off
   * from each other when we sent them). Send ours now instead of waiting for the next re-broadcast,
   * whose back-off reaches 16 status ticks: after a 2 | 2 split of 4 replicas healed, each side held 2
   * of the 3 VIEW-CHANGEs it needed and waited up to 8 s for them (docs/adr/0021). At most once per
   * status interval per peer; the peer answers in kind from its own status handling.
   */
  private sendViewChangeTo(peer: NodeId): void {
    if (this.active || this.unsafe.has('view-change-on-status')) return
    const own = this.viewChanges.get(this.self)
    if (own === undefined || own.view !== this.view || this.viewChanges.get(peer)?.view === this.view) return
    const sent = this.viewChangeSentAt.get(peer)
    const now = this.ctx.now()
    if (sent !== undefined && sent.view === this.view && now - sent.at < this.options.statusIntervalMs) return
    this.viewChangeSentAt.set(peer, { view: this.view, at: now })
    this.ctx.send(peer, encodeSignedBody('vc', own.body, own.sig))
  }

  // ---------------------------------------------------------------- timers and status

  /** A request this replica knows about is waiting while it is still the latest one known from its proxy and has not executed. */
  private isWaiting(request: WaitingRequest): boolean {
    if (request.ts <= (this.lastTs.get(request.proxy) ?? 0)) return false
    if (request.proxy === this.self) return this.outstanding?.bundle.ts === request.ts
    return this.pendingBundles.get(request.proxy)?.ts === request.ts
  }

  private armStatusTimer(): void {
    if (this.stopped) return
    this.statusTimer = this.ctx.setTimer(this.options.statusIntervalMs, () => {
      this.statusTimer = undefined
      this.stalledAtTick = this.lastExecuted === this.executedAtTick
      this.executedAtTick = this.lastExecuted
      this.broadcast(encodeStatus(this.view, this.low, this.lastExecuted, this.active))
      this.retransmitViewChange()
      this.armStatusTimer()
    })
  }

  /**
   * After a restart in an active view: the prepares and commits this replica had received are gone, and so
   * are its peers' if they restarted too (a full restart), so a slot pre-prepared before the crash and not
   * yet committed would wait for a view change (the request timers; ≥ 1 s, then a view change per full
   * restart). Instead each replica takes up its own votes again — the one it sent is the one it may send:
   * the primary its pre-prepare (with the body), a backup its prepare when it holds the body and every
   * bundle still authenticates (as when the pre-prepare first arrived), and its commit when its stored
   * prepared certificate shows the slot prepared — and sends them at once, and again to any peer whose
   * status shows it has not executed them (`revoteTo`). Nothing new is signed: the statements are the ones
   * signed before the crash, for the same view, sequence number and digest (docs/adr/0032).
   */
  private restoreVotes(): void {
    if (this.unsafe.has('revote-after-restart')) return
    this.restoredView = this.view
    const primary = this.isPrimary()
    for (const [seq, slot] of [...this.slots].sort((a, b) => a[0] - b[0])) {
      const pp = slot.prePrepare
      if (seq <= this.lastExecuted || slot.committed || pp === undefined || pp.view !== this.view) continue
      const body = slot.bodies.get(toHex(pp.digest))
      if (!primary && body !== undefined && body.every((bundle) => this.checkBundle(bundle) === 'ok')) {
        const sig = this.signer.sign(statement('prepare', pp.view, seq, pp.digest))
        slot.prepares.set(this.self, { view: pp.view, digest: pp.digest, sig, verified: true })
      }
      const cert = slot.preparedCert
      if (cert !== undefined && cert.view === pp.view && bytesEqual(cert.digest, pp.digest)) {
        slot.prepared = true
        const sig = this.signer.sign(statement('commit', pp.view, seq, pp.digest))
        slot.commits.set(this.self, { view: pp.view, digest: pp.digest, sig, verified: true })
      }
      if (primary ? body !== undefined : slot.prepares.has(this.self) || slot.commits.has(this.self)) this.restored.add(seq)
    }
    for (const seq of this.restored) for (const bytes of this.ownVotes(seq)) this.broadcast(bytes)
  }

  /** Our votes for a restored slot, as sent: the primary's pre-prepare with its body, our prepare, our commit. */
  private ownVotes(seq: number): Uint8Array[] {
    const slot = this.slots.get(seq)
    const pp = slot?.prePrepare
    if (slot === undefined || pp === undefined || pp.view !== this.view) return []
    const out: Uint8Array[] = []
    const body = slot.bodies.get(toHex(pp.digest))
    if (this.isPrimary() && body !== undefined) out.push(encodePrePrepare(pp.view, seq, body, pp.sig))
    const prepare = slot.prepares.get(this.self)
    if (prepare !== undefined && prepare.view === pp.view) out.push(encodePhaseVote('p', pp.view, seq, pp.digest, prepare.sig))
    const commit = slot.commits.get(this.self)
    if (commit !== undefined && commit.view === pp.view) out.push(encodePhaseVote('c', pp.view, seq, pp.digest, commit.sig))
    return out
  }

  /**
   * A peer active in our view that has not executed some restored slot gets our votes for it again — once per
   * status interval and at most REVOTE_ROUNDS times: a Byzantine peer whose status never moves could otherwise
   * have the primary re-send batch bodies to it for as long as the slots stay in the window. A correct peer that
   * still lacks them after that falls back on the request timers and a view change, as before.
   */
  private revoteTo(peer: NodeId, executed: number): void {
    if (this.restored.size === 0) return
    if (!this.active || this.view !== this.restoredView) {
      this.restored.clear()
      return
    }
    for (const seq of this.restored) if (seq <= this.low) this.restored.delete(seq)
    const missing = [...this.restored].filter((seq) => seq > executed)
    const now = this.ctx.now()
    const sent = this.revoteSentAt.get(peer)
    if (missing.length === 0 || (sent !== undefined && (now - sent.at < this.options.statusIntervalMs || (sent.rounds >= REVOTE_ROUNDS && !unsafeTestSwitches.unboundedRevote)))) return
    this.revoteSentAt.set(peer, { at: now, rounds: (sent?.rounds ?? 0) + 1 })
    for (const seq of missing) for (const bytes of this.ownVotes(seq)) this.ctx.send(peer, bytes)
  }

  /** Status is unsigned: it only makes us re-send what the peer can verify (NEW-VIEW, checkpoint certificate) or ask it for proofs. */
  private onStatus(from: NodeId, { view, stable, executed, active }: Status): void {
    if (active && view === this.view) this.revoteTo(from, executed)
    if (view < this.view || (view === this.view && !active)) this.sendNewViewTo(from)
    if (!active && view <= this.view) this.sendViewChangeTo(from)
    if (stable < this.low && this.stableCert.seq === this.low) this.ctx.send(from, encodeCheckpointCertificateMessage(this.stableCert))
    this.peerExecuted.set(from, executed)
    if (executed > this.lastExecuted && stable <= this.lastExecuted) this.maybeCatchUp(from)
  }

  // ---------------------------------------------------------------- catch-up by commit certificates (docs/adr/0010)

  /**
   * Ask `peer`, which executed further, for commit certificates of what we
   * miss — when our execution stalled: we are in a view change (we take no
   * part in the view that is making progress), or nothing executed for a
   * whole status interval (we missed the messages of a sequence number). A
   * replica that merely trails by the pipeline does not ask.
   */
  private maybeCatchUp(peer: NodeId): void {
    const stalled = !this.active || (this.stalledAtTick && this.executedAtTick === this.lastExecuted)
    if (!stalled || this.ctx.now() < this.catchUpQuietUntil || this.stateReceiver.targetSeq !== undefined) return
    this.catchUpQuietUntil = this.ctx.now() + this.options.statusIntervalMs
    this.ctx.send(peer, encodeFetchCommitted(this.lastExecuted + 1))
  }

  /**
   * In a view change nobody joined while the others progress in a lower view
   * (we asked alone, docs/adr/0010): execute what that view commits, from
   * its pre-prepares and 2f+1 commits, without taking part in it.
   */
  private learnFromLowerView(from: NodeId, message: PrePrepare | PhaseVote): void {
    if (this.active || message.seq <= this.lastExecuted || !this.inWindow(message.seq) || this.learned.has(message.seq)) return
    if (message.k === 'p' || (message.k === 'pp' && from !== this.primaryOf(message.view))) return
    const cert = this.learner.observe(from, message.k === 'pp' ? message : { ...message, k: 'c' })
    if (cert === undefined) return
    this.learned.set(cert.seq, cert)
    this.execute()
  }

  private onFetchCommitted(from: NodeId, seq: number): void {
    if (seq <= this.low || seq > this.lastExecuted) return this.drop('committed-unavailable')
    const batches = commitCertificates(this.slots, seq, this.lastExecuted, this.quorum)
    if (batches.length === 0) return this.drop('committed-unavailable')
    this.ctx.send(from, encodeCommittedBatches(batches))
  }

  /** Commit certificates are checked (2f+1 valid commits for the batch's digest), kept in order from our next sequence number, and executed. */
  private onCommittedBatches(from: NodeId, batches: readonly CommitCertificate[]): void {
    const before = this.lastExecuted
    let expected = this.lastExecuted + 1
    for (const cert of batches) {
      if (cert.seq < expected) continue
      if (cert.seq !== expected || !this.inWindow(cert.seq)) break
      if (!this.learned.has(cert.seq)) {
        if (!validCommitCertificate(cert, this.quorum, (id, message, sig) => this.verifyFrom(id, message, sig))) return this.drop('bad-commit-certificate')
        this.learned.set(cert.seq, cert)
      }
      expected++
    }
    this.execute()
    this.catchUpQuietUntil = -1
    // An answer is bounded: ask the same peer for the rest at once.
    if (this.lastExecuted > before && this.lastExecuted < (this.peerExecuted.get(from) ?? 0)) {
      this.catchUpQuietUntil = this.ctx.now() + this.options.statusIntervalMs
      this.ctx.send(from, encodeFetchCommitted(this.lastExecuted + 1))
    }
  }

  // ---------------------------------------------------------------- helpers

  private primaryOf(view: number): NodeId {
    return this.voters[view % this.n]!.id
  }

  private isPrimary(): boolean {
    return this.primaryOf(this.view) === this.self
  }

  private inWindow(seq: number): boolean {
    return seq > this.low && seq <= this.low + this.options.logWindow
  }

  private slot(seq: number): Slot {
    let slot = this.slots.get(seq)
    if (slot === undefined) {
      slot = {
        seq,
        prePrepare: undefined,
        bodies: new Map(),
        prepares: new Map(),
        commits: new Map(),
        prepared: false,
        committed: false,
        preparedCert: undefined,
        certifiedDigest: undefined,
      }
      this.slots.set(seq, slot)
    }
    return slot
  }

  private broadcast(bytes: Uint8Array): void {
    for (const m of this.voters) if (m.id !== this.self) this.ctx.send(m.id, bytes)
  }

  /** Verify `id`'s signature on `message`, remembering good ones (view changes re-present the same prepares). */
  private verifyFrom(id: NodeId, message: Uint8Array, sig: Signature): boolean {
    const publicKey = this.keys.get(id)
    if (publicKey === undefined || sig.byteLength !== 64) return false
    const key = `${id}|${toHex(sig)}|${toHex(message)}`
    if (this.verified.has(key)) return true
    if (!this.verifier.verify(publicKey, message, sig)) return false
    if (this.verified.size >= MAX_VERIFIED_CACHE) this.verified.clear()
    this.verified.add(key)
    return true
  }

  /** Distinct voters (other than `exclude`) with a valid signature on `message`. */
  private countValid(votes: readonly Vote[], message: Uint8Array, exclude: NodeId | undefined): number {
    const good = new Set<NodeId>()
    for (const vote of votes) {
      if (vote.id === exclude || good.has(vote.id)) continue
      if (this.verifyFrom(vote.id, message, vote.sig)) good.add(vote.id)
    }
    return good.size
  }
}
