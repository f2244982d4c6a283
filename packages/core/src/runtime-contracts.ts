import type { NodeId } from './membership.js'
import type { SnapshotSink } from './storage.js'

export type TimerId = number

/** Time and timers. Virtual in the simulator, the wall clock in the daemon. */
export interface Clock {
  /** Milliseconds; monotonic. */
  now(): number
  setTimer(afterMs: number, onFire: () => void): TimerId
  clearTimer(id: TimerId): void
}

/** A source of uniform numbers in [0, 1). Seeded in the simulator. */
export interface Random {
  next(): number
}

export type MessageHandler = (from: NodeId, message: Uint8Array) => void

/**
 * Moves opaque bytes between members. `from` on delivery is the sender's
 * authenticated identity (the transport vouches for it), never a field the
 * sender chose. Delivery is best-effort: messages may be lost, and protocols
 * must cope.
 */
/** How to send one message. */
export interface SendOptions {
  /**
   * A liveness message (see ProtocolFactory.isUrgent): a transport that can
   * should send it ahead of queued bulk messages and never drop it to make
   * room for them. Transports may ignore it.
   */
  readonly urgent?: boolean
}

export interface Transport {
  readonly self: NodeId
  send(to: NodeId, message: Uint8Array, options?: SendOptions): void
  /** Register the single receiver of incoming messages. */
  onMessage(handler: MessageHandler): void
  start(): Promise<void>
  stop(): Promise<void>
}

/**
 * The replicated application. `apply` must be deterministic: the same
 * commands in the same order give the same state and results everywhere.
 */
export interface StateMachine {
  apply(command: Uint8Array, index: number): Uint8Array
  /** Answer a read-only request from the current state. */
  query(request: Uint8Array): Uint8Array
  snapshot(): Uint8Array
  /**
   * Optional: the same snapshot taken a slice at a time, so a large state does not block the
   * event loop for one long turn (ADR 0025). The job captures the state as of this call; commands
   * applied while it runs are not in it. Its result must be byte for byte what `snapshot()` returns
   * at this call. A state machine without it keeps the one-shot `snapshot()`. With `into`, the job may
   * write the bytes into it as it produces them (ADR 0027): `step()` then returns only what it did not
   * write (empty when it wrote everything), so a job that ignores `into` stays correct.
   */
  beginSnapshot?(options?: { readonly into?: SnapshotSink }): SnapshotJob
  /**
   * Optional: `restore` in slices (ADR 0025). `step()` does a bounded piece and returns true once the
   * state is replaced (all at once, in that step); until then the state is the old one, and a corrupt
   * snapshot throws from a step, leaving it so. The runtime applies no command while it runs.
   */
  beginRestore?(snapshot: Uint8Array): RestoreJob
  /**
   * Replace the state with a snapshot's. `snapshot` is read-only: it may be the stored
   * snapshot's own bytes (at start, and after a protocol handed a received snapshot to storage).
   */
  restore(snapshot: Uint8Array): void
}

/**
 * A snapshot being taken in slices (`StateMachine.beginSnapshot`). The runtime calls `step()` between
 * batches of inputs until it returns the snapshot; `apply` may run between steps (the job keeps the
 * state it started from), `restore` may not (the runtime aborts the job first). Only one job at a time:
 * beginning another aborts the previous one.
 */
export interface SnapshotJob {
  /**
   * Do a bounded piece of the work: the snapshot's bytes once complete, else undefined. A job begun
   * with `into` returns, once complete, the bytes it did not write into it (they follow those it did).
   */
  step(): Uint8Array | undefined
  /** Give the job up and drop what it kept (a later `step` is not called). */
  abort(): void
}

/** A snapshot being restored in slices (`StateMachine.beginRestore`). */
export interface RestoreJob {
  /** Do a bounded piece of the work; true once the state is replaced. */
  step(): boolean
  /** Give it up; the state stays the old one. */
  abort(): void
}

/** Signs canonical bytes with the node's key. */
export interface Signer {
  readonly publicKey: Uint8Array
  sign(message: Uint8Array): Uint8Array
  /**
   * Optional: the 32-byte symmetric key this node shares with the member
   * whose public key is `peerPublicKey` (both sides derive the same key; no
   * third member can). For MAC authenticators (PBFT's `requestAuthentication:
   * 'mac'`). Throws ConfigError for a key it cannot use.
   */
  sharedKey?(peerPublicKey: Uint8Array): Uint8Array
}

/** Verifies signatures of members' keys. Implementations may cache. */
export interface Verifier {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}
