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
