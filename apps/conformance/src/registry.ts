import type { Capability, ClientOptions, ProtocolAdversary, Scenario } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'

/** Loads one protocol's factory on demand, so a broken or unfinished package only fails the runs that ask for it. */
export type ProtocolLoader = () => Promise<ProtocolFactory<unknown>>

/** Protocol name (as given to --protocol, equal to the factory's `name`) → its loader. */
export type ProtocolRegistry = ReadonlyMap<string, ProtocolLoader>

/** Thrown when a registered protocol's package does not (yet) export a usable factory. */
export class ProtocolUnavailableError extends Error {
  override readonly name = 'ProtocolUnavailableError'
  constructor(
    readonly protocol: string,
    reason: string,
  ) {
    super(`protocol '${protocol}' is registered but unavailable: ${reason}`)
  }
}

function isProtocolFactory(value: unknown): value is ProtocolFactory<unknown> {
  if (typeof value !== 'object' || value === null) return false
  const candidate = value as Partial<ProtocolFactory<unknown>>
  return (
    typeof candidate.name === 'string' &&
    (candidate.faultModel === 'crash' || candidate.faultModel === 'byzantine') &&
    typeof candidate.create === 'function' &&
    typeof candidate.maxFaulty === 'function'
  )
}

/**
 * Import a protocol package and take the first of `exportNames` that is a
 * ProtocolFactory; a clear error names the package and the exports looked for.
 * The specifier is a variable on purpose: the runner then type-checks and
 * builds without any protocol package's types, and an unbuilt or unfinished
 * package fails only the runs that ask for it, with this message.
 */
export async function loadFactory(
  protocol: string,
  packageName: string,
  exportNames: readonly string[],
  importPackage: () => Promise<unknown> = () => import(packageName),
): Promise<ProtocolFactory<unknown>> {
  let module: Record<string, unknown>
  try {
    module = (await importPackage()) as Record<string, unknown>
  } catch (error) {
    throw new ProtocolUnavailableError(protocol, `cannot import ${packageName} (${(error as Error).message}); is it built?`)
  }
  for (const exportName of exportNames) {
    const candidate = module[exportName]
    if (isProtocolFactory(candidate)) {
      if (candidate.name !== protocol)
        throw new ProtocolUnavailableError(protocol, `${packageName} exports '${exportName}' named '${candidate.name}'; register it under that name`)
      return candidate
    }
  }
  throw new ProtocolUnavailableError(protocol, `${packageName} does not export a ProtocolFactory as ${exportNames.map((n) => `'${n}'`).join(' or ')} yet`)
}

/**
 * A protocol run with fixed options under a name of its own, so that the
 * summary, the reports and the reproduce commands say which mode failed
 * (e.g. 'raft-lease': Raft with lease reads). The options win over the
 * scenario's protocolOptions.
 */
export async function loadVariant(name: string, base: ProtocolLoader, options: Record<string, unknown>): Promise<ProtocolFactory<unknown>> {
  const factory = await base()
  return {
    ...factory,
    name,
    create: (ctx, given) => factory.create(ctx, { ...(given as Record<string, unknown> | undefined), ...options }),
  }
}

const loadRaft: ProtocolLoader = () => loadFactory('raft', '@synod/raft', ['raft', 'raftFactory'])
const loadPaxos: ProtocolLoader = () => loadFactory('paxos', '@synod/paxos', ['paxos'])

async function toy(exportName: string): Promise<ProtocolFactory<unknown>> {
  const conformance = (await import('@synod/conformance')) as unknown as Record<string, unknown>
  const factory = conformance[exportName]
  if (!isProtocolFactory(factory)) throw new ProtocolUnavailableError(exportName, `@synod/conformance does not export '${exportName}'`)
  return factory
}

/**
 * Every protocol the runner knows. Adding a protocol is one line here (and a
 * dependency in package.json). The toys from @synod/conformance are
 * registered too: the correct one as a baseline, the broken ones to watch
 * the checkers catch them.
 */
export const protocolRegistry: ProtocolRegistry = new Map<string, ProtocolLoader>([
  ['raft', loadRaft],
  // Raft's option matrix: lease reads (dissertation §6.4.1) instead of ReadIndex.
  ['raft-lease', () => loadVariant('raft-lease', loadRaft, { readMode: 'lease' })],
  ['pbft', () => loadFactory('pbft', '@synod/pbft', ['pbft', 'pbftFactory'])],
  ['hotstuff', () => loadFactory('hotstuff', '@synod/hotstuff', ['hotstuff'])],
  ['paxos', loadPaxos],
  // Paxos with leader leases: local reads at the leader under the clock-drift bound.
  ['paxos-lease', () => loadVariant('paxos-lease', loadPaxos, { readMode: 'lease' })],
  ['toy-fixed-leader', () => toy('fixedLeaderToy')],
  ['toy-commits-without-quorum', () => toy('commitsWithoutQuorumToy')],
  ['toy-acks-before-persisting', () => toy('acksBeforePersistingToy')],
  ['toy-forgets-on-restart', () => toy('forgetsOnRestartToy')],
  ['toy-divergent-commit', () => toy('divergentCommitToy')],
  ['toy-stale-reads', () => toy('staleReadsToy')],
])

/**
 * What each protocol offers beyond the basics, by name: scenarios that
 * require a capability (`Scenario.requires`, e.g. 'reconfigure' for
 * membership-churn) run only for the protocols listed with it here.
 */
export const protocolCapabilities: ReadonlyMap<string, readonly Capability[]> = new Map<string, readonly Capability[]>([
  ['raft', ['reconfigure']],
  ['raft-lease', ['reconfigure']],
  ['paxos', ['reconfigure']],
  ['paxos-lease', ['reconfigure']],
])

/** What --protocol defaults to: the real protocols (and raft's and paxos's lease-read modes), not the toys. */
export const DEFAULT_PROTOCOLS: readonly string[] = ['raft', 'raft-lease', 'pbft', 'hotstuff', 'paxos', 'paxos-lease']

/** A protocol package's own attacks and the scenarios that run them (e.g. `@synod/pbft/adversaries`). */
export interface ProtocolExtras {
  readonly adversary?: ProtocolAdversary<unknown>
  readonly scenarios?: readonly Scenario[]
  /** Protocol options for every run of this protocol (e.g. client authentication to match `clients`). */
  readonly protocolOptions?: Record<string, unknown>
  /** How the workload's clients sign requests and verify answers. */
  readonly clients?: ClientOptions
}

export type ProtocolExtrasLoader = () => Promise<ProtocolExtras>

/**
 * Import a protocol's adversary module: `names.adversary` must be a
 * function (a ProtocolAdversary), `names.scenarios` an array of scenarios,
 * `names.protocolOptions` and `names.clients` objects (each optional but the first).
 */
export async function loadExtras(
  protocol: string,
  moduleName: string,
  names: { readonly adversary: string; readonly scenarios?: string; readonly protocolOptions?: string; readonly clients?: string },
  importModule: () => Promise<unknown> = () => import(moduleName),
): Promise<ProtocolExtras> {
  let module: Record<string, unknown>
  try {
    module = (await importModule()) as Record<string, unknown>
  } catch (error) {
    throw new ProtocolUnavailableError(protocol, `cannot import ${moduleName} (${(error as Error).message}); is it built?`)
  }
  const adversary = module[names.adversary]
  if (typeof adversary !== 'function') throw new ProtocolUnavailableError(protocol, `${moduleName} does not export an adversary as '${names.adversary}'`)
  const take = (name: string | undefined, what: string, ok: (value: unknown) => boolean) => {
    if (name === undefined) return undefined
    const value = module[name]
    if (!ok(value)) throw new ProtocolUnavailableError(protocol, `${moduleName} does not export ${what} as '${name}'`)
    return value
  }
  const isObject = (value: unknown) => typeof value === 'object' && value !== null
  const scenarios = take(names.scenarios, 'scenarios', Array.isArray) as Scenario[] | undefined
  const protocolOptions = take(names.protocolOptions, 'protocol options', isObject) as Record<string, unknown> | undefined
  const clients = take(names.clients, 'client options', isObject) as ClientOptions | undefined
  return {
    adversary: adversary as ProtocolAdversary<unknown>,
    ...(scenarios === undefined ? {} : { scenarios }),
    ...(protocolOptions === undefined ? {} : { protocolOptions }),
    ...(clients === undefined ? {} : { clients }),
  }
}

/**
 * Protocols' own adversaries (for scenarios with a 'protocol' adversary,
 * such as byzantine-protocol-adversary) and own scenarios, by name. A
 * byzantine protocol missing here gets those scenarios reported as skipped.
 */
export const protocolExtras: ReadonlyMap<string, ProtocolExtrasLoader> = new Map<string, ProtocolExtrasLoader>([
  // HotStuff's equivocating leader, invalid QCs, double and far-future votes and forking leader
  // (byzantine-protocol-adversary), and its own scenario for the forking leader alone (hotstuff-forking-leader).
  [
    'hotstuff',
    () => loadExtras('hotstuff', '@synod/hotstuff/adversaries', { adversary: 'hotstuffAdversary', scenarios: 'hotstuffAdversaryScenarios' }),
  ],
  // PBFT's clients sign their requests and verify every answer's reply certificate (a proxy may be Byzantine).
  [
    'pbft',
    () =>
      loadExtras('pbft', '@synod/pbft/adversaries', {
        adversary: 'pbftAdversary',
        scenarios: 'pbftAdversaryScenarios',
        protocolOptions: 'pbftSignedClientOptions',
        clients: 'pbftClients',
      }),
  ],
])
