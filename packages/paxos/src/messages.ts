import {
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBoolean,
  expectBytes,
  expectString,
  expectUint,
  InvalidMessageError,
} from '@synod/core'
import { decodeMembership } from './configuration.js'
import { HotReader, hotWriter, writeBool } from './hot-codec.js'
import { decodeValue } from './value.js'

// Wire format: [version u8][type u8] then a canonical-CBOR array of the
// type's fields. The two header bytes let `isUrgentMessage` classify a
// message without decoding it. Decoders check every field, the field count
// and every slot value, and reject trailing bytes (decodeCanonical does).

// 2: Heartbeat and Accepted carry the read round (reads.ts).
// 3: snapshots travel in chunks (Snapshot is one chunk; SnapshotAck answers it).
export const WIRE_VERSION = 3

export const MessageType = {
  /** Phase 1a: ballot, the candidate's chosen watermark. */
  Prepare: 1,
  /** Phase 1b, or the refusal of a Prepare carrying the higher ballot seen. */
  Promise: 2,
  /** Phase 2a for consecutive slots, with the leader's chosen index piggybacked. */
  Accept: 3,
  /** Leader liveness and the chosen index (an Accept with no slots). */
  Heartbeat: 4,
  /** Phase 2b for a range of slots, or the refusal of an Accept carrying the higher ballot seen. */
  Accepted: 5,
  /** A follower hands its clients' commands to the leader. */
  Forward: 6,
  ForwardReject: 7,
  /** Catch-up: chosen slots from `from` on, please. */
  Fetch: 8,
  /** Chosen slots (from a Fetch, or pushed by the leader to a lagging replica). */
  Learn: 9,
  /** One chunk of a state-machine snapshot, for a replica that needs slots the sender truncated (snapshot-transfer.ts). */
  Snapshot: 10,
  /** Leadership transfer: the leader tells an up-to-date voter to start phase 1 now (Raft's TimeoutNow). */
  TimeoutNow: 11,
  /** The receiver of a snapshot holds its bytes up to `nextOffset` (or installed it: `done`). */
  SnapshotAck: 12,
} as const

const URGENT: ReadonlySet<number> = new Set([
  MessageType.Prepare,
  MessageType.Promise,
  MessageType.Heartbeat,
  MessageType.Accepted,
  MessageType.ForwardReject,
  MessageType.TimeoutNow,
  MessageType.SnapshotAck,
])

/** Elections, heartbeats and acknowledgements go ahead of bulk traffic (core's ProtocolFactory.isUrgent). Never throws. */
export function isUrgentMessage(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === WIRE_VERSION && URGENT.has(bytes[1]!)
}

export interface PrepareMessage {
  readonly type: typeof MessageType.Prepare
  readonly ballot: number
  readonly watermark: number
  /** A pre-vote probe: "would you promise this ballot?" It changes no state anywhere. */
  readonly probe: boolean
  /** Sent after TimeoutNow: acceptors promise it even while they hear from a live leader (no stickiness). */
  readonly force: boolean
}

export interface PromiseMessage {
  readonly type: typeof MessageType.Promise
  readonly ballot: number
  readonly ok: boolean
  /** The answer to a probe (no values, nothing promised). */
  readonly probe: boolean
  /** The acceptor's promised ballot (higher than `ballot` on a refusal). */
  readonly promised: number
  readonly chosen: number
  /** True when the acceptor has chosen slots above the watermark it could not include (truncated, or too many). */
  readonly behind: boolean
  /** Chosen slots (watermark, chosen], as [slot, value]. */
  readonly chosenValues: ReadonlyArray<readonly [number, Uint8Array]>
  /** Accepted, not known chosen, slots above the watermark: [slot, ballot, value]. */
  readonly accepted: ReadonlyArray<readonly [number, number, Uint8Array]>
}

export interface AcceptMessage {
  readonly type: typeof MessageType.Accept
  readonly ballot: number
  readonly first: number
  readonly values: readonly Uint8Array[]
  readonly commit: number
}

export interface HeartbeatMessage {
  readonly type: typeof MessageType.Heartbeat
  readonly ballot: number
  readonly commit: number
  /** The leader's read round (reads.ts), echoed in the Accepted; 0 when none was sent yet. */
  readonly read: number
}

export interface AcceptedMessage {
  readonly type: typeof MessageType.Accepted
  readonly ballot: number
  readonly ok: boolean
  readonly promised: number
  /** Slots [first, first + count) were accepted in `ballot`. */
  readonly first: number
  readonly count: number
  /** The acceptor's chosen index, so the leader knows who lags. */
  readonly chosen: number
  /** The read round of the heartbeat this answers (0 for an Accept or a refusal). */
  readonly read: number
}

export interface ForwardMessage {
  readonly type: typeof MessageType.Forward
  readonly nonce: number
  readonly firstCounter: number
  readonly commands: readonly Uint8Array[]
}

export interface ForwardRejectMessage {
  readonly type: typeof MessageType.ForwardReject
  readonly nonce: number
  readonly firstCounter: number
  readonly count: number
  /** The leader the refusing node knows, or '' */
  readonly leader: string
}

export interface FetchMessage {
  readonly type: typeof MessageType.Fetch
  readonly from: number
}

export interface LearnMessage {
  readonly type: typeof MessageType.Learn
  readonly first: number
  /** [ballot, value] for slots first, first + 1, ... */
  readonly entries: ReadonlyArray<readonly [number, Uint8Array]>
  /** The sender's chosen index: the receiver fetches again while it is behind it. */
  readonly chosen: number
}

export interface SnapshotMessage {
  readonly type: typeof MessageType.Snapshot
  readonly index: number
  readonly term: number
  /** The configuration in force after `index` (encodeMembership). */
  readonly meta: Uint8Array
  /** The snapshot's data size; this chunk holds [offset, offset + chunk length). */
  readonly total: number
  readonly offset: number
  readonly chunk: Uint8Array
  /** CRC-32C of the data before the chunk's end. */
  readonly checksum: number
  /** The sender's chosen index: the receiver fetches the slots after the snapshot while it is behind it. */
  readonly chosen: number
}

export interface SnapshotAckMessage {
  readonly type: typeof MessageType.SnapshotAck
  readonly index: number
  /** The offset the receiver needs next (0: it has nothing of this transfer). */
  readonly nextOffset: number
  /** Installed (or no longer needed): the transfer is over. */
  readonly done: boolean
}

export interface TimeoutNowMessage {
  readonly type: typeof MessageType.TimeoutNow
  /** The sender's (leader's) ballot: a stale TimeoutNow is ignored. */
  readonly ballot: number
}

export type PaxosMessage =
  | PrepareMessage
  | PromiseMessage
  | AcceptMessage
  | HeartbeatMessage
  | AcceptedMessage
  | ForwardMessage
  | ForwardRejectMessage
  | FetchMessage
  | LearnMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | SnapshotAckMessage

export interface DecodeLimits {
  readonly maxCommandBytes: number
  readonly maxSnapshotBytes: number
  /** Most slots (or commands) in one message. */
  readonly maxSlotsPerMessage: number
}

function body(m: PaxosMessage): unknown[] {
  switch (m.type) {
    case MessageType.Prepare:
      return [m.ballot, m.watermark, m.probe, m.force]
    case MessageType.Promise:
      return [m.ballot, m.ok, m.probe, m.promised, m.chosen, m.behind, m.chosenValues, m.accepted]
    case MessageType.Accept:
      return [m.ballot, m.first, m.values, m.commit]
    case MessageType.Heartbeat:
      return [m.ballot, m.commit, m.read]
    case MessageType.Accepted:
      return [m.ballot, m.ok, m.promised, m.first, m.count, m.chosen, m.read]
    case MessageType.Forward:
      return [m.nonce, m.firstCounter, m.commands]
    case MessageType.ForwardReject:
      return [m.nonce, m.firstCounter, m.count, m.leader]
    case MessageType.Fetch:
      return [m.from]
    case MessageType.Learn:
      return [m.first, m.entries, m.chosen]
    case MessageType.Snapshot:
      return [m.index, m.term, m.meta, m.total, m.offset, m.chunk, m.checksum, m.chosen]
    case MessageType.TimeoutNow:
      return [m.ballot]
    case MessageType.SnapshotAck:
      return [m.index, m.nextOffset, m.done]
  }
}

/** The messages of every write, written by hand (hot-codec.ts): the same bytes as the generic path. */
function encodeHot(m: PaxosMessage): Uint8Array | undefined {
  const w = hotWriter()
  w.raw(Uint8Array.of(WIRE_VERSION, m.type))
  switch (m.type) {
    case MessageType.Accept:
      w.head(4, 4).head(0, m.ballot).head(0, m.first).head(4, m.values.length)
      for (const v of m.values) w.bytes(v)
      return w.head(0, m.commit).copy()
    case MessageType.Heartbeat:
      return w.head(4, 3).head(0, m.ballot).head(0, m.commit).head(0, m.read).copy()
    case MessageType.Accepted:
      w.head(4, 7).head(0, m.ballot)
      writeBool(w, m.ok)
      return w.head(0, m.promised).head(0, m.first).head(0, m.count).head(0, m.chosen).head(0, m.read).copy()
    default:
      return undefined
  }
}

export function encodeMessage(m: PaxosMessage): Uint8Array {
  const hot = encodeHot(m)
  if (hot !== undefined) return hot
  const payload = encodeCanonical(body(m))
  const out = new Uint8Array(payload.byteLength + 2)
  out[0] = WIRE_VERSION
  out[1] = m.type
  out.set(payload, 2)
  return out
}

function fields(items: unknown[], count: number, what: string): unknown[] {
  if (items.length !== count) throw new InvalidMessageError(`${what} has ${items.length} fields, expected ${count}`)
  return items
}

/** A slot value: bytes that decode as a valid SlotValue. */
function value(raw: unknown, limits: DecodeLimits, what: string): Uint8Array {
  const bytes = expectBytes(raw, what, limits.maxCommandBytes + 64)
  decodeValue(bytes, limits.maxCommandBytes)
  return bytes
}

/** A positive slot number. */
function slot(raw: unknown, what: string): number {
  const s = expectUint(raw, what)
  if (s === 0) throw new InvalidMessageError(`${what} must be at least 1`)
  return s
}

/**
 * Accept, Heartbeat and Accepted in exactly the canonical shape the encoder writes, read by hand;
 * undefined for anything else, which the generic decoder then accepts or refuses as always.
 */
function decodeHot(bytes: Uint8Array, limits: DecodeLimits): PaxosMessage | undefined {
  const type = bytes[1]!
  if (bytes.byteLength - 2 > limits.maxSnapshotBytes + 1024) return undefined
  const r = new HotReader(bytes, 2)
  if (type === MessageType.Accept) {
    if (r.head(4) !== 4) return undefined
    const ballot = r.uint()
    const first = r.uint()
    const n = r.head(4)
    if (ballot === undefined || ballot === 0 || first === undefined || first === 0 || n === undefined || n > limits.maxSlotsPerMessage) return undefined
    const values: Uint8Array[] = []
    for (let i = 0; i < n; i++) {
      const v = r.byteString(limits.maxCommandBytes + 64)
      if (v === undefined) return undefined
      decodeValue(v, limits.maxCommandBytes) // throws on a bad value, as the generic path does
      values.push(v)
    }
    const commit = r.uint()
    if (commit === undefined || !r.atEnd) return undefined
    return { type: MessageType.Accept, ballot, first, values, commit }
  }
  if (type === MessageType.Heartbeat) {
    if (r.head(4) !== 3) return undefined
    const ballot = r.uint()
    const commit = r.uint()
    const read = r.uint()
    if (ballot === undefined || ballot === 0 || commit === undefined || read === undefined || !r.atEnd) return undefined
    return { type: MessageType.Heartbeat, ballot, commit, read }
  }
  if (type === MessageType.Accepted) {
    if (r.head(4) !== 7) return undefined
    const ballot = r.uint()
    const ok = r.bool()
    const promised = r.uint()
    const first = r.uint()
    const count = r.uint()
    const chosen = r.uint()
    const read = r.uint()
    if (ballot === undefined || ballot === 0 || ok === undefined || promised === undefined || first === undefined || first === 0) return undefined
    if (count === undefined || count > limits.maxSlotsPerMessage || chosen === undefined || read === undefined || !r.atEnd) return undefined
    return { type: MessageType.Accepted, ballot, ok, promised, first, count, chosen, read }
  }
  return undefined
}

export function decodeMessage(bytes: Uint8Array, limits: DecodeLimits): PaxosMessage {
  if (bytes.byteLength < 3) throw new InvalidMessageError('message too short')
  if (bytes[0] !== WIRE_VERSION) throw new InvalidMessageError(`unknown wire version ${bytes[0]}`)
  const hot = decodeHot(bytes, limits)
  if (hot !== undefined) return hot
  const type = bytes[1]!
  const max = limits.maxSlotsPerMessage
  const items = expectArray(decodeCanonical(bytes.subarray(2), limits.maxSnapshotBytes + 1024), 'message body', 8)
  switch (type) {
    case MessageType.Prepare: {
      const f = fields(items, 4, 'Prepare')
      return {
        type,
        ballot: slot(f[0], 'ballot'),
        watermark: expectUint(f[1], 'watermark'),
        probe: expectBoolean(f[2], 'probe'),
        force: expectBoolean(f[3], 'force'),
      }
    }
    case MessageType.Promise: {
      const f = fields(items, 8, 'Promise')
      const chosenValues = expectArray(f[6], 'chosen values', max).map((e) => {
        const pair = fields(expectArray(e, 'chosen value'), 2, 'chosen value')
        return [slot(pair[0], 'slot'), value(pair[1], limits, 'value')] as const
      })
      const accepted = expectArray(f[7], 'accepted', max).map((e) => {
        const triple = fields(expectArray(e, 'accepted value'), 3, 'accepted value')
        return [slot(triple[0], 'slot'), slot(triple[1], 'ballot'), value(triple[2], limits, 'value')] as const
      })
      return {
        type,
        ballot: slot(f[0], 'ballot'),
        ok: expectBoolean(f[1], 'ok'),
        probe: expectBoolean(f[2], 'probe'),
        promised: expectUint(f[3], 'promised'),
        chosen: expectUint(f[4], 'chosen'),
        behind: expectBoolean(f[5], 'behind'),
        chosenValues,
        accepted,
      }
    }
    case MessageType.Accept: {
      const f = fields(items, 4, 'Accept')
      const values = expectArray(f[2], 'values', max).map((v) => value(v, limits, 'value'))
      return { type, ballot: slot(f[0], 'ballot'), first: slot(f[1], 'first'), values, commit: expectUint(f[3], 'commit') }
    }
    case MessageType.Heartbeat: {
      const f = fields(items, 3, 'Heartbeat')
      return { type, ballot: slot(f[0], 'ballot'), commit: expectUint(f[1], 'commit'), read: expectUint(f[2], 'read') }
    }
    case MessageType.Accepted: {
      const f = fields(items, 7, 'Accepted')
      const count = expectUint(f[4], 'count')
      if (count > max) throw new InvalidMessageError(`Accepted covers ${count} slots, over ${max}`)
      return {
        type,
        ballot: slot(f[0], 'ballot'),
        ok: expectBoolean(f[1], 'ok'),
        promised: expectUint(f[2], 'promised'),
        first: slot(f[3], 'first'),
        count,
        chosen: expectUint(f[5], 'chosen'),
        read: expectUint(f[6], 'read'),
      }
    }
    case MessageType.Forward: {
      const f = fields(items, 3, 'Forward')
      const commands = expectArray(f[2], 'commands', max).map((c) => expectBytes(c, 'command', limits.maxCommandBytes))
      if (commands.length === 0) throw new InvalidMessageError('Forward carries no command')
      return { type, nonce: slot(f[0], 'nonce'), firstCounter: slot(f[1], 'firstCounter'), commands }
    }
    case MessageType.ForwardReject: {
      const f = fields(items, 4, 'ForwardReject')
      const count = expectUint(f[2], 'count')
      if (count > max) throw new InvalidMessageError(`ForwardReject covers ${count} commands, over ${max}`)
      return { type, nonce: slot(f[0], 'nonce'), firstCounter: slot(f[1], 'firstCounter'), count, leader: expectString(f[3], 'leader', 1024) }
    }
    case MessageType.Fetch: {
      const f = fields(items, 1, 'Fetch')
      return { type, from: slot(f[0], 'from') }
    }
    case MessageType.Learn: {
      const f = fields(items, 3, 'Learn')
      const entries = expectArray(f[1], 'entries', max).map((e) => {
        const pair = fields(expectArray(e, 'entry'), 2, 'entry')
        return [expectUint(pair[0], 'ballot'), value(pair[1], limits, 'value')] as const
      })
      return { type, first: slot(f[0], 'first'), entries, chosen: expectUint(f[2], 'chosen') }
    }
    case MessageType.Snapshot: {
      const f = fields(items, 8, 'Snapshot')
      const meta = expectBytes(f[2], 'meta', 1 << 21)
      decodeMembership(meta)
      const total = expectUint(f[3], 'total')
      if (total > limits.maxSnapshotBytes) throw new InvalidMessageError(`snapshot of ${total} bytes is over ${limits.maxSnapshotBytes}`)
      const offset = expectUint(f[4], 'offset')
      const chunk = expectBytes(f[5], 'chunk', limits.maxSnapshotBytes)
      if (offset + chunk.byteLength > total) throw new InvalidMessageError('snapshot chunk beyond the snapshot')
      const checksum = expectUint(f[6], 'checksum')
      if (checksum > 0xffff_ffff) throw new InvalidMessageError('checksum over 32 bits')
      return { type, index: slot(f[0], 'index'), term: expectUint(f[1], 'term'), meta, total, offset, chunk, checksum, chosen: expectUint(f[7], 'chosen') }
    }
    case MessageType.SnapshotAck: {
      const f = fields(items, 3, 'SnapshotAck')
      return { type, index: slot(f[0], 'index'), nextOffset: expectUint(f[1], 'nextOffset'), done: expectBoolean(f[2], 'done') }
    }
    case MessageType.TimeoutNow: {
      const f = fields(items, 1, 'TimeoutNow')
      return { type, ballot: slot(f[0], 'ballot') }
    }
    default:
      throw new InvalidMessageError(`unknown message type ${type}`)
  }
}
