import {
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
  InvalidMessageError,
  type Fields,
} from '@synod/core'
import { RolesTable, type ClientRole } from './roles.js'

/** A stored value: bytes, or a list of byte elements built by `append`. */
export type KvValue = Uint8Array | readonly Uint8Array[]

export type KvErrorCode =
  /** cas found another value; `current` carries it (null: absent). */
  | 'cas-mismatch'
  /** The operation does not fit the stored value's type (append to bytes, cas on a list). */
  | 'wrong-type'
  /** A key, value or list is over the configured limits. */
  | 'too-large'
  /** A session retry older than the client's latest command; its answer is gone. */
  | 'stale-sequence'
  /** The command could not be decoded or is not allowed here (e.g. a write sent to `query`). */
  | 'invalid-command'
  /** The client's role does not allow the command (roles.ts), or it would remove the last admin. */
  | 'forbidden'
  /** The session is not kept (evicted, or never seen) and seq is at or below the floor: it may have run already, so it does not run again. */
  | 'session-expired'
  /** The data is over the quota, or the no-space alarm is raised: writes other than delete are refused until an admin disarms it. */
  | 'no-space'

export const KV_ERROR_CODES: readonly KvErrorCode[] = [
  'cas-mismatch',
  'wrong-type',
  'too-large',
  'stale-sequence',
  'invalid-command',
  'session-expired',
  'no-space',
  'forbidden',
]

export type KvResult =
  | { readonly ok: true; readonly op: 'get'; readonly value: KvValue | null }
  /**
   * `keys` in order (none for a count); `values[i]` is the value of `keys[i]` (mode 'values' only);
   * `count`: how many keys match (mode 'count' only); `more`: the limit cut the answer short.
   */
  | {
      readonly ok: true
      readonly op: 'list'
      readonly keys: readonly string[]
      readonly more: boolean
      readonly values?: ReadonlyArray<KvValue>
      readonly count?: number
    }
  | { readonly ok: true; readonly op: 'put' }
  | { readonly ok: true; readonly op: 'delete'; readonly existed: boolean }
  | { readonly ok: true; readonly op: 'cas' }
  /** `length`: the list's length after the append. */
  | { readonly ok: true; readonly op: 'append'; readonly length: number }
  | { readonly ok: true; readonly op: 'role-grant' }
  | { readonly ok: true; readonly op: 'role-revoke'; readonly existed: boolean }
  /** `[client, role, prefix]` sorted by client. */
  | { readonly ok: true; readonly op: 'role-list'; readonly roles: ReadonlyArray<readonly [string, ClientRole, string]> }
  /** `disarmed`: an alarm was raised and is now cleared. */
  | { readonly ok: true; readonly op: 'disarm'; readonly disarmed: boolean }
  | KvError

export interface KvError {
  readonly ok: false
  readonly code: KvErrorCode
  readonly message: string
  /** For cas-mismatch: the value found (null: absent). */
  readonly current?: KvValue | null
}

export function encodeResult(result: KvResult): Uint8Array {
  return encodeCanonical(result)
}

/** Decode and validate a result; malformed input throws InvalidMessageError. */
export function decodeResult(bytes: Uint8Array): KvResult {
  return resultFromValue(decodeCanonical(bytes))
}

export function resultFromValue(value: unknown): KvResult {
  const record = expectRecord(value, 'kv result')
  const ok = expectBoolean(record['ok'], 'ok')
  if (!ok) {
    expectOnlyKeys(record, ['ok', 'code', 'message', 'current'], 'kv error result')
    const code = expectOneOf(record['code'], KV_ERROR_CODES, 'code')
    const message = expectString(record['message'], 'message', 64 * 1024)
    if (record['current'] === undefined) return { ok, code, message }
    if (code !== 'cas-mismatch') throw new InvalidMessageError(`kv ${code} result must not carry current`)
    return { ok, code, message, current: valueOrNullFrom(record['current'], 'current') }
  }
  const op = expectOneOf(
    record['op'],
    ['get', 'list', 'put', 'delete', 'cas', 'append', 'disarm', 'role-grant', 'role-revoke', 'role-list'] as const,
    'op',
  )
  switch (op) {
    case 'get':
      only(record, ['value'], op)
      return { ok, op, value: valueOrNullFrom(record['value'], 'value') }
    case 'list': {
      expectOnlyKeys(record, ['ok', 'op', 'keys', 'more', 'values', 'count'], 'kv list result')
      const keys = expectArray(record['keys'], 'keys').map((k, i) => expectString(k, `keys[${i}]`, 1024 * 1024))
      const more = expectBoolean(record['more'], 'more')
      const count = record['count'] === undefined ? undefined : expectUint(record['count'], 'count')
      if (record['values'] === undefined) return { ok, op, keys, more, ...(count === undefined ? {} : { count }) }
      const values = expectArray(record['values'], 'values').map((v, i) => {
        const value = valueOrNullFrom(v, `values[${i}]`)
        if (value === null) throw new InvalidMessageError(`kv list result values[${i}] is null`)
        return value
      })
      if (values.length !== keys.length) throw new InvalidMessageError(`kv list result has ${keys.length} keys but ${values.length} values`)
      return { ok, op, keys, more, values }
    }
    case 'put':
    case 'cas':
    case 'role-grant':
      only(record, [], op)
      return { ok, op }
    case 'delete':
    case 'role-revoke':
      only(record, ['existed'], op)
      return { ok, op, existed: expectBoolean(record['existed'], 'existed') }
    case 'role-list':
      only(record, ['roles'], op)
      return { ok, op, roles: RolesTable.fromSnapshot(record['roles']).list() }
    case 'append':
      only(record, ['length'], op)
      return { ok, op, length: expectUint(record['length'], 'length') }
    case 'disarm':
      only(record, ['disarmed'], op)
      return { ok, op, disarmed: expectBoolean(record['disarmed'], 'disarmed') }
  }
}

function only(record: Fields, fields: readonly string[], op: string): void {
  expectOnlyKeys(record, ['ok', 'op', ...fields], `kv ${op} result`)
  for (const field of fields)
    if (record[field] === undefined) throw new InvalidMessageError(`kv ${op} result is missing ${field}`)
}

/** A value field: bytes, an array of bytes (a list), or null (absent). */
export function valueOrNullFrom(value: unknown, what: string): KvValue | null {
  if (value === null) return null
  if (Array.isArray(value)) return value.map((item, i) => expectBytes(item, `${what}[${i}]`))
  return expectBytes(value, what)
}
