// The protocols the daemon can run: the protocol packages among this app's dependencies, each
// declared by the `synod` field of its package.json (ADR 0018). Adding a protocol is one
// dependency line in apps/node/package.json (`pnpm new-protocol` writes it); nothing here changes.
import type { FaultModel, ProtocolFactory } from '@synod/core'
import { installedProtocols, loadInstalledFactory, type ImportModule, type InstalledProtocol } from '@synod/core/node'

/** What the daemon and the CLI ask about protocols. */
export interface DaemonProtocols {
  names(): string[]
  /** From the package's declaration: no protocol code is imported. */
  faultModelOf(name: string): FaultModel
  load(name: string): Promise<ProtocolFactory>
  /**
   * The daemon's protocol options: the package's `daemonOptions` (deployment timing, e.g. Raft's
   * etcd-like 100 ms heartbeat and 1000 ms election timeout, since a real process on a busy
   * machine stalls for hundreds of milliseconds; apps/node/README, "Overload"), overridden by the
   * configured ones.
   */
  options(name: string, configured: Record<string, unknown>): Record<string, unknown>
}

/** The protocols installed for the app whose package.json is `appManifest`, loaded with `importModule`. */
export function daemonProtocols(appManifest: string | URL, importModule: ImportModule): DaemonProtocols {
  const installed = new Map(installedProtocols(appManifest).map((p) => [p.manifest.protocol, p]))
  const find = (name: string): InstalledProtocol => {
    const found = installed.get(name)
    if (found === undefined)
      throw new Error(`unknown protocol '${name}' (available: ${[...installed.keys()].join(', ')}; a protocol package is a dependency of apps/node)`)
    return found
  }
  return {
    names: () => [...installed.keys()],
    faultModelOf: (name) => find(name).manifest.faultModel,
    load: async (name) => (await loadInstalledFactory(find(name), importModule)) as ProtocolFactory,
    options: (name, configured) => ({ ...installed.get(name)?.manifest.daemonOptions, ...configured }),
  }
}

/** Importers of the protocol packages compiled into the one-file daemon (scripts/bundle.mjs); none otherwise. */
let bundled: Readonly<Record<string, () => Promise<unknown>>> = {}

/** Called by the one-file daemon's entry before anything else runs: its protocol packages are inside it. */
export function useBundledProtocols(imports: Readonly<Record<string, () => Promise<unknown>>>): void {
  bundled = imports
}

// This app's own: its package.json, and an import that resolves from here (where its dependencies are).
let own: DaemonProtocols | undefined
function ownProtocols(): DaemonProtocols {
  own ??= daemonProtocols(new URL('../package.json', import.meta.url), (specifier) => bundled[specifier]?.() ?? import(specifier))
  return own
}

/** The daemon's protocol options: its defaults for `name`, overridden by the configured ones. */
export function daemonProtocolOptions(name: string, configured: Record<string, unknown>): Record<string, unknown> {
  return ownProtocols().options(name, configured)
}

export function protocolNames(): string[] {
  return ownProtocols().names()
}

export async function loadProtocol(name: string): Promise<ProtocolFactory> {
  return await ownProtocols().load(name)
}

export async function faultModelOf(name: string): Promise<FaultModel> {
  return ownProtocols().faultModelOf(name)
}
