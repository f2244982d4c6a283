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
  /** The lease does not exist (never granted, revoked or expired). */
  | 'lease-not-found'
  /** The state machine holds its maximum number of leases. */
  | 'too-many-leases'
  /** A read at a revision the history no longer reaches back to (etcd's ErrCompacted); `revision`: the oldest readable one. */
  | 'compacted'
  /** A read at a revision beyond the store's (etcd's ErrFutureRev); `revision`: the store's. */
  | 'future-revision'

export const KV_ERROR_CODES: readonly KvErrorCode[] = [
  'cas-mismatch',
  'wrong-type',
  'too-large',
  'stale-sequence',
  'invalid-command',
  'session-expired',
  'no-space',
  'forbidden',
  'lease-not-found',
  'too-many-leases',
  'compacted',
  'future-revision',
]

/** A key's revisions as stored: created at `create`, last changed at `mod`, `version` changes since it was created. */
export interface KeyRevision {
  readonly create: number
  readonly mod: number
  readonly version: number
}

/**
 * Revisions (etcd's): `revision` is the store's revision after the command (the log index of the last
 * change to any key); a present key carries `createRevision`, `modRevision` and `version` (changes since
 * its creation). Results cached before revisions existed carry none, hence optional.
 */
export interface KeyRevisions {
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
}

export type KvResult =
  | ({ readonly ok: true; readonly op: 'get'; readonly value: KvValue | null; readonly revision?: number } & Partial<KeyRevisions>)
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
      /** With `values`: `[createRevision, modRevision, version]` of `keys[i]`. */
      readonly revisions?: ReadonlyArray<readonly [number, number, number]>
      readonly count?: number
      readonly revision?: number
    }
  | { readonly ok: true; readonly op: 'put'; readonly revision?: number }
  | { readonly ok: true; readonly op: 'delete'; readonly existed: boolean; readonly revision?: number }
  | { readonly ok: true; readonly op: 'cas'; readonly revision?: number }
  /** `length`: the list's length after the append. */
  | { readonly ok: true; readonly op: 'append'; readonly length: number; readonly revision?: number }
  | { readonly ok: true; readonly op: 'role-grant' }
  | { readonly ok: true; readonly op: 'role-revoke'; readonly existed: boolean }
  /** `[client, role, prefix]` sorted by client. */
  | { readonly ok: true; readonly op: 'role-list'; readonly roles: ReadonlyArray<readonly [string, ClientRole, string]> }
  /** `disarmed`: an alarm was raised and is now cleared. */
  | { readonly ok: true; readonly op: 'disarm'; readonly disarmed: boolean }
  /** `succeeded`: every comparison held (the success branch ran); `results[i]`: the i-th operation's result. */
  | { readonly ok: true; readonly op: 'txn'; readonly succeeded: boolean; readonly results: readonly KvResult[]; readonly revision: number }
  /** A lease granted or kept alive: its id and TTL in seconds. */
  | { readonly ok: true; readonly op: 'lease-grant' | 'lease-keepalive'; readonly id: number; readonly ttl: number }
  /** A lease ended (revoked, or expired: `expired` false when it was renewed since the leader decided); `deleted`: its keys. */
  | { readonly ok: true; readonly op: 'lease-revoke' | 'lease-expire'; readonly id: number; readonly expired: boolean; readonly deleted: number; readonly revision: number }
  | KvError

export interface KvError {
  readonly ok: false
  readonly code: KvErrorCode
  readonly message: string
  /** For cas-mismatch: the value found (null: absent). */
  readonly current?: KvValue | null
  /** For compacted: the oldest revision still readable; for future-revision: the store's revision. */
  readonly revision?: number
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
    expectOnlyKeys(record, ['ok', 'code', 'message', 'current', 'revision'], 'kv error result')
    const code = expectOneOf(record['code'], KV_ERROR_CODES, 'code')
    const message = expectString(record['message'], 'message', 64 * 1024)
    const atRevision = code === 'compacted' || code === 'future-revision'
    if (atRevision !== (record['revision'] !== undefined)) throw new InvalidMessageError(`kv ${code} result ${atRevision ? 'must' : 'must not'} carry revision`)
    if (atRevision) return { ok, code, message, revision: expectUint(record['revision'], 'revision') }
    if (record['current'] === undefined) return { ok, code, message }
    if (code !== 'cas-mismatch') throw new InvalidMessageError(`kv ${code} result must not carry current`)
    return { ok, code, message, current: valueOrNullFrom(record['current'], 'current') }
  }
  const op = expectOneOf(
    record['op'],
    ['get', 'list', 'put', 'delete', 'cas', 'append', 'disarm', 'role-grant', 'role-revoke', 'role-list', 'txn', 'lease-grant', 'lease-keepalive', 'lease-revoke', 'lease-expire'] as const,
    'op',
  )
  switch (op) {
    case 'get': {
      only(record, ['value'], op, ['revision', 'createRevision', 'modRevision', 'version'])
      const value = valueOrNullFrom(record['value'], 'value')
      const key = keyRevisionsFrom(record)
      if (key !== undefined && value === null) throw new InvalidMessageError('kv get result of an absent key carries key revisions')
      return { ok, op, value, ...revisionFrom(record), ...key }
    }
    case 'list': {
      expectOnlyKeys(record, ['ok', 'op', 'keys', 'more', 'values', 'revisions', 'count', 'revision'], 'kv list result')
      const keys = expectArray(record['keys'], 'keys').map((k, i) => expectString(k, `keys[${i}]`, 1024 * 1024))
      const more = expectBoolean(record['more'], 'more')
      const count = record['count'] === undefined ? undefined : expectUint(record['count'], 'count')
      const revision = revisionFrom(record)
      if (record['values'] === undefined) {
        if (record['revisions'] !== undefined) throw new InvalidMessageError('kv list result carries revisions without values')
        return { ok, op, keys, more, ...(count === undefined ? {} : { count }), ...revision }
      }
      const values = expectArray(record['values'], 'values').map((v, i) => {
        const value = valueOrNullFrom(v, `values[${i}]`)
        if (value === null) throw new InvalidMessageError(`kv list result values[${i}] is null`)
        return value
      })
      if (values.length !== keys.length) throw new InvalidMessageError(`kv list result has ${keys.length} keys but ${values.length} values`)
      if (record['revisions'] === undefined) return { ok, op, keys, more, values, ...revision }
      const revisions = expectArray(record['revisions'], 'revisions').map((r, i) => {
        const triple = expectArray(r, `revisions[${i}]`)
        if (triple.length !== 3) throw new InvalidMessageError(`kv list result revisions[${i}] must be [createRevision, modRevision, version]`)
        return [expectUint(triple[0], `revisions[${i}][0]`), expectUint(triple[1], `revisions[${i}][1]`), expectUint(triple[2], `revisions[${i}][2]`)] as const
      })
      if (revisions.length !== keys.length) throw new InvalidMessageError(`kv list result has ${keys.length} keys but ${revisions.length} revisions`)
      return { ok, op, keys, more, values, revisions, ...revision }
    }
    case 'put':
    case 'cas':
      only(record, [], op, ['revision'])
      return { ok, op, ...revisionFrom(record) }
    case 'role-grant':
      only(record, [], op)
      return { ok, op }
    case 'delete':
      only(record, ['existed'], op, ['revision'])
      return { ok, op, existed: expectBoolean(record['existed'], 'existed'), ...revisionFrom(record) }
    case 'role-revoke':
      only(record, ['existed'], op)
      return { ok, op, existed: expectBoolean(record['existed'], 'existed') }
    case 'role-list':
      only(record, ['roles'], op)
      return { ok, op, roles: RolesTable.fromSnapshot(record['roles']).list() }
    case 'append':
      only(record, ['length'], op, ['revision'])
      return { ok, op, length: expectUint(record['length'], 'length'), ...revisionFrom(record) }
    case 'disarm':
      only(record, ['disarmed'], op)
      return { ok, op, disarmed: expectBoolean(record['disarmed'], 'disarmed') }
    case 'txn': {
      only(record, ['succeeded', 'results', 'revision'], op)
      const results = expectArray(record['results'], 'results').map((r, i) => {
        const inner = resultFromValue(r)
        if (!inner.ok || (inner.op !== 'get' && inner.op !== 'put' && inner.op !== 'delete'))
          throw new InvalidMessageError(`kv txn result results[${i}] must be a get, put or delete result`)
        return inner
      })
      return { ok, op, succeeded: expectBoolean(record['succeeded'], 'succeeded'), results, revision: expectUint(record['revision'], 'revision') }
    }
    case 'lease-grant':
    case 'lease-keepalive':
      only(record, ['id', 'ttl'], op)
      return { ok, op, id: expectUint(record['id'], 'id'), ttl: expectUint(record['ttl'], 'ttl') }
    case 'lease-revoke':
    case 'lease-expire':
      only(record, ['id', 'expired', 'deleted', 'revision'], op)
      return {
        ok,
        op,
        id: expectUint(record['id'], 'id'),
        expired: expectBoolean(record['expired'], 'expired'),
        deleted: expectUint(record['deleted'], 'deleted'),
        revision: expectUint(record['revision'], 'revision'),
      }
  }
}

/** `fields` must all be present; `optional` ones may be; nothing else may. */
function only(record: Fields, fields: readonly string[], op: string, optional: readonly string[] = []): void {
  expectOnlyKeys(record, ['ok', 'op', ...fields, ...optional], `kv ${op} result`)
  for (const field of fields)
    if (record[field] === undefined) throw new InvalidMessageError(`kv ${op} result is missing ${field}`)
}

function revisionFrom(record: Fields): { revision?: number } {
  return record['revision'] === undefined ? {} : { revision: expectUint(record['revision'], 'revision') }
}

/** A key's three revisions: all or none; created no later than modified, version ≥ 1. */
function keyRevisionsFrom(record: Fields): KeyRevisions | undefined {
  const present = ['createRevision', 'modRevision', 'version'].filter((f) => record[f] !== undefined)
  if (present.length === 0) return undefined
  if (present.length !== 3) throw new InvalidMessageError('kv result must carry createRevision, modRevision and version together')
  const createRevision = expectUint(record['createRevision'], 'createRevision')
  const modRevision = expectUint(record['modRevision'], 'modRevision')
  const version = expectUint(record['version'], 'version')
  if (modRevision < createRevision) throw new InvalidMessageError(`kv result modRevision ${modRevision} is before createRevision ${createRevision}`)
  return { createRevision, modRevision, version }
}

/** A value field: bytes, an array of bytes (a list), or null (absent). */
export function valueOrNullFrom(value: unknown, what: string): KvValue | null {
  if (value === null) return null
  if (Array.isArray(value)) return value.map((item, i) => expectBytes(item, `${what}[${i}]`))
  return expectBytes(value, what)
}
