// `POST /v1/txn`'s JSON body (etcd's Txn in Synod's words), read the same way by the server (to run it)
// and by a signing client (to sign what the server will check):
//   { "compare": [{ "key", "target": "value"|"version"|"createRevision"|"modRevision", "result": "="|"!="|"<"|">", "value" }],
//     "success": [{ "op": "get"|"put"|"delete", "key", "value"? }], "failure": [ …the same… ] }
// Values are UTF-8 text like every other route; revisions and versions are non-negative integers.
import { utf8 } from '@synod/core'
import { MAX_TXN_OPS, type TxnCompare, type TxnOp } from '@synod/kv'
import { HttpError } from './http-error.js'

/** The JSON a client sends. */
export interface TxnRequest {
  readonly compare?: ReadonlyArray<{ readonly key: string; readonly target: 'value' | 'version' | 'createRevision' | 'modRevision'; readonly result: '=' | '!=' | '<' | '>'; readonly value: string | number }>
  readonly success?: ReadonlyArray<{ readonly op: 'get' | 'put' | 'delete'; readonly key: string; readonly value?: string }>
  readonly failure?: ReadonlyArray<{ readonly op: 'get' | 'put' | 'delete'; readonly key: string; readonly value?: string }>
}

/** The parsed transaction, as @synod/kv runs it. */
export interface TxnBody {
  readonly compare: TxnCompare[]
  readonly success: TxnOp[]
  readonly failure: TxnOp[]
}

const TARGETS = { value: 'value', version: 'version', createRevision: 'create', modRevision: 'mod' } as const
const RELATIONS = ['=', '!=', '<', '>'] as const

function bad(field: string, message: string): never {
  throw new HttpError(400, 'BAD_TXN', `${field}: ${message}`)
}

function list(value: unknown, field: string): unknown[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) bad(field, 'must be an array')
  if (value.length > MAX_TXN_OPS) throw new HttpError(413, 'TXN_TOO_LARGE', `${field} holds ${value.length} items; at most ${MAX_TXN_OPS}`)
  return value
}

function record(value: unknown, field: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(field, 'must be an object')
  for (const k of Object.keys(value)) if (!allowed.includes(k)) bad(field, `unknown field '${k}' (allowed: ${allowed.join(', ')})`)
  return value as Record<string, unknown>
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string') bad(field, 'must be a string')
  return value
}

/** Parse and check a transaction body (400 BAD_TXN naming the part; 413 beyond 128 items per list). */
export function parseTxnBody(body: Record<string, unknown>): TxnBody {
  const compare = list(body.compare, 'compare').map((item, i): TxnCompare => {
    const c = record(item, `compare[${i}]`, ['key', 'target', 'result', 'value'])
    const key = text(c.key, `compare[${i}].key`)
    const targetName = text(c.target, `compare[${i}].target`)
    if (!(targetName in TARGETS)) bad(`compare[${i}].target`, `must be one of ${Object.keys(TARGETS).join(', ')}`)
    const target = TARGETS[targetName as keyof typeof TARGETS]
    const relation = text(c.result, `compare[${i}].result`)
    if (!(RELATIONS as readonly string[]).includes(relation)) bad(`compare[${i}].result`, `must be one of ${RELATIONS.join(' ')}`)
    const r = relation as TxnCompare['relation']
    if (target === 'value') return { key, target, relation: r, value: utf8(text(c.value, `compare[${i}].value`)) }
    if (typeof c.value !== 'number' || !Number.isSafeInteger(c.value) || c.value < 0) bad(`compare[${i}].value`, `a ${targetName} is a non-negative integer`)
    return { key, target, relation: r, value: c.value }
  })
  return { compare, success: ops(body.success, 'success'), failure: ops(body.failure, 'failure') }
}

function ops(value: unknown, field: string): TxnOp[] {
  const written = new Set<string>()
  return list(value, field).map((item, i): TxnOp => {
    const o = record(item, `${field}[${i}]`, ['op', 'key', 'value'])
    const key = text(o.key, `${field}[${i}].key`)
    const op = text(o.op, `${field}[${i}].op`)
    if (op !== 'get' && op !== 'put' && op !== 'delete') bad(`${field}[${i}].op`, "must be 'get', 'put' or 'delete'")
    if (op !== 'get') {
      if (written.has(key)) bad(`${field}[${i}]`, `writes '${key}' a second time; a branch writes a key at most once`)
      written.add(key)
    }
    if (op === 'put') return { op, key, value: utf8(text(o.value, `${field}[${i}].value`)) }
    if (o.value !== undefined) bad(`${field}[${i}].value`, `a ${op} takes no value`)
    return { op, key }
  })
}
