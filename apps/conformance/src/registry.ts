// The protocols the runner knows: the protocol packages among this app's dependencies, each declared
// by the `synod` field of its package.json (ADR 0018), plus the toys of @synod/conformance. Adding a
// protocol is one dependency line in apps/conformance/package.json (`pnpm new-protocol` writes it).
import type { Capability, ClientOptions, ProtocolAdversary, Scenario } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'
import {
  importExtrasModule,
  importFactory,
  installedProtocols,
  isProtocolFactory,
  loadInstalledFactory,
  ProtocolUnavailableError,
  type ImportModule,
  type InstalledProtocol,
} from '@synod/core/node'

/** Loads one protocol's factory on demand, so a broken or unfinished package only fails the runs that ask for it. */
export type ProtocolLoader = () => Promise<ProtocolFactory<unknown>>

/** Protocol name (as given to --protocol, equal to the factory's `name`) → its loader. */
export type ProtocolRegistry = ReadonlyMap<string, ProtocolLoader>

// ProtocolUnavailableError and the factory check are shared with the daemon (@synod/core/node).
export { ProtocolUnavailableError }

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
  return await importFactory(protocol, packageName, exportNames, importPackage)
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

async function toy(exportName: string): Promise<ProtocolFactory<unknown>> {
  const conformance = (await import('@synod/conformance')) as unknown as Record<string, unknown>
  const factory = conformance[exportName]
  if (!isProtocolFactory(factory)) throw new ProtocolUnavailableError(exportName, `@synod/conformance does not export '${exportName}'`)
  return factory
}

/**
 * The toys from @synod/conformance: the correct one as a baseline, the broken
 * ones to watch the checkers catch them. Never in the default list.
 */
const TOYS: ReadonlyArray<readonly [string, string]> = [
  ['toy-fixed-leader', 'fixedLeaderToy'],
  ['toy-commits-without-quorum', 'commitsWithoutQuorumToy'],
  ['toy-acks-before-persisting', 'acksBeforePersistingToy'],
  ['toy-forgets-on-restart', 'forgetsOnRestartToy'],
  ['toy-divergent-commit', 'divergentCommitToy'],
  ['toy-stale-reads', 'staleReadsToy'],
]

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

/** Everything the runner needs to know about its protocols. */
export interface RunnerProtocols {
  readonly registry: ProtocolRegistry
  /** What --protocol defaults to: the installed protocols and their variants, except work in progress (and the toys). */
  readonly defaultProtocols: readonly string[]
  /**
   * What each protocol offers beyond the basics, by name: scenarios that
   * require a capability (`Scenario.requires`, e.g. 'reconfigure' for
   * membership-churn) run only for the protocols listed with it.
   */
  readonly capabilities: ReadonlyMap<string, readonly Capability[]>
  /**
   * Protocols' own adversaries (for scenarios with a 'protocol' adversary,
   * such as byzantine-protocol-adversary) and own scenarios, by name. A
   * byzantine protocol missing here gets those scenarios reported as skipped.
   */
  readonly extras: ReadonlyMap<string, ProtocolExtrasLoader>
}

/** The runner's view of installed protocol packages (each one's variants run under their own names). */
export function runnerProtocols(installed: readonly InstalledProtocol[], importModule: ImportModule): RunnerProtocols {
  const registry = new Map<string, ProtocolLoader>()
  const defaultProtocols: string[] = []
  const capabilities = new Map<string, readonly Capability[]>()
  const extras = new Map<string, ProtocolExtrasLoader>()
  for (const protocol of installed) {
    const { manifest } = protocol
    const load: ProtocolLoader = () => loadInstalledFactory(protocol, importModule)
    const entries: Array<[string, ProtocolLoader]> = [
      [manifest.protocol, load],
      ...Object.entries(manifest.conformance.variants).map(([name, options]): [string, ProtocolLoader] => [name, () => loadVariant(name, load, options)]),
    ]
    const names = extrasNames(protocol)
    for (const [name, loader] of entries) {
      registry.set(name, loader)
      if (!manifest.workInProgress) defaultProtocols.push(name)
      if (manifest.conformance.capabilities.length > 0) capabilities.set(name, manifest.conformance.capabilities as Capability[])
      if (names !== undefined) extras.set(name, () => loadExtras(name, `${protocol.packageName}/${names.module.slice(2)}`, names, () => importExtrasModule(protocol, importModule)))
    }
  }
  for (const [name, exportName] of TOYS) registry.set(name, () => toy(exportName))
  return { registry, defaultProtocols, capabilities, extras }
}

function extrasNames(protocol: InstalledProtocol) {
  const extras = protocol.manifest.conformance.extras
  if (extras === undefined) return undefined
  return {
    module: extras.module,
    adversary: extras.adversary,
    ...(extras.scenarios === undefined ? {} : { scenarios: extras.scenarios }),
    ...(extras.protocolOptions === undefined ? {} : { protocolOptions: extras.protocolOptions }),
    ...(extras.clients === undefined ? {} : { clients: extras.clients }),
  }
}

// This app's own: its package.json, and an import that resolves from here (where its dependencies are).
const own = runnerProtocols(installedProtocols(new URL('../package.json', import.meta.url)), (specifier) => import(specifier))

/** Every protocol the runner knows, by name. */
export const protocolRegistry: ProtocolRegistry = own.registry
/** Capabilities by protocol name (from each package's `synod.conformance.capabilities`). */
export const protocolCapabilities: ReadonlyMap<string, readonly Capability[]> = own.capabilities
/** What --protocol defaults to: the installed protocols and their variants, not the toys, not work in progress. */
export const DEFAULT_PROTOCOLS: readonly string[] = own.defaultProtocols
/** Protocols' own adversaries and scenarios (from each package's `synod.conformance.extras`). */
export const protocolExtras: ReadonlyMap<string, ProtocolExtrasLoader> = own.extras
