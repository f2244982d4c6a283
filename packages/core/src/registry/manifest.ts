// The `synod` field of a protocol package's package.json: how the package declares itself to the
// hosts that run protocols (the daemon, the conformance runner). ADR 0018.
import type { FaultModel } from '../protocol.js'

/** Where a protocol package keeps its own attacks and scenarios for the conformance runner. */
export interface ConformanceExtrasManifest {
  /** A subpath export of the package, e.g. './adversaries'. */
  readonly module: string
  /** Export holding the ProtocolAdversary (a function). */
  readonly adversary: string
  /** Export holding an array of the protocol's own scenarios. */
  readonly scenarios?: string
  /** Export holding protocol options for every run (e.g. client authentication). */
  readonly protocolOptions?: string
  /** Export holding the ClientOptions of the workload's clients. */
  readonly clients?: string
}

/** What the conformance runner needs beyond the factory. */
export interface ConformanceManifest {
  /** Capabilities beyond the basics (e.g. 'reconfigure'): scenarios that require one run only when listed. */
  readonly capabilities: readonly string[]
  /** Extra runner entries under their own names: the factory with these options forced (e.g. 'raft-lease'). */
  readonly variants: Readonly<Record<string, Readonly<Record<string, unknown>>>>
  readonly extras?: ConformanceExtrasManifest
}

/** A protocol package's declaration, validated. */
export interface ProtocolManifest {
  /** The protocol's name: `--protocol NAME`, equal to the factory's `name`. */
  readonly protocol: string
  /** The export of the package's main entry that holds the ProtocolFactory. */
  readonly factory: string
  /** Equal to the factory's; declared so hosts can size clusters without importing the package. */
  readonly faultModel: FaultModel
  /**
   * True while the protocol is being written: the runner leaves it out of its default protocol list
   * (it still runs with `--protocol NAME`) and the package's conformance test is not run by `pnpm test`.
   */
  readonly workInProgress: boolean
  /** Protocol options the daemon uses unless the node's config sets them (deployment timing, not library defaults). */
  readonly daemonOptions: Readonly<Record<string, unknown>>
  readonly conformance: ConformanceManifest
}

/** A package.json `synod` field that does not describe a protocol correctly. */
export class ProtocolManifestError extends Error {
  override readonly name = 'ProtocolManifestError'
  constructor(
    readonly packageName: string,
    reason: string,
  ) {
    super(`${packageName}: invalid "synod" field in package.json: ${reason}`)
  }
}

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/
const KNOWN_FIELDS = new Set(['protocol', 'factory', 'faultModel', 'workInProgress', 'daemonOptions', 'conformance'])

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Validate a package.json `synod` field. Strict on purpose: a typo ('faultmodel', 'daemonOption')
 * would otherwise be ignored silently, and these fields are not type-checked by tsc.
 */
export function parseProtocolManifest(value: unknown, packageName: string): ProtocolManifest {
  const fail = (reason: string): never => {
    throw new ProtocolManifestError(packageName, reason)
  }
  if (!isRecord(value)) return fail('expected an object')
  for (const key of Object.keys(value)) if (!KNOWN_FIELDS.has(key)) fail(`unknown field '${key}' (known: ${[...KNOWN_FIELDS].join(', ')})`)
  const { protocol, factory, faultModel, workInProgress, daemonOptions, conformance } = value
  if (typeof protocol !== 'string' || !NAME.test(protocol)) fail(`'protocol' must be a lowercase name (letters, digits, single dashes), got ${JSON.stringify(protocol)}`)
  if (typeof factory !== 'string' || !IDENTIFIER.test(factory)) fail(`'factory' must name an export of the main entry, got ${JSON.stringify(factory)}`)
  if (faultModel !== 'crash' && faultModel !== 'byzantine') fail(`'faultModel' must be 'crash' or 'byzantine', got ${JSON.stringify(faultModel)}`)
  if (workInProgress !== undefined && typeof workInProgress !== 'boolean') fail(`'workInProgress' must be true or false`)
  if (daemonOptions !== undefined && !isRecord(daemonOptions)) fail(`'daemonOptions' must be an object of protocol options`)
  return {
    protocol: protocol as string,
    factory: factory as string,
    faultModel: faultModel as FaultModel,
    workInProgress: workInProgress === true,
    daemonOptions: (daemonOptions as Record<string, unknown> | undefined) ?? {},
    conformance: parseConformance(conformance, protocol as string, fail),
  }
}

function parseConformance(value: unknown, protocol: string, fail: (reason: string) => never): ConformanceManifest {
  if (value === undefined) return { capabilities: [], variants: {} }
  if (!isRecord(value)) return fail(`'conformance' must be an object`)
  for (const key of Object.keys(value)) if (!['capabilities', 'variants', 'extras'].includes(key)) fail(`unknown field 'conformance.${key}'`)
  const { capabilities = [], variants = {}, extras } = value
  if (!Array.isArray(capabilities) || !capabilities.every((c) => typeof c === 'string')) fail(`'conformance.capabilities' must be an array of strings`)
  if (!isRecord(variants)) return fail(`'conformance.variants' must map names to protocol options`)
  for (const [name, options] of Object.entries(variants)) {
    if (!NAME.test(name) || !name.startsWith(`${protocol}-`)) fail(`variant '${name}' must be named '${protocol}-<mode>' (lowercase)`)
    if (!isRecord(options)) fail(`variant '${name}' must be an object of protocol options`)
  }
  return {
    capabilities: capabilities as string[],
    variants: variants as Record<string, Record<string, unknown>>,
    ...(extras === undefined ? {} : { extras: parseExtras(extras, fail) }),
  }
}

function parseExtras(value: unknown, fail: (reason: string) => never): ConformanceExtrasManifest {
  if (!isRecord(value)) return fail(`'conformance.extras' must be an object`)
  const allowed = ['module', 'adversary', 'scenarios', 'protocolOptions', 'clients']
  for (const key of Object.keys(value)) if (!allowed.includes(key)) fail(`unknown field 'conformance.extras.${key}'`)
  const { module } = value
  if (typeof module !== 'string' || !/^\.\/[A-Za-z0-9_./-]+$/.test(module) || module.includes('..'))
    fail(`'conformance.extras.module' must be a subpath export such as './adversaries', got ${JSON.stringify(module)}`)
  for (const key of allowed.slice(1)) {
    const name = value[key]
    if ((key === 'adversary' || name !== undefined) && (typeof name !== 'string' || !IDENTIFIER.test(name)))
      fail(`'conformance.extras.${key}' must name an export, got ${JSON.stringify(name)}`)
  }
  return value as unknown as ConformanceExtrasManifest
}
