export { EventQueue } from './event-queue.js'
export type { ScheduledEvent } from './event-queue.js'
export {
  bridgePairs,
  DEFAULT_DELAY,
  isolatePairs,
  majorityMinorityGroups,
  partitionPairs,
  ringPairs,
  SimulatedNetwork,
  SimulatedTransport,
} from './network.js'
export type { DelayDistribution, DeliveryObserver, LinkFaults, NetworkStats, OutboundFilter, OutboundMessage } from './network.js'
export { hashLabel, SeededRandom } from './prng.js'
export { SimulatedNode } from './simulated-node.js'
export type { CrashableStorage, SimulatedNodeOptions } from './simulated-node.js'
export { NodeClock, Simulation } from './simulation.js'
export type { SimulationOptions } from './simulation.js'
export { TraceHash } from './trace-hash.js'
