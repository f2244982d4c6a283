// POST /v1/txn's JSON body (etcd's Txn in Synod's words) and the @synod/kv command it stands for — what a
// signing client signs; the node derives the same bytes from the body it receives (apps/node txn-body.ts),
// checks the body strictly and answers 400 BAD_TXN for a malformed one.
import { utf8 } from '@synod/core'
import { kvCommands, type TxnCompare, type TxnOp } from '@synod/kv'

export type TxnCompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision'
export type TxnCompareResult = '=' | '!=' | '<' | '>'

export interface TxnCompareJson {
  readonly key: string
  readonly target: TxnCompareTarget
  readonly result: TxnCompareResult
  /** Text for 'value'; a non-negative integer for the others (0 = the key is absent). */
  readonly value: string | number
}

export interface TxnOpJson {
  readonly op: 'get' | 'put' | 'delete'
  readonly key: string
  /** A put's value. */
  readonly value?: string
}

/** The JSON a client sends. */
export interface TxnRequest {
  readonly compare?: readonly TxnCompareJson[]
  readonly success?: readonly TxnOpJson[]
  readonly failure?: readonly TxnOpJson[]
}

const TARGETS: Readonly<Record<string, TxnCompare['target']>> = { value: 'value', version: 'version', createRevision: 'create', modRevision: 'mod' }

function array(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : []
}

function field(item: unknown, name: string): unknown {
  return typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[name] : undefined
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '')

/**
 * The encoded txn command of a body (lenient: a malformed body encodes to something the node's strict
 * parse refuses with 400 before any signature matters).
 */
export function txnOperation(body: Record<string, unknown>): Uint8Array {
  const compare = array(body.compare).map((c): TxnCompare => {
    const target = TARGETS[text(field(c, 'target'))] ?? 'value'
    const relation = text(field(c, 'result')) as TxnCompare['relation']
    const value = field(c, 'value')
    const key = text(field(c, 'key'))
    return target === 'value' ? { key, target, relation, value: utf8(text(value)) } : { key, target, relation, value: typeof value === 'number' ? value : 0 }
  })
  const ops = (list: unknown): TxnOp[] =>
    array(list).map((o): TxnOp => {
      const op = text(field(o, 'op'))
      const key = text(field(o, 'key'))
      return op === 'put' ? { op, key, value: utf8(text(field(o, 'value'))) } : { op: op === 'delete' ? 'delete' : 'get', key }
    })
  return kvCommands.txn(compare, ops(body.success), ops(body.failure))
}
