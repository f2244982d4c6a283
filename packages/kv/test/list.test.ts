// Range reads: `list` with keys, with values (paged by count and by bytes), or a count — against a model.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCommand, decodeResult, encodeCommand, kvCommands, KvStateMachine, type KvValue } from '../src/index.js'
import { encodeCanonical, utf8 } from '@synod/core'

const text = (v: KvValue | undefined) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : JSON.stringify(v))

function listAll(kv: KvStateMachine, prefix: string, limit: number): { pages: number; entries: Array<[string, string]> } {
  const entries: Array<[string, string]> = []
  let after: string | undefined
  for (let pages = 1; ; pages++) {
    const r = decodeResult(kv.query(kvCommands.list(prefix, { limit, mode: 'values', ...(after === undefined ? {} : { after }) })))
    if (!r.ok || r.op !== 'list' || r.values === undefined) throw new Error(`unexpected ${JSON.stringify(r)}`)
    r.keys.forEach((k, i) => entries.push([k, text(r.values![i])]))
    if (!r.more) return { pages, entries }
    after = r.keys[r.keys.length - 1]
  }
}

describe('list', () => {
  it('pages through every key with its value, in order, matching a model (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'a/1', 'a/2', 'a/10', 'b', 'ab', 'é', 'a/é'), fc.string({ maxLength: 5 }), fc.boolean()), { maxLength: 40 }),
        fc.constantFrom('', 'a', 'a/', 'b', 'z'),
        fc.integer({ min: 1, max: 3 }),
        (ops, prefix, limit) => {
          const kv = new KvStateMachine()
          const model = new Map<string, string>()
          ops.forEach(([key, value, del], i) => {
            kv.apply(del ? kvCommands.delete(key) : kvCommands.put(key, value), i + 1)
            if (del) model.delete(key)
            else model.set(key, value)
          })
          const expected = [...model].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          expect(listAll(kv, prefix, limit).entries).toEqual(expected)
          const count = decodeResult(kv.query(kvCommands.list(prefix, { mode: 'count' })))
          expect(count).toEqual({ ok: true, op: 'list', keys: [], more: false, count: expected.length })
        },
      ),
    )
  })

  it('stops at maxListBytes of values (always at least one key), and says more', () => {
    const kv = new KvStateMachine({ maxListBytes: 10 })
    kv.apply(kvCommands.put('k1', 'x'.repeat(6)), 1)
    kv.apply(kvCommands.put('k2', 'x'.repeat(6)), 2)
    kv.apply(kvCommands.put('k3', 'x'.repeat(20)), 3)
    const first = decodeResult(kv.query(kvCommands.list('k', { mode: 'values', limit: 100 })))
    expect(first).toMatchObject({ ok: true, keys: ['k1'], more: true })
    const big = decodeResult(kv.query(kvCommands.list('k', { mode: 'values', limit: 100, after: 'k2' })))
    expect(big).toMatchObject({ ok: true, keys: ['k3'], more: false })
    expect(listAll(kv, 'k', 100)).toEqual({ pages: 3, entries: [['k1', 'x'.repeat(6)], ['k2', 'x'.repeat(6)], ['k3', 'x'.repeat(20)]] })
  })

  it('keeps the old encoding for a plain list and refuses malformed modes and results', () => {
    expect(Buffer.from(kvCommands.list('p', { limit: 5 })).equals(Buffer.from(encodeCanonical({ op: 'list', prefix: 'p', limit: 5 })))).toBe(true)
    expect(Buffer.from(kvCommands.list('p', { limit: 5, mode: 'keys' })).equals(Buffer.from(kvCommands.list('p', { limit: 5 })))).toBe(true)
    expect(decodeCommand(kvCommands.list('p', { limit: 5, mode: 'values' }))).toEqual({ op: 'list', prefix: 'p', limit: 5, mode: 'values' })
    expect(() => decodeCommand(encodeCanonical({ op: 'list', prefix: 'p', limit: 5, mode: 'keys' }))).toThrow(/written as no mode/)
    expect(() => decodeCommand(encodeCanonical({ op: 'list', prefix: 'p', limit: 5, mode: 'everything' }))).toThrow(/mode/)
    expect(() => decodeResult(encodeCanonical({ ok: true, op: 'list', keys: ['a', 'b'], more: false, values: [utf8('x')] }))).toThrow(/2 keys but 1 values/)
    expect(() => decodeResult(encodeCanonical({ ok: true, op: 'list', keys: ['a'], more: false, values: [null] }))).toThrow(/null/)
    expect(encodeCommand({ op: 'list', prefix: '', limit: 1, mode: 'count' })).toBeInstanceOf(Uint8Array)
  })
})
