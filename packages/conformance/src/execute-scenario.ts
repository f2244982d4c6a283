import type { ProtocolFactory } from '@synod/core'
import { installNetworkAdversaries } from './adversary.js'
import { RequestWrapper, unwrappingStateMachine, type ClientOptions } from './clients.js'
import { Cluster, type ProtocolAdversary } from './cluster.js'
import { kvWorkloadCodec, type KvWorkloadCodec } from './kv-codec.js'
import { Nemesis } from './nemesis.js'
import { reduceScenario, type ScenarioReduction } from './reduce.js'
import { DEFAULT_WORKLOAD, needsProtocolAdversary, type Scenario } from './scenario.js'
import type { RunRecord } from './types.js'
import { KvWorkload } from './workload.js'

export interface RunScenarioOptions<Options = unknown> {
  readonly factory: ProtocolFactory<Options>
  readonly protocolOptions?: Partial<Options>
  readonly scenario: Scenario
  readonly seed: number
  /** Cluster size; default the scenario's, else 3 (crash) or 4 (byzantine). */
  readonly nodes?: number
  /** The protocol's own attacks, for scenarios with a 'protocol' adversary. */
  readonly adversary?: ProtocolAdversary<Options>
  /** The KV codec; default @synod/kv. */
  readonly kv?: KvWorkloadCodec
  /** Run a smaller version of the scenario (what the shrinker found; `--faults/--max-ops/--chaos-ms`). */
  readonly reduction?: ScenarioReduction
  /** Signed client requests and answer verification, for protocols whose answers carry proofs. */
  readonly clients?: ClientOptions
}

/**
 * Thrown by executeScenario/runScenario for a scenario with a 'protocol'
 * adversary when no `adversary` is given: such a run would be fault-free,
 * so it is refused rather than passed (callers report it as skipped).
 */
export class MissingAdversaryError extends Error {
  override readonly name = 'MissingAdversaryError'
  constructor(
    readonly scenario: string,
    readonly protocol: string,
  ) {
    super(`scenario '${scenario}' needs ${protocol}'s own adversary ('protocol' behaviour) and none was given`)
  }
}

export interface ScenarioExecution {
  readonly nodes: number
  readonly record: RunRecord
  readonly traceHash: string
  /** Unexpected errors the replicas reported (protocol bugs), by address. */
  readonly errors: ReadonlyArray<{ readonly address: string; readonly error: unknown }>
}

/** The cluster size a scenario runs with for this protocol. */
export function scenarioNodes(factory: ProtocolFactory<unknown>, scenario: Scenario, nodes?: number): number {
  if (nodes !== undefined) return nodes
  if (scenario.nodes !== undefined) {
    // Crash-fault sizes (2f+1) become 3f+1 for byzantine protocols with the same f.
    if (factory.faultModel === 'byzantine' && scenario.faultModel !== 'byzantine') return 3 * Math.floor((scenario.nodes - 1) / 2) + 1
    return scenario.nodes
  }
  return factory.faultModel === 'byzantine' ? 4 : 3
}

/**
 * Run one scenario on the simulator and record it, without judging: start
 * the cluster, run the workload through the chaos phase, heal everything,
 * give the cluster `healMs` to finish its operations and final reads.
 */
export async function executeScenario<Options>(options: RunScenarioOptions<Options>): Promise<ScenarioExecution> {
  const { factory, seed } = options
  const scenario = reduceScenario(options.scenario, options.reduction)
  if (scenario.faultModel !== 'any' && scenario.faultModel !== factory.faultModel)
    throw new RangeError(`scenario '${scenario.name}' is for ${scenario.faultModel} protocols; ${factory.name} is ${factory.faultModel}`)
  const nodes = scenarioNodes(factory as ProtocolFactory<unknown>, scenario, options.nodes)
  const workloadOptions = { ...DEFAULT_WORKLOAD, ...scenario.workload }
  const codec = options.kv ?? kvWorkloadCodec()
  const signed = options.clients?.signedRequests
  const kv: KvWorkloadCodec = signed === undefined ? codec : { ...codec, createStateMachine: () => unwrappingStateMachine(codec.createStateMachine()) }
  // Never run a 'protocol' adversary's scenario without it: that would be a fault-free run reported as a pass.
  if (needsProtocolAdversary(scenario) && options.adversary === undefined) throw new MissingAdversaryError(scenario.name, factory.name)
  const adversaries = scenario.adversaries ?? []
  const cluster = new Cluster<Options>({
    factory,
    ...(options.protocolOptions === undefined ? {} : { protocolOptions: options.protocolOptions }),
    nodes,
    seed,
    kv,
    syncLatencyMs: scenario.syncLatencyMs ?? 1,
    requestTimeoutMs: workloadOptions.attemptTimeoutMs,
    adversaries,
    ...(options.adversary === undefined ? {} : { adversary: options.adversary }),
  })
  installNetworkAdversaries(cluster, adversaries)
  const sim = cluster.simulation
  const nemesis = new Nemesis(cluster)
  const workload = new KvWorkload(cluster, kv, workloadOptions, {
    ...(signed === undefined ? {} : { wrap: new RequestWrapper(seed, signed.cluster) }),
    ...(options.clients?.verifyAnswer === undefined ? {} : { verifyAnswer: options.clients.verifyAnswer }),
  })

  await cluster.start()
  nemesis.reconfigureDeadline = scenario.chaosMs + scenario.healMs
  nemesis.schedule(scenario.chaos)
  const healedAt = scenario.chaosMs
  workload.start(healedAt, healedAt + scenario.healMs / 2)
  workload.finishBy(healedAt + scenario.healMs)
  await sim.runFor(scenario.chaosMs)
  nemesis.healAll()
  const endBy = healedAt + scenario.healMs
  await sim.runUntil(() => workload.finished && nemesis.idle, endBy - sim.now())
  // The durability checker reads every correct node's final log: let laggards catch up within the budget.
  await sim.runUntil(() => nemesis.idle && cluster.converged(), Math.max(0, endBy - sim.now()))

  const correct = new Set(cluster.correctAddresses)
  const record: RunRecord = {
    nodes: cluster.addresses,
    correctNodes: [...correct],
    history: workload.history,
    commits: cluster.commits,
    leaders: cluster.leaders.filter((l) => correct.has(l.node)),
    timeline: cluster.timeline,
    healedAt,
    endedAt: sim.now(),
    acknowledgedCommands: workload.acknowledged,
    livenessBudgetMs: scenario.healMs,
  }
  return { nodes, record, traceHash: sim.traceHash(), errors: cluster.errors }
}
