import { utf8 } from '@synod/core'
import { encodeCommand, encodeTextValueCommand, type KvSession, type ListMode } from './command.js'
import type { TxnCompare, TxnOp } from './txn.js'
import type { ClientRole } from './roles.js'

/** A value given by a client: bytes, or text stored as its UTF-8 bytes. */
export type KvInput = Uint8Array | string

function bytesOf(value: KvInput): Uint8Array {
  return typeof value === 'string' ? utf8(value) : value
}

function withSession(session: KvSession | undefined): { session?: KvSession } {
  return session === undefined ? {} : { session }
}

/**
 * Client-side builders of encoded commands, ready to propose (writes) or to
 * read (`get`, `list`). Writes take an optional session for exactly-once
 * retries: retry with the same `{ client, seq }` after a timeout.
 */
export const kvCommands = {
  get: (key: string): Uint8Array => encodeCommand({ op: 'get', key }),
  list: (
    prefix: string,
    options: {
      readonly after?: string
      readonly start?: string
      readonly end?: string
      readonly limit?: number
      readonly mode?: ListMode
      /** Read as of this past revision (etcd's `--rev`); absent: now. */
      readonly revision?: number
    } = {},
  ): Uint8Array =>
    encodeCommand({
      op: 'list',
      prefix,
      ...(options.after === undefined ? {} : { after: options.after }),
      ...(options.start === undefined ? {} : { start: options.start }),
      ...(options.end === undefined ? {} : { end: options.end }),
      limit: options.limit ?? 100,
      ...(options.mode === undefined || options.mode === 'keys' ? {} : { mode: options.mode }),
      ...(options.revision === undefined ? {} : { revision: options.revision }),
    }),
  /** `lease`: attach the key to that lease (deleted when it ends). */
  put: (key: string, value: KvInput, session?: KvSession, lease?: number): Uint8Array =>
    lease !== undefined
      ? encodeCommand({ op: 'put', key, value: bytesOf(value), lease, ...withSession(session) })
      : typeof value === 'string'
        ? encodeTextValueCommand('put', key, value, session)
        : encodeCommand({ op: 'put', key, value, ...withSession(session) }),
  delete: (key: string, session?: KvSession): Uint8Array => encodeCommand({ op: 'delete', key, ...withSession(session) }),
  /** `expected` null: succeed only if the key is absent. */
  cas: (key: string, expected: KvInput | null, value: KvInput, session?: KvSession): Uint8Array =>
    encodeCommand({
      op: 'cas',
      key,
      expected: expected === null ? null : bytesOf(expected),
      value: bytesOf(value),
      ...withSession(session),
    }),
  append: (key: string, element: KvInput, session?: KvSession): Uint8Array =>
    typeof element === 'string' ? encodeTextValueCommand('append', key, element, session) : encodeCommand({ op: 'append', key, value: element, ...withSession(session) }),
  /** Give `subject` (a client id) a role; `prefix` limits a readwrite or readonly client to keys starting with it. */
  roleGrant: (subject: string, role: ClientRole, prefix?: string, session?: KvSession): Uint8Array =>
    encodeCommand({ op: 'role-grant', subject, role, ...(prefix === undefined || prefix === '' ? {} : { prefix }), ...withSession(session) }),
  roleRevoke: (subject: string, session?: KvSession): Uint8Array => encodeCommand({ op: 'role-revoke', subject, ...withSession(session) }),
  roleList: (): Uint8Array => encodeCommand({ op: 'role-list' }),
  /** etcd's Txn: `success` if every comparison holds, else `failure`; atomically, at one revision. */
  txn: (compare: readonly TxnCompare[], success: readonly TxnOp[], failure: readonly TxnOp[] = [], session?: KvSession): Uint8Array =>
    encodeCommand({ op: 'txn', compare, success, failure, ...withSession(session) }),
  /** Grant a lease of `ttl` seconds; its id is the log index of the grant. */
  leaseGrant: (ttl: number, session?: KvSession): Uint8Array => encodeCommand({ op: 'lease-grant', ttl, ...withSession(session) }),
  leaseKeepAlive: (id: number, session?: KvSession): Uint8Array => encodeCommand({ op: 'lease-keepalive', id, ...withSession(session) }),
  leaseRevoke: (id: number, session?: KvSession): Uint8Array => encodeCommand({ op: 'lease-revoke', id, ...withSession(session) }),
  /** The leader's expiry proposal: expires lease `id` only if its last renewal is still `renewed`. */
  leaseExpire: (id: number, renewed: number): Uint8Array => encodeCommand({ op: 'lease-expire', id, renewed }),
  /** Clear the no-space alarm once the data is back under the quota. */
  disarm: (session?: KvSession): Uint8Array => encodeCommand({ op: 'disarm', ...withSession(session) }),
} as const
