export {
  bytesEqual,
  DEFAULT_MAX_MESSAGE_BYTES,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBoolean,
  expectBytes,
  expectOneOf,
  expectOnlyKeys,
  expectRecord,
  expectString,
  expectUint,
  fromHex,
  fromUtf8,
  toHex,
  utf8,
} from './codec.js'
export type { Fields } from './codec.js'
export { ClientRequestChecker } from './client-request-checker.js'
export { cborArrayHead, cborBytes, cborHead, cborHeadLength, CborWriter, concatBytes, writeHead } from './cbor-writer.js'
export {
  CLIENT_KEY_BYTES,
  CLIENT_REQUEST_DOMAIN,
  CLIENT_SIGNATURE_BYTES,
  clientIdOf,
  clientRequestStatement,
  decodeSignedClientRequest,
  encodeSignedClientRequest,
  isSignedClientRequest,
  MAX_CLIENT_OPERATION_BYTES,
  MAX_CLIENT_SESSION,
  signClientRequest,
  verifyClientRequest,
} from './client-request.js'
export type { ClientRequest, SignedClientRequest } from './client-request.js'
export { Counters } from './counters.js'
export { LeaderLease, type LeaseTestSwitches } from './leader-lease.js'
export {
  ConfigError,
  InvalidMessageError,
  NotLeaderError,
  OverloadedError,
  ProposalDroppedError,
  StoppedError,
  StorageCorruptionError,
  SynodError,
  TimeoutError,
  UnsupportedError,
} from './errors.js'
export {
  allMemberIds,
  byzantineFaults,
  byzantineQuorum,
  changedMembers,
  isJoint,
  isMember,
  majority,
  MAX_MEMBER_META_BYTES,
  membership,
  membershipOf,
  voterIds,
} from './membership.js'
export type { JointMembershipChange, Member, Membership, MembershipChange, NodeId, SingleMembershipChange } from './membership.js'
export { CONTRACT_VERSION } from './protocol.js'
export type {
  ClientRef,
  Committed,
  ContractVersion,
  FaultModel,
  NodeStatus,
  ProtocolContext,
  ProtocolEvent,
  ProtocolFactory,
  ProtocolNode,
  ProtocolSendOptions,
} from './protocol.js'
export { Replica } from './replica.js'
export { bufferedSnapshotWriter, wholeSnapshot } from './snapshot-buffer.js'
export type { CommandResult, ReplicaOptions } from './replica.js'
export type {
  Clock,
  MessageHandler,
  Random,
  SendOptions,
  Signer,
  RestoreJob,
  SnapshotJob,
  StateMachine,
  TimerId,
  Transport,
  Verifier,
} from './runtime-contracts.js'
export type {
  BeginSnapshotOptions,
  LogEntry,
  SaveSnapshotOptions,
  Snapshot,
  SnapshotSink,
  SnapshotWriter,
  Storage,
  StoredSnapshot,
} from './storage.js'
export { TrailingLog } from './trailing-log.js'
export { systemClock, systemRandom } from './system.js'
