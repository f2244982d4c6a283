import {
  CborWriter,
  decodeCanonical,
  encodeCanonical,
  expectBytes,
  expectOneOf,
  expectOnlyKeys,
  expectRecord,
  expectString,
  expectUint,
  InvalidMessageError,
  type Fields,
} from '@synod/core'
import { plainBytes } from './bytes.js'
import { expectClientId, expectRole, type ClientRole } from './roles.js'
import { txnFromFields, txnToFields, type TxnCompare, type TxnOp } from './txn.js'

/**
 * An exactly-once session tag: a client numbers its writes; a retry carries
 * the same `seq` and gets the first answer back instead of a second apply.
 */
export interface KvSession {
  /** Any stable id of the client (at most 256 characters). */
  readonly client: string
  /** Non-negative integer, increasing per client. */
  readonly seq: number
}

export type KvCommand =
  | { readonly op: 'get'; readonly key: string; readonly session?: KvSession }
  | {
      readonly op: 'list'
      readonly prefix: string
      /** Only keys strictly after this one: the cursor of the next page. */
      readonly after?: string
      /** etcd's range: only keys ≥ start and < end (code-unit order), besides the prefix. */
      readonly start?: string
      readonly end?: string
      readonly limit: number
      /** 'keys' (default): the keys; 'values': each key with its value; 'count': only how many keys match. */
      readonly mode?: ListMode
      /** Read the keys as they were at this past revision (≥ 1; absent: now), within the watch history's window. */
      readonly revision?: number
      readonly session?: KvSession
    }
  /** `lease`: attach the key to this lease (deleted with it); a put without one detaches the key, as etcd's. */
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease?: number; readonly session?: KvSession }
  | { readonly op: 'delete'; readonly key: string; readonly session?: KvSession }
  | {
      readonly op: 'cas'
      readonly key: string
      /** The value the key must hold (bytes), or null for "the key is absent". */
      readonly expected: Uint8Array | null
      readonly value: Uint8Array
      readonly session?: KvSession
    }
  /** Append one element to the list at `key` (creating it when absent). */
  | { readonly op: 'append'; readonly key: string; readonly value: Uint8Array; readonly session?: KvSession }
  /** Give client `subject` (its id: hex ed25519 public key) a role, optionally limited to keys under `prefix` (roles.ts). */
  | { readonly op: 'role-grant'; readonly subject: string; readonly role: ClientRole; readonly prefix?: string; readonly session?: KvSession }
  | { readonly op: 'role-revoke'; readonly subject: string; readonly session?: KvSession }
  /** Every grant, sorted by client id (a read). */
  | { readonly op: 'role-list'; readonly session?: KvSession }
  /** Clear the no-space alarm (an admin action; refused while the data is still over the quota). */
  | { readonly op: 'disarm'; readonly session?: KvSession }
  /** etcd's Txn: `success` runs if every comparison holds, else `failure` — atomically, at one revision (txn.ts). */
  | {
      readonly op: 'txn'
      readonly compare: readonly TxnCompare[]
      readonly success: readonly TxnOp[]
      readonly failure: readonly TxnOp[]
      readonly session?: KvSession
    }
  /** Leases (leases.ts): grant one of `ttl` seconds (its id is the grant's log index), keep it alive, revoke it. */
  | { readonly op: 'lease-grant'; readonly ttl: number; readonly session?: KvSession }
  | { readonly op: 'lease-keepalive'; readonly id: number; readonly session?: KvSession }
  | { readonly op: 'lease-revoke'; readonly id: number; readonly session?: KvSession }
  /** Proposed by the leader when its clock says the lease ran out: expires it only if not renewed after `renewed`. */
  | { readonly op: 'lease-expire'; readonly id: number; readonly renewed: number; readonly session?: KvSession }

/** What a `list` returns: keys, keys with values, or a count. */
export type ListMode = 'keys' | 'values' | 'count'
export const LIST_MODES: readonly ListMode[] = ['keys', 'values', 'count']

export type KvOp = KvCommand['op']
export const KV_OPS: readonly KvOp[] = [
  'get',
  'list',
  'put',
  'delete',
  'cas',
  'append',
  'disarm',
  'role-grant',
  'role-revoke',
  'role-list',
  'txn',
  'lease-grant',
  'lease-keepalive',
  'lease-revoke',
  'lease-expire',
]
/** Commands that only read; `query` answers these without touching state. */
export const KV_READ_OPS: readonly KvOp[] = ['get', 'list', 'role-list']

export const MAX_CLIENT_ID_LENGTH = 256
/**
 * Structural ceilings of the codec; the state machine's configurable limits
 * (KvLimits, usually far smaller) are checked when a command is applied.
 */
export const MAX_ENCODED_COMMAND_BYTES = 64 * 1024 * 1024
const MAX_KEY_CHARS = 1024 * 1024

/** Canonical CBOR of a command; the session is flattened into `client` and `seq`. */
export function encodeCommand(command: KvCommand): Uint8Array {
  return encodeKeyCommand(command) ?? encodeCanonical(commandToFields(command))
}

// The map keys of the hot commands, as CBOR text; canonical order is shortest first, then bytewise:
// op, key, seq, value, client.
const textKey = (name: string): Uint8Array => Uint8Array.of(0x60 | name.length, ...Array.from(name, (c) => c.charCodeAt(0)))
const K_OP = textKey('op')
const K_KEY = textKey('key')
const K_SEQ = textKey('seq')
const K_VALUE = textKey('value')
const K_CLIENT = textKey('client')
const OP_TEXT: Partial<Record<KvOp, Uint8Array>> = { get: textKey('get'), put: textKey('put'), delete: textKey('delete'), append: textKey('append') }
const textEncoder = new TextEncoder()

/**
 * get, put, delete and append — every client write and read, encoded at each edge and again for the
 * log — written by hand with CborWriter: the same bytes as encodeCanonical (tested against it), without
 * building a field object and sorting its keys per request. Undefined for every other command.
 */
function encodeKeyCommand(command: KvCommand): Uint8Array | undefined {
  const opText = OP_TEXT[command.op]
  if (opText === undefined) return undefined
  const { key, session } = command as { key: string; session?: KvSession }
  // A put attached to a lease takes the generic encoder.
  if ((command as { lease?: number }).lease !== undefined) return undefined
  const value = command.op === 'put' || command.op === 'append' ? command.value : undefined
  if (value !== undefined && !(value instanceof Uint8Array)) return undefined
  return encodeKeyFields(opText, key, value, session)
}

/**
 * A put or append whose value is text (stored as its UTF-8 bytes): the bytes `encodeCommand` gives for
 * the value's UTF-8, with the text encoded straight into the writer instead of into a buffer of its own.
 */
export function encodeTextValueCommand(op: 'put' | 'append', key: string, value: string, session?: KvSession): Uint8Array {
  return encodeKeyFields(OP_TEXT[op]!, key, value, session) ?? encodeCommand({ op, key, value: textEncoder.encode(value), ...(session === undefined ? {} : { session }) })
}

/** One writer reused by every hot encoding (synchronous, never nested): only the result is allocated. */
const keyCommandWriter = new CborWriter(1024)

function encodeKeyFields(opText: Uint8Array, key: string, value: Uint8Array | string | undefined, session: KvSession | undefined): Uint8Array | undefined {
  if (typeof key !== 'string') return undefined
  if (session !== undefined && (typeof session.client !== 'string' || !Number.isSafeInteger(session.seq) || session.seq < 0)) return undefined
  const w = keyCommandWriter.reset()
  w.head(5, 2 + (value === undefined ? 0 : 1) + (session === undefined ? 0 : 2))
  w.raw(K_OP).raw(opText)
  w.raw(K_KEY).text(key)
  if (session !== undefined) w.raw(K_SEQ).head(0, session.seq)
  if (typeof value === 'string') w.raw(K_VALUE).textAsBytes(value)
  else if (value !== undefined) w.raw(K_VALUE).bytes(value)
  if (session !== undefined) w.raw(K_CLIENT).text(session.client)
  return w.copy()
}

function commandToFields(command: KvCommand): Fields {
  const fields: Fields = { op: command.op }
  switch (command.op) {
    case 'get':
    case 'delete':
      fields['key'] = command.key
      break
    case 'list':
      fields['prefix'] = command.prefix
      if (command.after !== undefined) fields['after'] = command.after
      if (command.start !== undefined) fields['start'] = command.start
      if (command.end !== undefined) fields['end'] = command.end
      fields['limit'] = command.limit
      // Absent for 'keys', so the encoding of a plain list is what it always was.
      if (command.mode !== undefined && command.mode !== 'keys') fields['mode'] = command.mode
      if (command.revision !== undefined) fields['revision'] = command.revision
      break
    case 'put':
    case 'append':
      fields['key'] = command.key
      fields['value'] = command.value
      if (command.op === 'put' && command.lease !== undefined) fields['lease'] = command.lease
      break
    case 'lease-grant':
      fields['ttl'] = command.ttl
      break
    case 'lease-keepalive':
    case 'lease-revoke':
      fields['id'] = command.id
      break
    case 'lease-expire':
      fields['id'] = command.id
      fields['renewed'] = command.renewed
      break
    case 'cas':
      fields['key'] = command.key
      fields['expected'] = command.expected
      fields['value'] = command.value
      break
    case 'role-grant':
      fields['subject'] = command.subject
      fields['role'] = command.role
      if (command.prefix !== undefined && command.prefix !== '') fields['prefix'] = command.prefix
      break
    case 'role-revoke':
      fields['subject'] = command.subject
      break
    case 'role-list':
    case 'disarm':
      break
    case 'txn':
      Object.assign(fields, txnToFields(command.compare, command.success, command.failure))
      break
  }
  if (command.session !== undefined) {
    fields['client'] = command.session.client
    fields['seq'] = command.session.seq
  }
  return fields
}

/** Decode and validate a command. Any malformed input throws InvalidMessageError naming the field. */
export function decodeCommand(bytes: Uint8Array): KvCommand {
  return commandFromValue(decodeCanonical(plainBytes(bytes), MAX_ENCODED_COMMAND_BYTES))
}

const fieldsByOp: Record<KvOp, readonly string[]> = {
  get: ['op', 'key'],
  delete: ['op', 'key'],
  list: ['op', 'prefix', 'after', 'start', 'end', 'limit', 'mode', 'revision'],
  put: ['op', 'key', 'value', 'lease'],
  append: ['op', 'key', 'value'],
  cas: ['op', 'key', 'expected', 'value'],
  'role-grant': ['op', 'subject', 'role', 'prefix'],
  'role-revoke': ['op', 'subject'],
  'role-list': ['op'],
  disarm: ['op'],
  txn: ['op', 'compare', 'success', 'failure'],
  'lease-grant': ['op', 'ttl'],
  'lease-keepalive': ['op', 'id'],
  'lease-revoke': ['op', 'id'],
  'lease-expire': ['op', 'id', 'renewed'],
}

/** Validate a command already decoded from CBOR (e.g. nested in a larger message). */
export function commandFromValue(value: unknown): KvCommand {
  const record = expectRecord(value, 'kv command')
  const op = expectOneOf(record['op'], KV_OPS, 'kv command op')
  expectOnlyKeys(record, [...fieldsByOp[op], 'client', 'seq'], `kv ${op} command`)
  const session = sessionFrom(record)
  const withSession = session === undefined ? {} : { session }
  switch (op) {
    case 'get':
    case 'delete':
      return { op, key: keyFrom(record['key'], 'key'), ...withSession }
    case 'list': {
      const after = record['after'] === undefined ? undefined : keyFrom(record['after'], 'after')
      const start = record['start'] === undefined ? undefined : keyFrom(record['start'], 'start')
      const end = record['end'] === undefined ? undefined : keyFrom(record['end'], 'end')
      return {
        op,
        prefix: keyFrom(record['prefix'], 'prefix'),
        ...(after === undefined ? {} : { after }),
        ...(start === undefined ? {} : { start }),
        ...(end === undefined ? {} : { end }),
        limit: expectUint(record['limit'], 'limit'),
        ...(record['mode'] === undefined ? {} : { mode: listModeFrom(record['mode']) }),
        ...(record['revision'] === undefined ? {} : { revision: revisionFrom(record['revision']) }),
        ...withSession,
      }
    }
    case 'put': {
      const lease = record['lease'] === undefined ? {} : { lease: expectUint(record['lease'], 'lease') }
      return { op, key: keyFrom(record['key'], 'key'), value: expectBytes(record['value'], 'value'), ...lease, ...withSession }
    }
    case 'append':
      return { op, key: keyFrom(record['key'], 'key'), value: expectBytes(record['value'], 'value'), ...withSession }
    case 'lease-grant':
      return { op, ttl: expectUint(record['ttl'], 'ttl'), ...withSession }
    case 'lease-keepalive':
    case 'lease-revoke':
      return { op, id: expectUint(record['id'], 'id'), ...withSession }
    case 'lease-expire':
      return { op, id: expectUint(record['id'], 'id'), renewed: expectUint(record['renewed'], 'renewed'), ...withSession }
    case 'cas': {
      if (!('expected' in record)) throw new InvalidMessageError('kv cas command needs expected (bytes, or null for absent)')
      const expected = record['expected'] === null ? null : expectBytes(record['expected'], 'expected')
      return { op, key: keyFrom(record['key'], 'key'), expected, value: expectBytes(record['value'], 'value'), ...withSession }
    }
    case 'role-grant': {
      const role = expectRole(record['role'], 'role')
      const prefix = record['prefix'] === undefined ? undefined : keyFrom(record['prefix'], 'prefix')
      if (prefix === '') throw new InvalidMessageError("role-grant prefix '' is written as no prefix")
      if (role === 'admin' && prefix !== undefined) throw new InvalidMessageError('an admin role takes no prefix')
      return { op, subject: expectClientId(record['subject'], 'subject'), role, ...(prefix === undefined ? {} : { prefix }), ...withSession }
    }
    case 'role-revoke':
      return { op, subject: expectClientId(record['subject'], 'subject'), ...withSession }
    case 'role-list':
    case 'disarm':
      return { op, ...withSession }
    case 'txn':
      return { op, ...txnFromFields(record), ...withSession }
  }
}

function listModeFrom(value: unknown): ListMode {
  const mode = expectOneOf(value, LIST_MODES, 'mode')
  // 'keys' is written as no mode: one encoding per command.
  if (mode === 'keys') throw new InvalidMessageError("list mode 'keys' is written as no mode")
  return mode
}

function revisionFrom(value: unknown): number {
  const revision = expectUint(value, 'revision')
  // One encoding per read: the current state is asked for without a revision.
  if (revision < 1) throw new InvalidMessageError('list revision must be at least 1 (omit it to read the current state)')
  return revision
}

function keyFrom(value: unknown, what: string): string {
  return expectString(value, what, MAX_KEY_CHARS)
}

function sessionFrom(record: Fields): KvSession | undefined {
  const hasClient = record['client'] !== undefined
  const hasSeq = record['seq'] !== undefined
  if (!hasClient && !hasSeq) return undefined
  if (hasClient !== hasSeq) throw new InvalidMessageError('a kv session needs both client and seq')
  const client = expectString(record['client'], 'client', MAX_CLIENT_ID_LENGTH)
  return { client, seq: expectUint(record['seq'], 'seq') }
}
