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

/** The application command inside a Command entry (a view, no copy). */
export function entryCommand(data: Uint8Array): Uint8Array {
  return data.subarray(1)
}

export function entryMembership(data: Uint8Array): Membership {
  return decodeMembership(data.subarray(1))
}

/** Throws InvalidMessageError unless `data` is a well-formed entry payload. */
export function validateEntryData(data: Uint8Array): void {
  if (data.byteLength === 0) throw new InvalidMessageError('empty log entry')
  const kind = data[0]
  if (kind === EntryKind.Command) return
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

const MAX_MEMBERS = 1024

export function encodeMembership(membership: Membership): Uint8Array {
  const encode = (members: readonly Member[]) => members.map((m) => ({ id: utf8(m.id), key: m.publicKey, meta: m.meta ?? EMPTY }))
  const voters = encode(membership.voters)
  const learners = encode(membership.learners)
  let size = UINT_BYTES + 4 + 4
  for (const m of [...voters, ...learners]) size += 2 + m.id.byteLength + 2 + m.key.byteLength + 2 + m.meta.byteLength
  const writer = new ByteWriter(size)
  writer.uint(membership.epoch)
  for (const list of [voters, learners]) {
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
  const seen = new Set<string>()
  const readList = (what: string): Member[] => {
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
  const voters = readList('voters')
  const learners = readList('learners')
  reader.end('membership')
  return { epoch, voters, learners }
}
