// Between the HTTP API's strings and the KV state machine's bytes.
import { type CommandResult, toHex } from '@synod/core'
import { type ClientRole, decodeResult, kvCommands, type KvErrorCode, type KvResult, type KvValue } from '@synod/kv'
import { type KvAnswer, HttpError, type Session } from './http-api.js'

export const kvRequests = {
  get: (key: string) => kvCommands.get(key),
  put: (key: string, value: string, session?: Session) => kvCommands.put(key, value, session),
  delete: (key: string, session?: Session) => kvCommands.delete(key, session),
  cas: (key: string, expected: string | null, value: string, session?: Session) => kvCommands.cas(key, expected, value, session),
  append: (key: string, value: string, session?: Session) => kvCommands.append(key, value, session),
  roleGrant: (subject: string, role: string, prefix: string | undefined, session?: Session) =>
    kvCommands.roleGrant(subject, role as ClientRole, prefix, session),
  roleRevoke: (subject: string, session?: Session) => kvCommands.roleRevoke(subject, session),
  roleList: () => kvCommands.roleList(),
}

const text = new TextDecoder()

/** Values go back as UTF-8 text; a list value (built by append) as a JSON array of its elements. */
function valueText(value: KvValue | null | undefined): string | null {
  if (value === null || value === undefined) return null
  if (value instanceof Uint8Array) return text.decode(value)
  return JSON.stringify(value.map((element) => text.decode(element)))
}

/** HTTP status of each refusal: 409 SESSION_EXPIRED (never applied twice), 507 NO_SPACE (over the quota), ... */
const STATUS_OF: Record<Exclude<KvErrorCode, 'cas-mismatch'>, number> = {
  'too-large': 413,
  'invalid-command': 400,
  'wrong-type': 409,
  'stale-sequence': 409,
  'session-expired': 409,
  'no-space': 507,
  forbidden: 403,
  'lease-not-found': 404,
  'too-many-leases': 429,
  // etcd's ErrCompacted and ErrFutureRev of a read at a past revision.
  compacted: 410,
  'future-revision': 400,
}

/** One operation's answer inside a transaction's (the same fields as its own route's answer). */
function txnOpAnswer(r: KvResult): Record<string, unknown> {
  if (!r.ok) return { error: r.code.toUpperCase().replaceAll('-', '_'), message: r.message }
  if (r.op === 'get') {
    const key = r.modRevision === undefined ? {} : { createRevision: r.createRevision, modRevision: r.modRevision, version: r.version }
    return { op: 'get', value: valueText(r.value), ...(r.revision === undefined ? {} : { revision: r.revision }), ...key }
  }
  if (r.op === 'delete') return { op: 'delete', applied: r.existed, ...(r.revision === undefined ? {} : { revision: r.revision }) }
  return { op: r.op, ...('revision' in r && r.revision !== undefined ? { revision: r.revision } : {}) }
}

/** Turn the state machine's answer into the API's answer, or a 4xx/507 for a refused command. */
export function toAnswer(result: CommandResult): KvAnswer {
  // Byzantine protocols: the reply certificate plus the raw result it signs, so a client can verify both.
  const certificate = result.proof === undefined ? {} : { certificate: toHex(result.proof), result: toHex(result.result) }
  const kv = decodeResult(result.result)
  if (!kv.ok) {
    if (kv.code === 'cas-mismatch') return { index: result.index, applied: false, value: valueText(kv.current), ...certificate }
    // COMPACTED carries the oldest revision still readable, FUTURE_REVISION the store's revision.
    const extra = kv.revision === undefined ? {} : kv.code === 'compacted' ? { compactRevision: kv.revision } : { revision: kv.revision }
    throw new HttpError(STATUS_OF[kv.code], kv.code.toUpperCase().replaceAll('-', '_'), kv.message, extra)
  }
  // The store's revision (etcd's header revision), and a present key's create/mod revisions and version.
  const revision = 'revision' in kv && kv.revision !== undefined ? { revision: kv.revision } : {}
  switch (kv.op) {
    case 'get': {
      const key = kv.modRevision === undefined ? {} : { createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version }
      return { index: result.index, value: valueText(kv.value), ...revision, ...key, ...certificate }
    }
    case 'put':
      return { index: result.index, ...revision, ...certificate }
    case 'cas':
      return { index: result.index, applied: true, ...revision, ...certificate }
    case 'append':
      return { index: result.index, length: kv.length, ...revision, ...certificate }
    case 'delete':
      return { index: result.index, applied: kv.existed, ...revision, ...certificate }
    case 'role-revoke':
      return { index: result.index, applied: kv.existed, ...certificate }
    case 'list': {
      // count / keys / keys with values (GET /v1/kv); `more`: page on with after = the last key.
      if (kv.count !== undefined) return { index: result.index, count: kv.count, ...revision, ...certificate }
      if (kv.values === undefined) return { index: result.index, keys: kv.keys, more: kv.more, ...revision, ...certificate }
      const kvs = kv.keys.map((key, i) => {
        const r = kv.revisions?.[i]
        return { key, value: valueText(kv.values![i]), ...(r === undefined ? {} : { createRevision: r[0], modRevision: r[1], version: r[2] }) }
      })
      return { index: result.index, kvs, more: kv.more, ...revision, ...certificate }
    }
    case 'role-list':
      return { index: result.index, roles: kv.roles.map(([client, role, prefix]) => ({ client, role, prefix })), ...certificate }
    case 'disarm':
      return { index: result.index, applied: kv.disarmed, ...certificate }
    case 'txn':
      return { index: result.index, succeeded: kv.succeeded, results: kv.results.map(txnOpAnswer), revision: kv.revision, ...certificate }
    case 'lease-grant':
    case 'lease-keepalive':
      return { index: result.index, id: kv.id, ttlSeconds: kv.ttl, ...certificate }
    case 'lease-revoke':
    case 'lease-expire':
      return { index: result.index, id: kv.id, deleted: kv.deleted, revision: kv.revision, ...certificate }
    default:
      return { index: result.index, ...certificate }
  }
}
