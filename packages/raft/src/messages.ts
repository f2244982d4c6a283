import { InvalidMessageError, type LogEntry } from '@synod/core'
import { ByteReader, ByteWriter, UINT_BYTES } from './binary.js'
import { decodeMembership, validateEntryData } from './entry.js'

// Wire format: [version u8][type u8][term u64] then the type's fields, all
// big-endian; byte strings carry a u32 length. Decoders validate every field
// and reject trailing bytes.

export const WIRE_VERSION = 1

export const MessageType = {
  Append: 1,
  AppendResponse: 2,
  Vote: 3,
  VoteResponse: 4,
  Heartbeat: 5,
  HeartbeatResponse: 6,
  // 7 was the InstallSnapshot chunk before it carried a checksum: the new layout has its own
  // number, so a node of an earlier version refuses it as unknown instead of misreading it.
  Snapshot: 14,
  SnapshotResponse: 8,
  TimeoutNow: 9,
  Propose: 10,
  ProposeReject: 11,
  ReadIndex: 12,
  ReadIndexResponse: 13,
} as const

/**
 * The messages that keep the cluster live and carry no client data: votes, heartbeats, and every
 * answer. The runtime handles and sends them ahead of AppendEntries, snapshots and forwarded
 * proposals (core's `ProtocolFactory.isUrgent`), so a leader busy with client traffic still
 * heartbeats on time. Raft tolerates the reordering (it tolerates a reordering network).
 */
const URGENT_TYPES: ReadonlySet<number> = new Set([
  MessageType.AppendResponse,
  MessageType.Vote,
  MessageType.VoteResponse,
  MessageType.Heartbeat,
  MessageType.HeartbeatResponse,
  MessageType.SnapshotResponse,
  MessageType.TimeoutNow,
  MessageType.ProposeReject,
  MessageType.ReadIndexResponse,
])

/** True for an encoded liveness message (see URGENT_TYPES); a look at the header, never throws. */
export function isUrgentMessage(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === WIRE_VERSION && URGENT_TYPES.has(bytes[1]!)
}

/** AppendEntries (§5.3). Entry indexes are implied: prevIndex + 1, + 2, ... */
export interface AppendMessage {
  readonly type: typeof MessageType.Append
  readonly term: number
  readonly prevIndex: number
  readonly prevTerm: number
  readonly commit: number
  readonly entries: readonly LogEntry[]
}

/**
 * Reply to AppendEntries or to a completed snapshot. On success `index` is the
 * follower's last index known to match the leader. On reject `index` is the
 * rejected prevIndex and (hintIndex, hintTerm) let the leader skip a whole
 * conflicting term at once (§5.3 "optimization", etcd's findConflictByTerm).
 */
export interface AppendResponseMessage {
  readonly type: typeof MessageType.AppendResponse
  readonly term: number
  readonly reject: boolean
  readonly index: number
  readonly hintIndex: number
  readonly hintTerm: number
}

/** RequestVote (§5.2), or a PreVote (dissertation §9.6) that changes no state. */
export interface VoteMessage {
  readonly type: typeof MessageType.Vote
  readonly term: number
  readonly lastIndex: number
  readonly lastTerm: number
  readonly preVote: boolean
  /** Sent after TimeoutNow: voters grant it even while they hear from a leader (§3.10). */
  readonly transfer: boolean
}

export interface VoteResponseMessage {
  readonly type: typeof MessageType.VoteResponse
  readonly term: number
  readonly granted: boolean
  readonly preVote: boolean
}

/** Leader liveness; carries commit = min(match, commit) and a ReadIndex round number (§6.4). */
export interface HeartbeatMessage {
  readonly type: typeof MessageType.Heartbeat
  readonly term: number
  readonly commit: number
  readonly context: number
}

export interface HeartbeatResponseMessage {
  readonly type: typeof MessageType.HeartbeatResponse
  readonly term: number
  readonly context: number
}

/** One chunk of InstallSnapshot (§7). `meta` is the membership at `index`. */
export interface SnapshotMessage {
  readonly type: typeof MessageType.Snapshot
  readonly term: number
  readonly index: number
  readonly snapshotTerm: number
  readonly totalBytes: number
  readonly offset: number
  /** CRC-32C of the snapshot's bytes [0, offset + chunk length): the follower checks every chunk, and the whole snapshot with the last. */
  readonly checksum: number
  readonly meta: Uint8Array
  readonly chunk: Uint8Array
}

/** Acknowledges snapshot chunks: the next offset the follower expects. */
export interface SnapshotResponseMessage {
  readonly type: typeof MessageType.SnapshotResponse
  readonly term: number
  readonly index: number
  readonly nextOffset: number
}

/** Leader transfer: start an election now (§3.10). */
export interface TimeoutNowMessage {
  readonly type: typeof MessageType.TimeoutNow
  readonly term: number
}

/**
 * Proposal forwarding (etcd's MsgProp): a follower hands its clients' commands
 * to the leader, numbered `firstCounter`, `firstCounter + 1`, ... under its
 * `nonce`. The leader appends them as Forwarded entries and answers only a
 * refusal; the follower answers its clients when it applies the entries.
 */
export interface ProposeMessage {
  readonly type: typeof MessageType.Propose
  readonly term: number
  readonly nonce: number
  readonly firstCounter: number
  readonly commands: readonly Uint8Array[]
}

export const ProposeRejectReason = {
  /** The receiver does not lead; `leader` is its hint ('' when unknown). */
  NotLeader: 0,
  /** The leader refused: a transfer in progress, too many uncommitted bytes. */
  Dropped: 1,
} as const
export type ProposeRejectReason = (typeof ProposeRejectReason)[keyof typeof ProposeRejectReason]

/** The leader (or a node that is not the leader) refuses forwarded proposals `firstCounter .. firstCounter + count - 1`. */
export interface ProposeRejectMessage {
  readonly type: typeof MessageType.ProposeReject
  readonly term: number
  readonly nonce: number
  readonly firstCounter: number
  readonly count: number
  readonly reason: ProposeRejectReason
  readonly leader: string
}

/**
 * Follower read (etcd's MsgReadIndex): a follower asks the leader for a read index on behalf of
 * the reads of one batch, numbered `counter` under the follower's per-incarnation `nonce`.
 */
export interface ReadIndexMessage {
  readonly type: typeof MessageType.ReadIndex
  readonly term: number
  readonly nonce: number
  readonly counter: number
}

/**
 * The leader's answer (etcd's MsgReadIndexResp): `index` is its commit index when it received the
 * request, sent once a quorum confirmed its leadership after that; or `reject` (this node does not
 * lead; `leader` is its hint, '' when unknown), with index 0.
 */
export interface ReadIndexResponseMessage {
  readonly type: typeof MessageType.ReadIndexResponse
  readonly term: number
  readonly nonce: number
  readonly counter: number
  readonly reject: boolean
  readonly index: number
  readonly leader: string
}

/** Longest leader hint accepted in a ReadIndexResponse (node ids are short). */
export const MAX_LEADER_HINT_BYTES = 1024

/**
 * Largest InstallSnapshot chunk accepted (and the largest `snapshotChunkBytes`): half of core's
 * default message limit (16 MiB), so a chunk with its header always fits one transport message.
 */
export const MAX_SNAPSHOT_CHUNK_BYTES = 8 << 20

export type RaftMessage =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | SnapshotResponseMessage
  | TimeoutNowMessage
  | ProposeMessage
  | ProposeRejectMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage

const HEADER_BYTES = 2 + UINT_BYTES
const ENTRY_OVERHEAD = UINT_BYTES + 4

export interface DecodeLimits {
  /** Largest entry payload accepted. */
  readonly maxEntryBytes: number
  /** Largest snapshot accepted (total, across chunks). */
  readonly maxSnapshotBytes: number
}

function header(size: number, type: number, term: number): ByteWriter {
  const writer = new ByteWriter(size)
  writer.u8(WIRE_VERSION)
  writer.u8(type)
  writer.uint(term)
  return writer
}

export function encodeMessage(message: RaftMessage): Uint8Array {
  switch (message.type) {
    case MessageType.Append: {
      let size = HEADER_BYTES + 3 * UINT_BYTES + 4
      const entries = message.entries
      for (let i = 0; i < entries.length; i++) size += ENTRY_OVERHEAD + entries[i]!.data.byteLength
      const w = header(size, message.type, message.term)
      w.uint(message.prevIndex)
      w.uint(message.prevTerm)
      w.uint(message.commit)
      w.u32(entries.length)
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!
        w.uint(entry.term)
        w.lengthPrefixed(entry.data)
      }
      return w.finish()
    }
    case MessageType.AppendResponse: {
      const w = header(HEADER_BYTES + 1 + 3 * UINT_BYTES, message.type, message.term)
      w.u8(message.reject ? 1 : 0)
      w.uint(message.index)
      w.uint(message.hintIndex)
      w.uint(message.hintTerm)
      return w.finish()
    }
    case MessageType.Vote: {
      const w = header(HEADER_BYTES + 2 * UINT_BYTES + 2, message.type, message.term)
      w.uint(message.lastIndex)
      w.uint(message.lastTerm)
      w.u8(message.preVote ? 1 : 0)
      w.u8(message.transfer ? 1 : 0)
      return w.finish()
    }
    case MessageType.VoteResponse: {
      const w = header(HEADER_BYTES + 2, message.type, message.term)
      w.u8(message.granted ? 1 : 0)
      w.u8(message.preVote ? 1 : 0)
      return w.finish()
    }
    case MessageType.Heartbeat: {
      const w = header(HEADER_BYTES + 2 * UINT_BYTES, message.type, message.term)
      w.uint(message.commit)
      w.uint(message.context)
      return w.finish()
    }
    case MessageType.HeartbeatResponse: {
      const w = header(HEADER_BYTES + UINT_BYTES, message.type, message.term)
      w.uint(message.context)
      return w.finish()
    }
    case MessageType.Snapshot: {
      const size = HEADER_BYTES + 4 * UINT_BYTES + 4 + 4 + message.meta.byteLength + 4 + message.chunk.byteLength
      const w = header(size, message.type, message.term)
      w.uint(message.index)
      w.uint(message.snapshotTerm)
      w.uint(message.totalBytes)
      w.uint(message.offset)
      w.u32(message.checksum)
      w.lengthPrefixed(message.meta)
      w.lengthPrefixed(message.chunk)
      return w.finish()
    }
    case MessageType.SnapshotResponse: {
      const w = header(HEADER_BYTES + 2 * UINT_BYTES, message.type, message.term)
      w.uint(message.index)
      w.uint(message.nextOffset)
      return w.finish()
    }
    case MessageType.TimeoutNow:
      return header(HEADER_BYTES, message.type, message.term).finish()
    case MessageType.Propose: {
      let size = HEADER_BYTES + 2 * UINT_BYTES + 4
      for (const command of message.commands) size += 4 + command.byteLength
      const w = header(size, message.type, message.term)
      w.uint(message.nonce)
      w.uint(message.firstCounter)
      w.u32(message.commands.length)
      for (const command of message.commands) w.lengthPrefixed(command)
      return w.finish()
    }
    case MessageType.ProposeReject: {
      const leader = new TextEncoder().encode(message.leader)
      const w = header(HEADER_BYTES + 2 * UINT_BYTES + 4 + 1 + 2 + leader.byteLength, message.type, message.term)
      w.uint(message.nonce)
      w.uint(message.firstCounter)
      w.u32(message.count)
      w.u8(message.reason)
      w.shortBytes(leader)
      return w.finish()
    }
    case MessageType.ReadIndex: {
      const w = header(HEADER_BYTES + 2 * UINT_BYTES, message.type, message.term)
      w.uint(message.nonce)
      w.uint(message.counter)
      return w.finish()
    }
    case MessageType.ReadIndexResponse: {
      const leader = new TextEncoder().encode(message.leader)
      const w = header(HEADER_BYTES + 3 * UINT_BYTES + 1 + 2 + leader.byteLength, message.type, message.term)
      w.uint(message.nonce)
      w.uint(message.counter)
      w.u8(message.reject ? 1 : 0)
      w.uint(message.index)
      w.shortBytes(leader)
      return w.finish()
    }
  }
}

/** Decode and validate one message; any malformed input throws InvalidMessageError. */
export function decodeMessage(bytes: Uint8Array, limits: DecodeLimits): RaftMessage {
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessageError('expected bytes')
  const r = new ByteReader(bytes)
  const version = r.u8('version')
  if (version !== WIRE_VERSION) throw new InvalidMessageError(`unknown raft wire version ${version}`)
  const type = r.u8('type')
  const term = r.uint('term')
  let message: RaftMessage
  switch (type) {
    case MessageType.Append: {
      const prevIndex = r.uint('prevIndex')
      const prevTerm = r.uint('prevTerm')
      const commit = r.uint('commit')
      const count = r.u32('entry count')
      if (count * ENTRY_OVERHEAD > r.remaining) throw new InvalidMessageError(`entry count ${count} exceeds the message`)
      if (prevTerm > term) throw new InvalidMessageError('prevTerm is newer than the message term')
      if (prevIndex + count > Number.MAX_SAFE_INTEGER) throw new InvalidMessageError('entry index overflow')
      const entries: LogEntry[] = new Array<LogEntry>(count)
      let lastTerm = prevTerm
      for (let i = 0; i < count; i++) {
        const entryTerm = r.uint('entry term')
        // Terms in a log never decrease and never exceed the leader's term (§5.3).
        if (entryTerm < lastTerm || entryTerm > term || entryTerm === 0)
          throw new InvalidMessageError(`entry ${prevIndex + 1 + i} has term ${entryTerm} out of order`)
        lastTerm = entryTerm
        const data = r.lengthPrefixed('entry data', limits.maxEntryBytes)
        validateEntryData(data)
        entries[i] = { index: prevIndex + 1 + i, term: entryTerm, data }
      }
      message = { type, term, prevIndex, prevTerm, commit, entries }
      break
    }
    case MessageType.AppendResponse: {
      const reject = r.bool('reject')
      const index = r.uint('index')
      const hintIndex = r.uint('hintIndex')
      const hintTerm = r.uint('hintTerm')
      message = { type, term, reject, index, hintIndex, hintTerm }
      break
    }
    case MessageType.Vote: {
      const lastIndex = r.uint('lastIndex')
      const lastTerm = r.uint('lastTerm')
      const preVote = r.bool('preVote')
      const transfer = r.bool('transfer')
      if (lastTerm > term) throw new InvalidMessageError('lastTerm is newer than the vote term')
      message = { type, term, lastIndex, lastTerm, preVote, transfer }
      break
    }
    case MessageType.VoteResponse: {
      const granted = r.bool('granted')
      const preVote = r.bool('preVote')
      message = { type, term, granted, preVote }
      break
    }
    case MessageType.Heartbeat: {
      const commit = r.uint('commit')
      const context = r.uint('context')
      message = { type, term, commit, context }
      break
    }
    case MessageType.HeartbeatResponse:
      message = { type, term, context: r.uint('context') }
      break
    case MessageType.Snapshot: {
      const index = r.uint('snapshot index')
      const snapshotTerm = r.uint('snapshot term')
      const totalBytes = r.uint('snapshot size')
      const offset = r.uint('snapshot offset')
      const checksum = r.u32('snapshot checksum')
      const meta = r.lengthPrefixed('snapshot meta', 1 << 20)
      const chunk = r.lengthPrefixed('snapshot chunk', Math.min(limits.maxSnapshotBytes, MAX_SNAPSHOT_CHUNK_BYTES))
      if (totalBytes > limits.maxSnapshotBytes) throw new InvalidMessageError(`snapshot of ${totalBytes} bytes is over the limit`)
      if (offset + chunk.byteLength > totalBytes) throw new InvalidMessageError('snapshot chunk runs past the snapshot size')
      if (snapshotTerm > term || index === 0 || snapshotTerm === 0) throw new InvalidMessageError('snapshot index or term out of range')
      decodeMembership(meta)
      message = { type, term, index, snapshotTerm, totalBytes, offset, checksum, meta, chunk }
      break
    }
    case MessageType.SnapshotResponse: {
      const index = r.uint('snapshot index')
      const nextOffset = r.uint('nextOffset')
      message = { type, term, index, nextOffset }
      break
    }
    case MessageType.TimeoutNow:
      message = { type, term }
      break
    case MessageType.Propose: {
      const nonce = r.uint('propose nonce')
      const firstCounter = r.uint('propose counter')
      const count = r.u32('propose count')
      if (count === 0 || count * 4 > r.remaining) throw new InvalidMessageError(`propose count ${count} does not fit the message`)
      if (firstCounter + count > Number.MAX_SAFE_INTEGER) throw new InvalidMessageError('propose counter overflow')
      const commands: Uint8Array[] = new Array<Uint8Array>(count)
      for (let i = 0; i < count; i++) commands[i] = r.lengthPrefixed('proposed command', limits.maxEntryBytes)
      message = { type, term, nonce, firstCounter, commands }
      break
    }
    case MessageType.ProposeReject: {
      const nonce = r.uint('reject nonce')
      const firstCounter = r.uint('reject counter')
      const count = r.u32('reject count')
      const reason = r.u8('reject reason')
      if (reason !== ProposeRejectReason.NotLeader && reason !== ProposeRejectReason.Dropped)
        throw new InvalidMessageError(`unknown propose reject reason ${reason}`)
      const leader = decodeLeaderHint(r.shortBytes('reject leader hint'))
      message = { type, term, nonce, firstCounter, count, reason, leader }
      break
    }
    case MessageType.ReadIndex: {
      const nonce = r.uint('read nonce')
      const counter = r.uint('read counter')
      if (nonce === 0 || counter === 0) throw new InvalidMessageError('read index nonce and counter start at 1')
      message = { type, term, nonce, counter }
      break
    }
    case MessageType.ReadIndexResponse: {
      const nonce = r.uint('read nonce')
      const counter = r.uint('read counter')
      const reject = r.bool('read reject')
      const index = r.uint('read index')
      const leaderBytes = r.shortBytes('read leader hint')
      if (nonce === 0 || counter === 0) throw new InvalidMessageError('read index nonce and counter start at 1')
      if (leaderBytes.byteLength > MAX_LEADER_HINT_BYTES) throw new InvalidMessageError(`leader hint of ${leaderBytes.byteLength} bytes`)
      // One meaning per message: an answer carries an index and no hint, a refusal a hint and index 0.
      if (reject ? index !== 0 : leaderBytes.byteLength !== 0) throw new InvalidMessageError('read index answer mixes an index and a refusal')
      message = { type, term, nonce, counter, reject, index, leader: decodeLeaderHint(leaderBytes) }
      break
    }
    default:
      throw new InvalidMessageError(`unknown raft message type ${type}`)
  }
  r.end('raft message')
  return message
}

function decodeLeaderHint(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new InvalidMessageError('leader hint is not UTF-8')
  }
}
