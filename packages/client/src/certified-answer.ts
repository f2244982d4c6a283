// A certificate covers the result bytes, not the JSON the node wraps around them: with `verify`, every
// field of the answer that the certified result determines must be what that result says. Otherwise a
// faulty node could attach a valid certificate to a list whose keys or values it altered (a lock's line,
// an election's leader), or to a txn whose `succeeded` it flipped. The fields mirror the daemon's answer
// (apps/node kv-commands.ts toAnswer).
import { InvalidMessageError } from '@synod/core'
import type { KvResult, KvValue } from '@synod/kv'

const utf8Decoder = new TextDecoder()

/** A KV value as the daemon's JSON shows it: text, a JSON list of texts (append), or null. */
export function valueText(value: KvValue | null | undefined): string | null {
  if (value === null || value === undefined) return null
  if (value instanceof Uint8Array) return utf8Decoder.decode(value)
  return JSON.stringify(value.map((element) => utf8Decoder.decode(element)))
}

function keyRevisions(r: { createRevision?: number; modRevision?: number; version?: number }): Record<string, unknown> {
  return r.modRevision === undefined ? {} : { createRevision: r.createRevision, modRevision: r.modRevision, version: r.version }
}

function txnOpFields(r: KvResult): Record<string, unknown> {
  if (!r.ok) return { error: r.code.toUpperCase().replaceAll('-', '_'), message: r.message }
  const revision = 'revision' in r && r.revision !== undefined ? { revision: r.revision } : {}
  if (r.op === 'get') return { op: 'get', value: valueText(r.value), ...revision, ...keyRevisions(r) }
  if (r.op === 'delete') return { op: 'delete', applied: r.existed, ...revision }
  return { op: r.op, ...revision }
}

/** The answer's fields that `kv` (a certified result) determines, as the daemon writes them. */
export function certifiedFields(kv: KvResult): Record<string, unknown> {
  if (!kv.ok) return kv.code === 'cas-mismatch' ? { applied: false, value: valueText(kv.current) } : {}
  const revision = 'revision' in kv && kv.revision !== undefined ? { revision: kv.revision } : {}
  switch (kv.op) {
    case 'get':
      return { value: valueText(kv.value), ...revision, ...keyRevisions(kv) }
    case 'put':
      return revision
    case 'cas':
      return { applied: true, ...revision }
    case 'append':
      return { length: kv.length, ...revision }
    case 'delete':
      return { applied: kv.existed, ...revision }
    case 'list': {
      if (kv.count !== undefined) return { count: kv.count, ...revision }
      if (kv.values === undefined) return { keys: kv.keys, more: kv.more, ...revision }
      const kvs = kv.keys.map((key, i) => {
        const r = kv.revisions?.[i]
        return { key, value: valueText(kv.values![i]), ...(r === undefined ? {} : { createRevision: r[0], modRevision: r[1], version: r[2] }) }
      })
      return { kvs, more: kv.more, ...revision }
    }
    case 'txn':
      return { succeeded: kv.succeeded, results: kv.results.map(txnOpFields), revision: kv.revision }
    case 'lease-grant':
    case 'lease-keepalive':
      return { id: kv.id, ttlSeconds: kv.ttl }
    case 'lease-revoke':
    case 'lease-expire':
      return { id: kv.id, deleted: kv.deleted, revision: kv.revision }
    default:
      return {}
  }
}

/** Throws InvalidMessageError naming the first field of `answer` that differs from what `kv` certifies. */
export function checkCertifiedFields(answer: Record<string, unknown>, kv: KvResult): void {
  // JSON round trip: undefined fields vanish as they do on the wire.
  const expected = JSON.parse(JSON.stringify(certifiedFields(kv))) as Record<string, unknown>
  for (const [field, value] of Object.entries(expected))
    if (!same(answer[field], value)) throw new InvalidMessageError(`the answer's ${field} is not the certified result`)
}

/** Deep equality of JSON values (objects compared by their own keys, in any order). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}
