// The data the harness records and the checkers judge. This file is the
// contract between the simulator harness (scenarios, workload, recorder) and
// the checkers; both sides import these types from here.
import type { NodeId } from '@synod/core'

/** Client-visible KV operations recorded by the workload. */
export type OperationKind = 'read' | 'write' | 'cas'

/**
 * One client operation, Jepsen style. `outcome` is 'ok' (it happened, with
 * `output`), 'fail' (it certainly did not take effect) or 'info' (unknown:
 * timed out or the node crashed — it may or may not have taken effect, so it
 * stays open until the end of history).
 */
export interface Operation {
  readonly id: number
  /** The client (Jepsen "process"); a client runs one operation at a time. */
  readonly client: number
  readonly key: string
  readonly kind: OperationKind
  /** write: the value; cas: `expected` (null = key absent) and `value` (the new value). */
  readonly input: { readonly value?: string; readonly expected?: string | null }
  /** Virtual time (ms) of the invocation and of the completion (undefined while open / for 'info'). */
  readonly invokedAt: number
  readonly completedAt: number | undefined
  readonly outcome: 'ok' | 'fail' | 'info'
  /** read: the value seen (null = absent); cas: whether it applied. */
  readonly output?: { readonly value?: string | null; readonly applied?: boolean }
}

/** One commit reported by a node through ProtocolContext.commit. */
export interface CommitRecord {
  readonly node: NodeId
  /** Restart count of the node: 0 for the first run, 1 after the first restart, ... */
  readonly incarnation: number
  readonly index: number
  /** Hex of sha256 (or any collision-resistant digest) of the committed command bytes. */
  readonly digest: string
  readonly at: number
}

/** A node announcing itself leader of a term (ProtocolEvent 'leader' with leader === node). */
export interface LeaderRecord {
  readonly node: NodeId
  readonly term: number
  readonly at: number
}

/**
 * Timeline entries for reports: faults applied, crashes, restarts, heals,
 * role changes; 'membership' for the nemesis' reconfigure requests and their
 * outcomes (no node) and each node's new configuration (with the node:
 * `epoch E voters a,b,c learners d` and `outgoing x,y` while joint).
 */
export interface TimelineEvent {
  readonly at: number
  readonly node?: NodeId
  readonly kind: 'fault' | 'heal' | 'crash' | 'restart' | 'role' | 'leader' | 'note' | 'membership'
  readonly detail: string
}

export interface Violation {
  /** Which checker: 'agreement', 'stability', 'monotonic-commit', 'one-leader-per-term', 'durability', 'linearizability', 'liveness', ... */
  readonly checker: string
  readonly message: string
  readonly detail?: unknown
}

/** What every checker returns. 'unknown' means the search budget ran out (never silently 'ok'). */
export interface CheckResult {
  readonly checker: string
  readonly verdict: 'ok' | 'violation' | 'unknown'
  readonly violations: readonly Violation[]
  readonly note?: string
}

/** Everything recorded in one run, the input to the checkers. */
export interface RunRecord {
  readonly nodes: readonly NodeId[]
  /** Nodes that behaved correctly (not byzantine) for the whole run. */
  readonly correctNodes: readonly NodeId[]
  readonly history: readonly Operation[]
  readonly commits: readonly CommitRecord[]
  readonly leaders: readonly LeaderRecord[]
  readonly timeline: readonly TimelineEvent[]
  /** Virtual time when faults healed and the liveness phase began. */
  readonly healedAt: number
  /** Virtual time the run ended. */
  readonly endedAt: number
  /**
   * Digests (same digest as CommitRecord) of the commands of acknowledged
   * writes and applied cas operations, by operation id: the durability
   * checker demands each one in every correct node's final committed log.
   */
  readonly acknowledgedCommands: ReadonlyMap<number, string>
  /** Operations that must complete after healing (liveness): invoked after healedAt. */
  readonly livenessBudgetMs: number
}
