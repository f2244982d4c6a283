export { installNetworkAdversaries } from './adversary.js'
export {
  CHECKER_NAMES,
  checkAgreement,
  checkAll,
  checkDurability,
  checkLinearizability,
  checkLiveness,
  checkMonotonicCommit,
  checkOneLeaderPerTerm,
  checkStability,
  DEFAULT_LINEARIZABILITY_STEP_BUDGET,
  MAX_REPORTED_VIOLATIONS,
  overallVerdict,
} from './checkers/index.js'
export type { CheckAllOptions, CheckerName, LinearizabilityFailure, LinearizabilityOptions } from './checkers/index.js'
export { HistoryRecorder } from './history.js'
export { RequestWrapper, unwrappingStateMachine } from './clients.js'
export type { ClientOptions } from './clients.js'
export { Cluster } from './cluster.js'
export type { AdversaryContext, ClusterHost, ClusterOptions, ProtocolAdversary } from './cluster.js'
export { commandDigest } from './digest.js'
export { conformanceCrypto, conformanceVerifier, nodeKeys, useConformanceCrypto } from './keys.js'
export type { ConformanceCrypto, NodeKey } from './keys.js'
export { kvWorkloadCodec } from './kv-codec.js'
export type { KvSession, KvWorkloadCodec } from './kv-codec.js'
export { Nemesis } from './nemesis.js'
export { executeScenario, MissingAdversaryError, scenarioNodes } from './execute-scenario.js'
export type { RunScenarioOptions, ScenarioExecution } from './execute-scenario.js'
export { reproduceCommand, runScenario } from './run-scenario.js'
export type { ScenarioResult } from './run-scenario.js'
export { describeFailures, describeShrink } from './describe-failures.js'
export { faultUnits, isEmptyReduction, reduceScenario, reductionFlags, scenarioMaxOps } from './reduce.js'
export type { ScenarioReduction } from './reduce.js'
export { DEFAULT_SHRINK_RUNS, shrinkFailure, summarizeShrink } from './shrink.js'
export type { RunSize, ShrinkOptions, ShrinkResult, ShrinkSummary } from './shrink.js'
export { firstViolation, formatTrace, violationTime } from './trace.js'
export type { LocatedViolation, TraceOptions } from './trace.js'
export { DEFAULT_WORKLOAD, flapping, needsProtocolAdversary, scenarioApplies, scenarioSkipReason } from './scenario.js'
export type {
  AdversaryBehaviour,
  AdversarySpec,
  Capability,
  FaultStep,
  MemberChangeSpec,
  ReconfigureSpec,
  NodeSelector,
  PartitionShape,
  Scenario,
  WorkloadOptions,
} from './scenario.js'
export { byzantineScenarios, crashScenarios, membershipScenarios, scenarioByName, scenarios, scenariosFor } from './scenarios/index.js'
export {
  acksBeforePersistingToy,
  commitsWithoutQuorumToy,
  CORRECT_TOY,
  divergentCommitToy,
  fixedLeaderToy,
  forgetsOnRestartToy,
  staleReadsToy,
  toyProtocol,
} from './toys/index.js'
export type { ToyFlaws } from './toys/index.js'
export type {
  CheckResult,
  CommitRecord,
  LeaderRecord,
  Operation,
  OperationKind,
  RunRecord,
  TimelineEvent,
  Violation,
} from './types.js'
export { KvWorkload } from './workload.js'
