import type { LinkFaults } from '@synod/transport-memory'

/**
 * Which node a fault step targets. 'leader' and 'follower' are resolved when
 * the step runs (from the nodes' own status); `{ index }` is a position in
 * the member list; `{ ref }` is a node an earlier step named with `as`.
 */
export type NodeSelector = 'leader' | 'follower' | 'random' | { readonly index: number } | { readonly ref: string }

/** Partition shapes over the member list. */
export type PartitionShape =
  /** The target alone against the rest. */
  | { readonly kind: 'isolate'; readonly target: NodeSelector }
  /** ⌊(n−1)/2⌋ nodes against the rest; the leader is put on the side named by `leaderSide`. */
  | { readonly kind: 'minority'; readonly leaderSide: 'minority' | 'majority' }
  /** Groups of ⌊(n−1)/2⌋ (at least 1) nodes: no side has a quorum. */
  | { readonly kind: 'no-quorum' }
  /** Each node reaches only its two ring neighbours. */
  | { readonly kind: 'ring' }
  /** Two halves joined only through the middle node. */
  | { readonly kind: 'bridge' }
  /** One-way: `from` can no longer reach `to`. */
  | { readonly kind: 'one-way'; readonly from: NodeSelector; readonly to: NodeSelector }

/** One fault (or repair) at virtual time `at` ms from the start of the run. */
export type FaultStep =
  | { readonly at: number; readonly kind: 'crash'; readonly target: NodeSelector; readonly as?: string }
  | { readonly at: number; readonly kind: 'restart'; readonly target: NodeSelector }
  | { readonly at: number; readonly kind: 'crash-all' }
  | { readonly at: number; readonly kind: 'restart-all' }
  | { readonly at: number; readonly kind: 'partition'; readonly shape: PartitionShape; readonly as?: string }
  | { readonly at: number; readonly kind: 'heal' }
  | { readonly at: number; readonly kind: 'link-faults'; readonly faults: LinkFaults }
  | { readonly at: number; readonly kind: 'clear-link-faults' }
  | { readonly at: number; readonly kind: 'pause'; readonly target: NodeSelector; readonly as?: string }
  | { readonly at: number; readonly kind: 'resume'; readonly target: NodeSelector }
  | {
      readonly at: number
      readonly kind: 'clock-skew'
      readonly target: NodeSelector
      readonly rate?: number
      readonly jumpMs?: number
      readonly as?: string
    }
  /**
   * A membership change, asked of the current leader (retried at the hint on
   * NotLeaderError, later on ProposalDroppedError or an unknown outcome).
   * Changes run one after another in schedule order: a change whose time has
   * come waits for the previous one to finish. Only for protocols with the
   * 'reconfigure' capability (see `Scenario.requires`).
   */
  | { readonly at: number; readonly kind: 'reconfigure'; readonly change: ReconfigureSpec }

/** One single-server change of a `reconfigure` step; members are the cluster's own (ids and keys of the initial membership). */
export type MemberChangeSpec =
  /** Remove a member; `as` names it for later steps (`{ ref }`). 'follower' never picks a node already picked in the same joint change. */
  | { readonly type: 'remove'; readonly target: NodeSelector; readonly as?: string }
  | { readonly type: 'add-learner' | 'add-voter'; readonly target: NodeSelector; readonly as?: string }

/** A single-server change, or several at once by joint consensus. */
export type ReconfigureSpec = MemberChangeSpec | { readonly type: 'joint'; readonly changes: readonly MemberChangeSpec[] }

/** What a protocol must offer for a scenario to apply to it; a protocol declares its capabilities to the runner. */
export type Capability =
  /** `Replica.reconfigure` with single-server changes (add-learner, add-voter, remove) and joint changes. */
  'reconfigure'

/** Generic byzantine behaviours applied at the network level (they need no knowledge of the protocol). */
export type AdversaryBehaviour =
  /** Sends nothing at all. */
  | 'silent'
  /** Also re-sends old messages of its own to random peers. */
  | 'replay'
  /** Flips bytes in what it sends (forged signatures, wrong digests). */
  | 'corrupt'
  /** A second replica with the same key and NodeId runs next to it (Twins). */
  | 'twin'
  /**
   * The protocol package's own adversary (`adversary` option of runScenario).
   * A scenario with one never runs without it: runScenario throws
   * MissingAdversaryError, describeConformance and the runner report it as
   * skipped with the reason (never as a pass).
   */
  | 'protocol'

export interface AdversarySpec {
  /** Position in the member list. */
  readonly index: number
  readonly behaviour: AdversaryBehaviour
  /** For 'protocol': which of the protocol's attacks (its adversary's own names; undefined = its default). */
  readonly attack?: string
}

/** The client workload: concurrent clients on a few hot keys. */
export interface WorkloadOptions {
  /** Concurrent clients; each runs one operation at a time. */
  readonly clients: number
  readonly keys: number
  /** Mix: the rest are writes. */
  readonly readRatio: number
  readonly casRatio: number
  /** Pause between a client's operations, uniform in [min, max] ms. */
  readonly thinkMs: readonly [number, number]
  /** Give up on one operation after this; its outcome is then unknown ('info') unless every attempt was refused. */
  readonly opTimeoutMs: number
  /** One attempt at one node is abandoned after this and retried elsewhere. */
  readonly attemptTimeoutMs: number
  /** Cap on operations in the whole run (keeps runs fast and histories checkable). */
  readonly maxOps: number
  /** Share of reads sent to a random node instead of the believed leader (catches stale local reads). */
  readonly anyNodeReadRatio: number
}

export const DEFAULT_WORKLOAD: WorkloadOptions = {
  clients: 4,
  keys: 3,
  readRatio: 0.4,
  casRatio: 0.2,
  thinkMs: [5, 40],
  opTimeoutMs: 1500,
  attemptTimeoutMs: 400,
  maxOps: 300,
  anyNodeReadRatio: 0.25,
}

/** A scenario is data: the cluster, the faults over virtual time, the workload and the checks. */
export interface Scenario {
  readonly name: string
  readonly description: string
  /** 'any' scenarios apply to every protocol; the others only to protocols of that fault model. */
  readonly faultModel: 'crash' | 'byzantine' | 'any'
  /** Cluster size; default 3 for crash protocols and 4 for byzantine ones. Overridden by runScenario's `nodes`. */
  readonly nodes?: number
  readonly chaos: readonly FaultStep[]
  /** Length of the chaos phase; at its end every fault heals (network healed, crashed nodes restarted, paused nodes resumed). */
  readonly chaosMs: number
  /** Length of the healing phase; pending work must complete within it (liveness). */
  readonly healMs: number
  readonly workload?: Partial<WorkloadOptions>
  /** Checker names to run; default all. */
  readonly checks?: readonly string[]
  readonly adversaries?: readonly AdversarySpec[]
  /** Virtual ms per storage sync; default 1. */
  readonly syncLatencyMs?: number
  /**
   * Capabilities the protocol must declare for this scenario to run
   * (`describeConformance({ capabilities })`, the runner's registry);
   * without them the scenario is not applicable and is left out.
   */
  readonly requires?: readonly Capability[]
}

/** Whether the scenario names a 'protocol' adversary, which only the protocol package can supply. */
export function needsProtocolAdversary(scenario: Scenario): boolean {
  return (scenario.adversaries ?? []).some((a) => a.behaviour === 'protocol')
}

/**
 * Why a protocol cannot run this scenario, or undefined when it can: a
 * required capability it lacks, or a 'protocol' adversary and none given
 * (without it the run would be fault-free and its pass meaningless).
 */
export function scenarioSkipReason(scenario: Scenario, offer: { readonly capabilities?: readonly Capability[]; readonly hasAdversary: boolean }): string | undefined {
  const capabilities = offer.capabilities ?? []
  const missing = (scenario.requires ?? []).filter((c) => !capabilities.includes(c))
  if (missing.length > 0) return `not applicable: requires ${missing.join(', ')} (capabilities)`
  if (needsProtocolAdversary(scenario) && !offer.hasAdversary)
    return "needs the protocol's own adversary ('protocol' behaviour) and none was given: without it the run would be fault-free"
  return undefined
}

/** Whether a protocol with these capabilities can run the scenario. */
export function scenarioApplies(scenario: Scenario, capabilities: readonly Capability[] = []): boolean {
  return (scenario.requires ?? []).every((c) => capabilities.includes(c))
}

/** Symmetric partitions that come and go: alternating `shape` and heal every `periodMs` in [fromMs, toMs). */
export function flapping(shapes: readonly PartitionShape[], fromMs: number, toMs: number, periodMs: number): FaultStep[] {
  const steps: FaultStep[] = []
  let round = 0
  for (let at = fromMs; at + periodMs <= toMs; at += 2 * periodMs, round++) {
    steps.push({ at, kind: 'partition', shape: shapes[round % shapes.length]! })
    steps.push({ at: at + periodMs, kind: 'heal' })
  }
  return steps
}
