import { fromUtf8, InvalidMessageError, MAX_MEMBER_META_BYTES, utf8, type Member, type Membership } from '@synod/core'
import { ByteReader, ByteWriter, UINT_BYTES } from './binary.js'

// Raft log entry payloads: one kind byte, then the body. Application commands
// are copied once behind the kind byte; no-ops are a single byte.

export const EntryKind = {
  /** An application command, handed to ctx.commit once committed. */
  Command: 0,
  /** The entry a new leader appends to commit an entry of its own term (§5.4.2, §8). */
  Noop: 1,
  /** A configuration (membership) entry; takes effect when applied (one pending at a time). */
  Config: 2,
  /**
   * An application command a follower forwarded to the leader, tagged with the
   * follower's (nonce, counter) so that the follower recognises it when it
   * applies it and answers its own client. Applied like a Command everywhere.
   */
  Forwarded: 3,
} as const
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind]

const noopData = new Uint8Array([EntryKind.Noop])

export function noopEntryData(): Uint8Array {
  return noopData
}

export function commandEntryData(command: Uint8Array): Uint8Array {
  const data = new Uint8Array(command.byteLength + 1)
  data[0] = EntryKind.Command
  data.set(command, 1)
  return data
}

const FORWARD_TAG_BYTES = 2 * UINT_BYTES

export function forwardedEntryData(nonce: number, counter: number, command: Uint8Array): Uint8Array {
  const w = new ByteWriter(1 + FORWARD_TAG_BYTES + command.byteLength)
  w.u8(EntryKind.Forwarded)
  w.uint(nonce)
  w.uint(counter)
  w.raw(command)
  return w.finish()
}

/** The (nonce, counter) of a Forwarded entry. */
export function entryForwardTag(data: Uint8Array): { nonce: number; counter: number } {
  const r = new ByteReader(data.subarray(1, 1 + FORWARD_TAG_BYTES))
  return { nonce: r.uint('forward nonce'), counter: r.uint('forward counter') }
}

export function configEntryData(membership: Membership): Uint8Array {
  const body = encodeMembership(membership)
  const data = new Uint8Array(body.byteLength + 1)
  data[0] = EntryKind.Config
  data.set(body, 1)
  return data
}

export function entryKind(data: Uint8Array): EntryKind {
  return data[0] as EntryKind
}

/** The application command inside a Command or Forwarded entry (a view, no copy). */
export function entryCommand(data: Uint8Array): Uint8Array {
  return data[0] === EntryKind.Forwarded ? data.subarray(1 + FORWARD_TAG_BYTES) : data.subarray(1)
}

export function entryMembership(data: Uint8Array): Membership {
  return decodeMembership(data.subarray(1))
}

/** Throws InvalidMessageError unless `data` is a well-formed entry payload. */
export function validateEntryData(data: Uint8Array): void {
  if (data.byteLength === 0) throw new InvalidMessageError('empty log entry')
  const kind = data[0]
  if (kind === EntryKind.Command) return
  if (kind === EntryKind.Forwarded) {
    if (data.byteLength < 1 + FORWARD_TAG_BYTES) throw new InvalidMessageError('forwarded entry is shorter than its tag')
    entryForwardTag(data)
    return
  }
  if (kind === EntryKind.Noop) {
    if (data.byteLength !== 1) throw new InvalidMessageError('no-op entry carries a body')
    return
  }
  if (kind === EntryKind.Config) {
    decodeMembership(data.subarray(1))
    return
  }
  throw new InvalidMessageError(`unknown log entry kind ${String(kind)}`)
}

// ---- Membership: config entries and snapshot meta ----
//
// epoch u64, voters (u32 count, then id / key / meta as u16-prefixed bytes
// each), learners (the same). A joint configuration (joint consensus) adds a
// third list, the outgoing voters, which must not be empty. A configuration
// that is not joint therefore encodes exactly as before joint consensus
// existed, so logs and snapshots written earlier still decode; a joint one is
// refused by an older decoder (trailing bytes) rather than misread.

const MAX_MEMBERS = 1024

type EncodedMember = { id: Uint8Array; key: Uint8Array; meta: Uint8Array }

export function encodeMembership(membership: Membership): Uint8Array {
  const encode = (members: readonly Member[]): EncodedMember[] => members.map((m) => ({ id: utf8(m.id), key: m.publicKey, meta: m.meta ?? EMPTY }))
  const lists = [encode(membership.voters), encode(membership.learners)]
  if (membership.outgoing !== undefined) {
    if (membership.outgoing.length === 0) throw new Error('a joint configuration needs outgoing voters')
    lists.push(encode(membership.outgoing))
  }
  let size = UINT_BYTES
  for (const list of lists) {
    size += 4
    for (const m of list) size += 2 + m.id.byteLength + 2 + m.key.byteLength + 2 + m.meta.byteLength
  }
  const writer = new ByteWriter(size)
  writer.uint(membership.epoch)
  for (const list of lists) {
    writer.u32(list.length)
    for (const m of list) {
      writer.shortBytes(m.id)
      writer.shortBytes(m.key)
      writer.shortBytes(m.meta)
    }
  }
  return writer.finish()
}

const EMPTY = new Uint8Array(0)

export function decodeMembership(bytes: Uint8Array): Membership {
  const reader = new ByteReader(bytes)
  const epoch = reader.uint('membership epoch')
  const readList = (what: string, seen: Set<string>): Member[] => {
    const count = reader.u32(`${what} count`)
    if (count > MAX_MEMBERS) throw new InvalidMessageError(`${what} count ${count} over ${MAX_MEMBERS}`)
    const out: Member[] = []
    for (let i = 0; i < count; i++) {
      const id = fromUtf8(reader.shortBytes(`${what} id`))
      if (id.length === 0) throw new InvalidMessageError(`${what} has an empty id`)
      if (seen.has(id)) throw new InvalidMessageError(`member ${id} appears twice`)
      seen.add(id)
      const publicKey = reader.shortBytes(`${what} key`).slice()
      const meta = reader.shortBytes(`${what} meta`)
      if (meta.byteLength > MAX_MEMBER_META_BYTES) throw new InvalidMessageError(`member ${id} meta is over ${MAX_MEMBER_META_BYTES} bytes`)
      out.push(meta.byteLength === 0 ? { id, publicKey } : { id, publicKey, meta: meta.slice() })
    }
    return out
  }
  const members = new Set<string>()
  const voters = readList('voters', members)
  const learners = readList('learners', members)
  if (reader.remaining === 0) return { epoch, voters, learners }
  // Joint: the outgoing voters, a list of its own (they may also be incoming voters or learners).
  const outgoing = readList('outgoing', new Set<string>())
  if (outgoing.length === 0) throw new InvalidMessageError('joint configuration without outgoing voters')
  reader.end('membership')
  return { epoch, voters, learners, outgoing }
}
