// Range reads: `list` with keys, with values (paged by count and by bytes), or a count — against a model.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCommand, decodeResult, encodeCommand, kvCommands, KvStateMachine, listScope, RolesTable, type KvValue } from '../src/index.js'
import { encodeCanonical, utf8 } from '@synod/core'

const text = (v: KvValue | undefined) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : JSON.stringify(v))

type Listed = [string, string] | [string, string, readonly [number, number, number]]

/** Every entry under `prefix`, page by page; `withRevisions` adds each key's [create, mod, version]. */
function listAll(kv: KvStateMachine, prefix: string, limit: number, withRevisions = false): { pages: number; entries: Listed[] } {
  const entries: Listed[] = []
  let after: string | undefined
  for (let pages = 1; ; pages++) {
    const r = decodeResult(kv.query(kvCommands.list(prefix, { limit, mode: 'values', ...(after === undefined ? {} : { after }) })))
    if (!r.ok || r.op !== 'list' || r.values === undefined) throw new Error(`unexpected ${JSON.stringify(r)}`)
    r.keys.forEach((k, i) => entries.push(withRevisions ? [k, text(r.values![i]), r.revisions![i]!] : [k, text(r.values![i])]))
    if (!r.more) return { pages, entries }
    after = r.keys[r.keys.length - 1]
  }
}

describe('list', () => {
  it('pages through every key with its value and revisions, in order, matching a model (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'a/1', 'a/2', 'a/10', 'b', 'ab', 'é', 'a/é'), fc.string({ maxLength: 5 }), fc.boolean()), { maxLength: 40 }),
        fc.constantFrom('', 'a', 'a/', 'b', 'z'),
        fc.integer({ min: 1, max: 3 }),
        (ops, prefix, limit) => {
          const kv = new KvStateMachine()
          // The model: value, created at, changed at, changes since creation; the store revision = last change.
          const model = new Map<string, { value: string; create: number; mod: number; version: number }>()
          let revision = 0
          ops.forEach(([key, value, del], i) => {
            const index = i + 1
            kv.apply(del ? kvCommands.delete(key) : kvCommands.put(key, value), index)
            const known = model.get(key)
            if (del) {
              if (known !== undefined) revision = index
              model.delete(key)
            } else {
              model.set(key, { value, create: known?.create ?? index, mod: index, version: (known?.version ?? 0) + 1 })
              revision = index
            }
          })
          const expected = [...model]
            .filter(([k]) => k.startsWith(prefix))
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([k, m]): Listed => [k, m.value, [m.create, m.mod, m.version]])
          expect(listAll(kv, prefix, limit, true).entries).toEqual(expected)
          const count = decodeResult(kv.query(kvCommands.list(prefix, { mode: 'count' })))
          expect(count).toEqual({ ok: true, op: 'list', keys: [], more: false, count: expected.length, revision })
          expect(kv.currentRevision).toBe(revision)
        },
      ),
    )
  })

  it('ranges [start, end) combine with the prefix and the cursor, matching a model (property)', () => {
    const keyArb = fc.constantFrom('a', 'a/1', 'a/2', 'a/10', 'b', 'ab', 'é', 'a/é', '')
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('a', 'a/1', 'a/2', 'a/10', 'b', 'ab', 'é', 'a/é', 'c'), { maxLength: 9 }),
        fc.constantFrom('', 'a', 'a/'),
        fc.option(keyArb, { nil: undefined }),
        fc.option(keyArb, { nil: undefined }),
        fc.integer({ min: 1, max: 3 }),
        (keys, prefix, start, end, limit) => {
          const kv = new KvStateMachine()
          keys.forEach((k, i) => kv.apply(kvCommands.put(k, k), i + 1))
          const expected = keys
            .filter((k) => k.startsWith(prefix) && (start === undefined || k >= start) && (end === undefined || k < end))
            .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
          const got: string[] = []
          let after: string | undefined
          for (let page = 0; page < 20; page++) {
            const r = decodeResult(kv.query(kvCommands.list(prefix, { limit, ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }), ...(after === undefined ? {} : { after }) })))
            if (!r.ok || r.op !== 'list') throw new Error(JSON.stringify(r))
            got.push(...r.keys)
            if (!r.more) break
            after = r.keys.at(-1)
          }
          expect(got).toEqual(expected)
          // The scope a role must cover holds every listed key.
          const scope = listScope(prefix, start, end)
          for (const k of expected) expect(k.startsWith(scope)).toBe(true)
        },
      ),
      { numRuns: 300, seed: 7 },
    )
  })

  it('a role must cover the range: a prefix reader may list a range inside its prefix, not one that leaves it', () => {
    const reader = 'b'.repeat(64)
    const roles = new RolesTable(['a'.repeat(64)])
    roles.grant(reader, 'readonly', 'app/')
    const may = (start: string, end: string, prefix = '') => roles.check(reader, decodeCommand(kvCommands.list(prefix, { start, end }))) === undefined
    expect(may('app/a', 'app/z')).toBe(true)
    expect(may('app/', 'app0')).toBe(true) // exactly the prefix's range
    expect(may('app/', 'app1')).toBe(false) // 'app0…' is outside
    expect(may('a', 'app0')).toBe(false)
    expect(may('a', 'z', 'app/')).toBe(true) // the prefix narrows it
    expect(roles.check(reader, decodeCommand(kvCommands.list('', { start: 'app/' })))).toMatchObject({ code: 'forbidden' }) // no end: unbounded
    expect(listScope('', 'app/x', 'app/y')).toBe('app/x')
    expect(listScope('', 'a\uffff', 'b')).toBe('a')
    expect(listScope('p', undefined, 'z')).toBe('p')
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
