// Importing an installed protocol package's factory (and its conformance extras), with clear
// errors. The import itself is the app's: `import('@synod/x')` resolves from the module that calls
// it, and only the app (not @synod/core) has the protocol packages as dependencies.
import type { ProtocolFactory } from '../protocol.js'
import type { InstalledProtocol } from '../node/discover.js'

/** `(specifier) => import(specifier)`, written in the app so the specifier resolves from the app. */
export type ImportModule = (specifier: string) => Promise<unknown>

/** Thrown when an installed (or registered) protocol's package does not (yet) provide a usable factory. */
export class ProtocolUnavailableError extends Error {
  override readonly name = 'ProtocolUnavailableError'
  constructor(
    readonly protocol: string,
    reason: string,
  ) {
    super(`protocol '${protocol}' is registered but unavailable: ${reason}`)
  }
}

/** Structural check of a ProtocolFactory (a package may be half-written). */
export function isProtocolFactory(value: unknown): value is ProtocolFactory<unknown> {
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
 * Import a package and take the first of `exportNames` that is a ProtocolFactory named `protocol`;
 * otherwise a ProtocolUnavailableError naming the package and the exports looked for.
 */
export async function importFactory(
  protocol: string,
  packageName: string,
  exportNames: readonly string[],
  importPackage: () => Promise<unknown>,
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

/** The factory an installed package declares; its fault model must be the declared one. */
export async function loadInstalledFactory(installed: InstalledProtocol, importModule: ImportModule): Promise<ProtocolFactory<unknown>> {
  const { manifest, packageName } = installed
  const factory = await importFactory(manifest.protocol, packageName, [manifest.factory], () => importModule(packageName))
  if (factory.faultModel !== manifest.faultModel)
    throw new ProtocolUnavailableError(
      manifest.protocol,
      `${packageName}'s package.json declares faultModel '${manifest.faultModel}' but its factory says '${factory.faultModel}'`,
    )
  return factory
}

/** The module named by `conformance.extras.module` (e.g. '@synod/pbft/adversaries'), imported by the app. */
export async function importExtrasModule(installed: InstalledProtocol, importModule: ImportModule): Promise<Record<string, unknown>> {
  const extras = installed.manifest.conformance.extras
  if (extras === undefined) return {}
  const specifier = `${installed.packageName}/${extras.module.slice(2)}`
  try {
    return (await importModule(specifier)) as Record<string, unknown>
  } catch (error) {
    throw new ProtocolUnavailableError(installed.manifest.protocol, `cannot import ${specifier} (${(error as Error).message}); is it built?`)
  }
}
