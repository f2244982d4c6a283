export { raft } from './raft.js'
export type { RaftFactory } from './raft.js'
export { applyConfigChange, HARD_STATE_KEY, leaveJoint, RaftNode } from './raft-node.js'
export type { ConfigChange, RaftRole } from './raft-node.js'
export { defaultRaftOptions, resolveRaftOptions } from './options.js'
export type { RaftOptions } from './options.js'
export { decodeMessage, encodeMessage, isUrgentMessage, MessageType, MAX_SNAPSHOT_CHUNK_BYTES, ProposeRejectReason, WIRE_VERSION } from './messages.js'
export type {
  AppendMessage,
  AppendResponseMessage,
  DecodeLimits,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  ProposeMessage,
  ProposeRejectMessage,
  RaftMessage,
  SnapshotMessage,
  SnapshotResponseMessage,
  TimeoutNowMessage,
  VoteMessage,
  VoteResponseMessage,
} from './messages.js'
export { decodeMembership, encodeMembership, EntryKind } from './entry.js'
