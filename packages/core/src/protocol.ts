import type { SynodError } from './errors.js'
import type { Membership, MembershipChange, NodeId } from './membership.js'
import type { Random, Signer, TimerId, Verifier } from './runtime-contracts.js'
import type { Snapshot, SnapshotSink, Storage } from './storage.js'

/**
 * The contract version. A protocol factory declares the version it was built
 * against; the Replica refuses a factory with a version it does not speak.
 */
export const CONTRACT_VERSION = 'synod-protocol/v1' as const
export type ContractVersion = typeof CONTRACT_VERSION

export type FaultModel = 'crash' | 'byzantine'

/** Opaque handle for a waiting client request. The protocol hands it back in `commit`, `serveRead` or `reject`. */
export interface ClientRef {
  readonly id: number
}

/** An entry the protocol has decided. Committed entries are passed in strictly increasing index order. */
export interface Committed {
  readonly index: number
  readonly command: Uint8Array
  /** The local client that proposed it, when this node received the proposal. */
  readonly client?: ClientRef
  /** Protocol-specific proof for the client (e.g. a reply signature); passed through to the answer. */
  readonly proof?: Uint8Array
}

/** Observable protocol facts, for checkers (one leader per term) and metrics. */
export type ProtocolEvent =
  | { readonly type: 'role'; readonly role: string; readonly term: number }
  | { readonly type: 'leader'; readonly leader: NodeId; readonly term: number }
  | { readonly type: 'membership'; readonly membership: Membership; readonly index: number }
  | { readonly type: 'snapshot'; readonly index: number }
  | { readonly type: 'custom'; readonly name: string; readonly detail: Record<string, unknown> }

export interface NodeStatus {
  readonly id: NodeId
  /** e.g. 'leader', 'follower', 'candidate', 'primary', 'backup'. */
  readonly role: string
  /** Term, ballot or view. */
  readonly term: number
  readonly leader: NodeId | undefined
  readonly commitIndex: number
  readonly lastIndex: number
  readonly membership: Membership
  readonly detail?: Record<string, unknown>
}

/** How a protocol sends one message (`ProtocolContext.send`). */
export interface ProtocolSendOptions {
  /**
   * The message promises nothing about this node's durable state, so it may
   * leave before the storage sync of the batch that sent it: the Raft
   * leader's AppendEntries, whose entries the leader writes to its own disk
   * in parallel (Raft dissertation §10.2.1). Such messages leave right after
   * `flush()`, ahead of the sync; the protocol learns when the batch's writes
   * are durable from `ProtocolNode.persisted`. Never set it on a message that
   * acknowledges, votes or otherwise vouches for something this node wrote
   * in the same batch. Default false: the message leaves after the sync.
   */
  readonly beforeSync?: boolean
}

/**
 * Everything a protocol may touch. Effects are buffered by the runtime:
 * messages marked `beforeSync` leave first, then storage writes are made
 * durable with one sync per batch, then the other `send`s leave, then
 * commits are answered.
 */
export interface ProtocolContext {
  readonly self: NodeId
  /** The initial membership; protocols that change membership track the current one themselves. */
  readonly membership: Membership
  readonly storage: Storage
  readonly signer: Signer | undefined
  readonly verifier: Verifier | undefined
  /** Seeded in the simulator. */
  readonly random: Random

  send(to: NodeId, message: Uint8Array, options?: ProtocolSendOptions): void
  setTimer(afterMs: number, onFire: () => void): TimerId
  clearTimer(id: TimerId): void
  now(): number

  /**
   * Apply a decided command to the state machine (in index order) and answer its client if local.
   * Returns the state machine's result, or undefined when the entry was skipped (already applied) or apply failed.
   */
  commit(entry: Committed): Uint8Array | undefined
  /**
   * Answer a waiting client whose command was committed earlier without `client`, for protocols that
   * answer only once they hold a proof (PBFT waits for f+1 signed replies). Ignored when the client is gone.
   */
  respond(client: ClientRef, answer: { readonly index: number; readonly result: Uint8Array; readonly proof?: Uint8Array }): void
  /** The read `client` asked for may now be served from the local state (e.g. ReadIndex is applied). */
  serveRead(client: ClientRef): void
  /** Fail a waiting request (NotLeaderError, ProposalDroppedError, ...). */
  reject(client: ClientRef, error: SynodError): void
  /**
   * Optional: answer a read from the current applied state (the state machine's `query`), for
   * protocols that answer reads at several replicas (PBFT's read-only requests). May throw what the
   * state machine's `query` throws.
   */
  query?(request: Uint8Array): Uint8Array
  /** The state machine's snapshot as of the last committed index. */
  takeSnapshot(): { index: number; data: Uint8Array }
  /**
   * Optional: the same snapshot (as of the last committed index now) without blocking the event loop
   * for one long turn (ADR 0025). With a state machine that has `beginSnapshot`, the runtime takes it a
   * slice at a time between batches while commits go on, and calls `onTaken` later as an input of its
   * own (like a timer); otherwise `onTaken` runs at once, inside this call, with `takeSnapshot()`'s
   * result. `onTaken(undefined)`: the snapshot was abandoned — `installSnapshot` replaced the state,
   * the state machine failed, or a later call started another. Not called once the node stops. The
   * protocol must check, when it gets the snapshot, that storage has not moved past `index` since.
   * With `into` (a `Storage.beginSnapshot` writer, ADR 0027) every byte of the snapshot is written
   * into it, in order, as it is produced, and `taken.data` is empty: the snapshot never exists as one
   * buffer. The protocol commits or aborts the writer itself.
   */
  beginSnapshot?(
    onTaken: (taken: { index: number; data: Uint8Array } | undefined) => void,
    options?: { readonly into?: SnapshotSink },
  ): void
  /**
   * Replace the state machine's state with a snapshot received from a peer. With `inSlices` and a
   * state machine that has `beginRestore`, the runtime restores it a slice at a time between batches
   * (ADR 0025); until it is done it holds the protocol's `commit`s (applied in order afterwards,
   * answers included; `commit` returns undefined meanwhile) and `serveRead`s, and begins a
   * `beginSnapshot` asked for meanwhile at the point of that call. Only for protocols that do not use
   * `commit`'s return value. A step that fails (a corrupt snapshot) fails the replica.
   */
  installSnapshot(snapshot: Snapshot, options?: { readonly inSlices?: boolean }): void
  observe(event: ProtocolEvent): void
}

export interface ProtocolNode {
  /** Called once; read persisted state from `ctx.storage` here. */
  start(): void
  /** A message from an authenticated member. Throw InvalidMessageError for malformed input. */
  receive(from: NodeId, message: Uint8Array): void
  propose(command: Uint8Array, client: ClientRef): void
  /** Linearizable read. Protocols without a read path leave it out; the Replica then orders reads as commands. */
  read?(request: Uint8Array, client: ClientRef): void
  /**
   * Optional: change the membership at run time. The protocol answers
   * `client` with `ctx.respond(client, { index, result: empty })` once the
   * change is committed (it takes effect with a 'membership' event), or
   * rejects it (NotLeaderError, ProposalDroppedError while another change is
   * pending, ConfigError for a change that makes no sense). Protocols
   * without it make the Replica answer UnsupportedError.
   */
  reconfigure?(change: MembershipChange, client: ClientRef): void
  /**
   * Optional: hand leadership to `target` (or, when undefined, to the voter
   * the protocol finds most up to date). Answer `client` with
   * `ctx.respond(client, { index: 0, result: empty })` once another node
   * leads, or reject it (NotLeaderError on a non-leader, TimeoutError when
   * the transfer was given up, ConfigError for a target that cannot lead).
   */
  transferLeadership?(target: NodeId | undefined, client: ClientRef): void
  status(): NodeStatus
  stop(): void
  /**
   * Optional: called once after each batch of inputs, before the batch's
   * storage sync. A protocol that coalesces work per batch (e.g. one
   * AppendEntries per follower carrying every proposal of the batch)
   * buffers it during the batch and emits it here.
   */
  flush?(): void
  /**
   * Optional: called after each storage sync, once every write the protocol
   * made up to and including its last `flush()` is durable (writes made
   * inside `persisted` itself are covered by the next sync). A protocol that
   * sends `beforeSync` messages uses it to count its own durable copy, e.g.
   * the Raft leader's own match index. What it does here (commits, sends,
   * answers) belongs to the runtime's next batch: it leaves after that
   * batch's sync, like the effects of any input.
   */
  persisted?(): void
}

export interface ProtocolFactory<Options = unknown> {
  readonly contract: ContractVersion
  /** Short lowercase name, e.g. 'raft'; used for wire protocol ids and the CLI. */
  readonly name: string
  readonly faultModel: FaultModel
  /** Faults tolerated by n voters: crash (n-1)/2, byzantine (n-1)/3. */
  maxFaulty(n: number): number
  create(ctx: ProtocolContext, options?: Partial<Options>): ProtocolNode
  /**
   * Optional: true for a message that keeps the cluster live and carries no
   * client data (heartbeats, votes, acknowledgements). The runtime handles
   * and sends such messages ahead of bulk messages and client requests, so a
   * busy leader is not deposed by its own traffic. Must be cheap (a look at
   * the header), must not throw, and may only be a hint: the protocol must
   * tolerate the reordering it causes (as it tolerates a reordering network).
   */
  isUrgent?(message: Uint8Array): boolean
}
