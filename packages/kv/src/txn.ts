// Transactions, as etcd's Txn: if every comparison holds, run the `success` operations, else the `failure`
// ones — all in one log entry, so atomically and at one revision. Comparisons look at a key's value
// (bytewise), version, create revision or mod revision; operations are get, put and delete.
import { expectArray, expectBytes, expectOneOf, expectString, expectUint, InvalidMessageError, type Fields } from '@synod/core'

/** What a comparison looks at: the value (bytes, compared bytewise) or a number (0 for an absent key). */
export type TxnTarget = 'value' | 'version' | 'create' | 'mod'
export type TxnRelation = '=' | '!=' | '<' | '>'
export const TXN_TARGETS: readonly TxnTarget[] = ['value', 'version', 'create', 'mod']
export const TXN_RELATIONS: readonly TxnRelation[] = ['=', '!=', '<', '>']

export type TxnCompare =
  | { readonly key: string; readonly target: 'value'; readonly relation: TxnRelation; readonly value: Uint8Array }
  | { readonly key: string; readonly target: 'version' | 'create' | 'mod'; readonly relation: TxnRelation; readonly value: number }

export type TxnOp =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly op: 'delete'; readonly key: string }

export const TXN_OPS: readonly TxnOp['op'][] = ['get', 'put', 'delete']

/** Comparisons, and operations per branch, one transaction may hold (etcd's --max-txn-ops default). */
export const MAX_TXN_OPS = 128

const MAX_KEY_CHARS = 1024 * 1024

/** The CBOR fields of a transaction's parts (canonical: no absent fields). */
export function txnToFields(compare: readonly TxnCompare[], success: readonly TxnOp[], failure: readonly TxnOp[]): Fields {
  return {
    compare: compare.map((c) => [c.key, c.target, c.relation, c.value]),
    success: success.map(opToValue),
    failure: failure.map(opToValue),
  }
}

function opToValue(op: TxnOp): unknown[] {
  return op.op === 'put' ? [op.op, op.key, op.value] : [op.op, op.key]
}

/** Validate a transaction's parts decoded from CBOR; malformed input throws InvalidMessageError naming the part. */
export function txnFromFields(record: Fields): { compare: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] } {
  const compare = bounded(record['compare'], 'compare').map((item, i): TxnCompare => {
    const c = expectArray(item, `compare[${i}]`)
    if (c.length !== 4) throw new InvalidMessageError(`compare[${i}] must be [key, target, relation, value]`)
    const key = expectString(c[0], `compare[${i}] key`, MAX_KEY_CHARS)
    const target = expectOneOf(c[1], TXN_TARGETS, `compare[${i}] target`)
    const relation = expectOneOf(c[2], TXN_RELATIONS, `compare[${i}] relation`)
    if (target === 'value') return { key, target, relation, value: expectBytes(c[3], `compare[${i}] value`) }
    return { key, target, relation, value: expectUint(c[3], `compare[${i}] value`) }
  })
  return { compare, success: opsFrom(record['success'], 'success'), failure: opsFrom(record['failure'], 'failure') }
}

function bounded(value: unknown, what: string): unknown[] {
  const items = expectArray(value, what)
  if (items.length > MAX_TXN_OPS) throw new InvalidMessageError(`${what} holds ${items.length} items; at most ${MAX_TXN_OPS}`)
  return items
}

function opsFrom(value: unknown, what: string): TxnOp[] {
  const ops = bounded(value, what).map((item, i): TxnOp => {
    const o = expectArray(item, `${what}[${i}]`)
    const op = expectOneOf(o[0], TXN_OPS, `${what}[${i}] op`)
    const key = expectString(o[1], `${what}[${i}] key`, MAX_KEY_CHARS)
    if (op === 'put') {
      if (o.length !== 3) throw new InvalidMessageError(`${what}[${i}] must be ['put', key, value]`)
      return { op, key, value: expectBytes(o[2], `${what}[${i}] value`) }
    }
    if (o.length !== 2) throw new InvalidMessageError(`${what}[${i}] must be ['${op}', key]`)
    return { op, key }
  })
  // As etcd: a key is written at most once per branch (a branch's writes happen at one revision).
  const written = new Set<string>()
  for (const op of ops) {
    if (op.op === 'get') continue
    if (written.has(op.key)) throw new InvalidMessageError(`${what} writes key '${op.key}' twice; a transaction writes a key at most once per branch`)
    written.add(op.key)
  }
  return ops
}

/** A key as comparisons see it: absent keys have no value and zero revisions. */
export interface TxnKeyView {
  readonly value: Uint8Array | readonly Uint8Array[] | undefined
  readonly version: number
  readonly create: number
  readonly mod: number
}

/** Does `compare` hold for the key as `view` shows it? A value comparison on an absent key (or a list) is false, as in etcd. */
export function compareHolds(compare: TxnCompare, view: TxnKeyView): boolean {
  let order: number
  if (compare.target === 'value') {
    if (!(view.value instanceof Uint8Array)) return false
    order = compareBytes(view.value, compare.value)
  } else {
    const actual = view[compare.target]
    order = actual < compare.value ? -1 : actual > compare.value ? 1 : 0
  }
  switch (compare.relation) {
    case '=':
      return order === 0
    case '!=':
      return order !== 0
    case '<':
      return order < 0
    case '>':
      return order > 0
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.byteLength - b.byteLength
}

/** Every key a transaction reads (comparisons, gets) and writes (puts, deletes), for role checks. */
export function txnKeys(compare: readonly TxnCompare[], success: readonly TxnOp[], failure: readonly TxnOp[]): { read: string[]; write: string[] } {
  const read = compare.map((c) => c.key)
  const write: string[] = []
  for (const op of [...success, ...failure]) (op.op === 'get' ? read : write).push(op.key)
  return { read, write }
}
