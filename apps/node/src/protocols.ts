// The protocols the daemon can run. One line adds a protocol package.
import type { FaultModel, ProtocolFactory } from '@synod/core'

type FactoryModule = Record<string, unknown>

function factoryFrom(module: FactoryModule, exportName: string, packageName: string): ProtocolFactory {
  const factory = module[exportName] as ProtocolFactory | undefined
  if (factory === undefined || typeof factory.create !== 'function')
    throw new Error(`${packageName} does not export a protocol factory named '${exportName}'`)
  return factory
}

const registry: Record<string, () => Promise<ProtocolFactory>> = {
  raft: async () => factoryFrom((await import('@synod/raft')) as FactoryModule, 'raft', '@synod/raft'),
  pbft: async () => factoryFrom((await import('@synod/pbft')) as FactoryModule, 'pbft', '@synod/pbft'),
  hotstuff: async () => factoryFrom((await import('@synod/hotstuff')) as FactoryModule, 'hotstuff', '@synod/hotstuff'),
  paxos: async () => factoryFrom((await import('@synod/paxos')) as FactoryModule, 'paxos', '@synod/paxos'),
}

/**
 * Protocol options the daemon uses unless the config says otherwise. Raft gets etcd's timing
 * (heartbeat 100 ms, election timeout 1000 ms, randomized up to 2000 ms): a real process on a
 * busy machine stalls for hundreds of milliseconds (GC, a starved CPU), and the library default
 * of 150 ms made followers depose a healthy leader under load (apps/node/README, "Overload").
 */
const daemonDefaults: Record<string, Record<string, unknown>> = {
  raft: { heartbeatIntervalMs: 100, electionTimeoutMs: 1000 },
  // Multi-Paxos elects and heartbeats the same way, and a stalled process hurts it the same way.
  paxos: { heartbeatIntervalMs: 100, electionTimeoutMs: 1000 },
}

/** The daemon's protocol options: its defaults for `name`, overridden by the configured ones. */
export function daemonProtocolOptions(name: string, configured: Record<string, unknown>): Record<string, unknown> {
  return { ...daemonDefaults[name], ...configured }
}

export function protocolNames(): string[] {
  return Object.keys(registry)
}

export async function loadProtocol(name: string): Promise<ProtocolFactory> {
  const load = registry[name]
  if (load === undefined) throw new Error(`unknown protocol '${name}' (available: ${protocolNames().join(', ')})`)
  return await load()
}

export async function faultModelOf(name: string): Promise<FaultModel> {
  return (await loadProtocol(name)).faultModel
}
