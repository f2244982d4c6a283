export { paxos } from './paxos.js'
export type { PaxosFactory } from './paxos.js'
export { PaxosNode, paxosTesting } from './paxos-node.js'
export type { PaxosRole } from './paxos-node.js'
export { ACCEPT_RING, defaultPaxosOptions, MAX_SNAPSHOT_CHUNK_BYTES, resolvePaxosOptions } from './options.js'
export type { PaxosOptions } from './options.js'
export { acceptorTesting, PROMISED_KEY } from './acceptor-store.js'
export { applyMembershipChange, Configuration, decodeMembership, encodeMembership, MAX_MEMBERS } from './configuration.js'
export { LeadershipTransfer } from './transfer.js'
export { decodeMessage, encodeMessage, isUrgentMessage, MessageType, WIRE_VERSION } from './messages.js'
export type {
  AcceptedMessage,
  AcceptMessage,
  DecodeLimits,
  FetchMessage,
  ForwardMessage,
  ForwardRejectMessage,
  HeartbeatMessage,
  LearnMessage,
  PaxosMessage,
  PrepareMessage,
  PromiseMessage,
  SnapshotAckMessage,
  SnapshotMessage,
  TimeoutNowMessage,
} from './messages.js'
export { decodeValue, encodeCommandValue, encodeConfigValue, NOOP_VALUE } from './value.js'
export type { SlotValue } from './value.js'
