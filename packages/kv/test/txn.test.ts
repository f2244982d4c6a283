// Transactions (etcd's Txn): the codec refuses what it must, comparisons and branches behave as etcd's,
// a transaction is all or nothing at one revision, roles cover every key, and random transactions agree
// with a small model (property).
import { encodeCanonical, utf8 } from '@synod/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCommand, decodeResult, encodeCommand, KvStateMachine, kvCommands, MAX_TXN_OPS, type KvResult, type TxnCompare, type TxnOp } from '../src/index.js'

const put = (key: string, value: string): TxnOp => ({ op: 'put', key, value: utf8(value) })
const del = (key: string): TxnOp => ({ op: 'delete', key })
const get = (key: string): TxnOp => ({ op: 'get', key })
const valueIs = (key: string, value: string, relation: TxnCompare['relation'] = '='): TxnCompare => ({ key, target: 'value', relation, value: utf8(value) })
const versionIs = (key: string, value: number, relation: TxnCompare['relation'] = '='): TxnCompare => ({ key, target: 'version', relation, value })

function machine(): { kv: KvStateMachine; run: (command: Uint8Array) => KvResult; index: () => number } {
  const kv = new KvStateMachine({ quotaBytes: 200 })
  let index = 0
  return { kv, run: (command) => decodeResult(kv.apply(command, ++index)), index: () => index }
}

describe('txn codec', () => {
  it('round-trips and is canonical', () => {
    const command = { op: 'txn', compare: [valueIs('a', 'x'), versionIs('b', 3, '>')], success: [put('a', 'y'), get('b')], failure: [del('a')] } as const
    const bytes = encodeCommand(command)
    expect(decodeCommand(bytes)).toEqual(command)
    expect(encodeCommand(decodeCommand(bytes))).toEqual(bytes)
  })

  const txn = (fields: Record<string, unknown>) => encodeCanonical({ op: 'txn', compare: [], success: [], failure: [], ...fields })
  it.each<[string, Uint8Array, RegExp]>([
    ['a key written twice in one branch', txn({ success: [['put', 'a', utf8('1')], ['delete', 'a']] }), /writes key 'a' twice/],
    ['too many operations', txn({ success: Array.from({ length: MAX_TXN_OPS + 1 }, (_, i) => ['get', `k${i}`]) }), /at most 128/],
    ['too many comparisons', txn({ compare: Array.from({ length: MAX_TXN_OPS + 1 }, () => ['k', 'version', '=', 0]) }), /at most 128/],
    ['an unknown target', txn({ compare: [['k', 'lease', '=', 0]] }), /target/],
    ['an unknown relation', txn({ compare: [['k', 'version', '>=', 0]] }), /relation/],
    ['a number compared with a value', txn({ compare: [['k', 'value', '=', 1]] }), /value/],
    ['bytes compared with a version', txn({ compare: [['k', 'version', '=', utf8('1')]] }), /value/],
    ['a put without a value', txn({ success: [['put', 'a']] }), /\['put', key, value\]/],
    ['a get with a value', txn({ failure: [['get', 'a', utf8('x')]] }), /\['get', key\]/],
    ['an unknown operation', txn({ success: [['cas', 'a', utf8('x')]] }), /op/],
    ['a missing branch', encodeCanonical({ op: 'txn', compare: [], success: [] }), /failure/],
  ])('refuses %s', (_, bytes, reason) => {
    expect(() => decodeCommand(bytes)).toThrow(reason)
    const { run } = machine()
    expect(run(bytes)).toMatchObject({ ok: false, code: 'invalid-command' })
  })
})

describe('txn semantics', () => {
  it('runs success when every comparison holds, else failure; all writes at the one revision of the entry', () => {
    const { run, index } = machine()
    run(kvCommands.put('a', 'x'))
    const ok = run(kvCommands.txn([valueIs('a', 'x'), versionIs('b', 0)], [put('a', 'y'), put('b', '1'), get('a')], [put('c', 'no')]))
    const at = index()
    expect(ok).toEqual({
      ok: true,
      op: 'txn',
      succeeded: true,
      results: [
        { ok: true, op: 'put', revision: at },
        { ok: true, op: 'put', revision: at },
        { ok: true, op: 'get', value: utf8('y'), revision: at, createRevision: 1, modRevision: at, version: 2 }, // a get sees the earlier put
      ],
      revision: at,
    })
    const no = run(kvCommands.txn([valueIs('a', 'x')], [put('c', 'yes')], [get('c'), del('b')]))
    expect(no).toEqual({
      ok: true,
      op: 'txn',
      succeeded: false,
      results: [
        { ok: true, op: 'get', value: null, revision: at },
        { ok: true, op: 'delete', existed: true, revision: index() },
      ],
      revision: index(),
    })
  })

  it('compares values bytewise and revisions numerically; an absent key has version 0 and no value', () => {
    const { run } = machine()
    run(kvCommands.put('k', 'm')) // revision 1
    const holds = (c: TxnCompare) => (run(kvCommands.txn([c], [], [])) as { succeeded: boolean }).succeeded
    expect([holds(valueIs('k', 'm')), holds(valueIs('k', 'a', '>')), holds(valueIs('k', 'z', '<')), holds(valueIs('k', 'm', '!='))]).toEqual([true, true, true, false])
    expect([holds(valueIs('k', 'm\0', '<')), holds(valueIs('k', ''))]).toEqual([true, false]) // a prefix sorts first
    expect([holds({ key: 'k', target: 'create', relation: '=', value: 1 }), holds({ key: 'k', target: 'mod', relation: '>', value: 0 })]).toEqual([true, true])
    expect([holds(versionIs('absent', 0)), holds(valueIs('absent', '', '!=')), holds(valueIs('absent', '', '<'))]).toEqual([true, false, false])
    expect(holds({ key: 'absent', target: 'create', relation: '=', value: 0 })).toBe(true) // etcd's "create if absent"
  })

  it('is all or nothing: over the quota nothing applies; a bad value in either branch fails the whole command', () => {
    const { kv, run } = machine()
    run(kvCommands.put('a', 'x'.repeat(50)))
    const before = kv.snapshot()
    expect(run(kvCommands.txn([], [put('b', 'x'.repeat(100)), put('c', 'x'.repeat(100))], []))).toMatchObject({ ok: false, code: 'no-space' })
    expect(kv.alarm).toBe(true)
    run(kvCommands.disarm())
    // Freeing space in the same branch counts: the branch's effect is judged as a whole.
    expect(run(kvCommands.txn([], [put('b', 'x'.repeat(120)), del('a')], []))).toMatchObject({ ok: true, succeeded: true })
    expect(kv.dataBytes).toBe(121)
    const tooLarge = new KvStateMachine({ maxValueBytes: 4 })
    tooLarge.apply(kvCommands.put('k', 'v'), 1)
    const state = tooLarge.snapshot()
    expect(decodeResult(tooLarge.apply(kvCommands.txn([], [put('k', 'ok')], [put('k', 'too long')]), 2))).toMatchObject({ ok: false, code: 'too-large' })
    expect(tooLarge.snapshot()).toEqual(state)
    expect(before).not.toEqual(kv.snapshot())
  })

  it('a retry with the same session answers from the cache and does not apply twice', () => {
    const { kv, run } = machine()
    const transfer = kvCommands.txn([versionIs('n', 0)], [put('n', '1')], [get('n')], { client: 'c', seq: 1 })
    const first = run(transfer)
    expect(run(transfer)).toEqual(first)
    expect(decodeResult(kv.query(kvCommands.get('n')))).toMatchObject({ version: 1 })
  })

  it('needs read access to every key it compares or gets and write access to every key it writes', () => {
    const admin = 'a'.repeat(64)
    const reader = 'b'.repeat(64)
    const writer = 'c'.repeat(64)
    const kv = new KvStateMachine({ initialAdmins: [admin] })
    kv.apply(kvCommands.roleGrant(reader, 'readonly', 'app/'), 1)
    kv.apply(kvCommands.roleGrant(writer, 'readwrite', 'app/'), 2)
    const check = (client: string, command: Uint8Array) => kv.roles.check(client, decodeCommand(command))
    const inside = kvCommands.txn([valueIs('app/x', '1')], [put('app/y', '2')], [get('app/z')])
    expect(check(writer, inside)).toBeUndefined()
    expect(check(reader, inside)).toMatchObject({ code: 'forbidden', message: expect.stringMatching(/write access to 'app\/y'/) })
    expect(check(reader, kvCommands.txn([valueIs('app/x', '1')], [get('app/y')], []))).toBeUndefined()
    // One key outside the prefix, in the branch that may never run, is enough to refuse.
    expect(check(writer, kvCommands.txn([], [put('app/y', '2')], [del('other')]))).toMatchObject({ code: 'forbidden' })
    expect(check(writer, kvCommands.txn([valueIs('secret', '1')], [], []))).toMatchObject({ code: 'forbidden' })
  })
})

describe('txn against a model (property)', () => {
  interface Model {
    values: Map<string, { value: string; create: number; mod: number; version: number }>
    revision: number
  }
  const keys = ['a', 'b', 'c']
  const compareArb = fc.oneof(
    fc.record({ key: fc.constantFrom(...keys), target: fc.constant('value' as const), relation: fc.constantFrom('=', '!=', '<', '>'), value: fc.constantFrom('', '0', '1', '2') }),
    fc.record({ key: fc.constantFrom(...keys), target: fc.constantFrom('version', 'create', 'mod'), relation: fc.constantFrom('=', '!=', '<', '>'), value: fc.nat(6) }),
  )
  const opArb = fc.oneof(
    fc.record({ op: fc.constant('get' as const), key: fc.constantFrom(...keys) }),
    fc.record({ op: fc.constant('put' as const), key: fc.constantFrom(...keys), value: fc.constantFrom('0', '1', '2') }),
    fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...keys) }),
  )
  // A branch writes a key at most once (as the codec requires).
  const branchArb = fc.array(opArb, { maxLength: 4 }).map((ops) => {
    const written = new Set<string>()
    return ops.filter((o) => o.op === 'get' || (!written.has(o.key) && written.add(o.key)))
  })

  function holds(c: { key: string; target: string; relation: string; value: string | number }, m: Model): boolean {
    const entry = m.values.get(c.key)
    let order: number
    if (c.target === 'value') {
      if (entry === undefined) return false
      order = entry.value < (c.value as string) ? -1 : entry.value > (c.value as string) ? 1 : 0
    } else {
      const actual = entry === undefined ? 0 : entry[c.target as 'create' | 'mod' | 'version']
      order = Math.sign(actual - (c.value as number))
    }
    return c.relation === '=' ? order === 0 : c.relation === '!=' ? order !== 0 : c.relation === '<' ? order < 0 : order > 0
  }

  it('random transactions give the model’s branch, reads, versions and revisions', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ compare: fc.array(compareArb, { maxLength: 3 }), success: branchArb, failure: branchArb }), { maxLength: 25 }), (txns) => {
        const kv = new KvStateMachine()
        const model: Model = { values: new Map(), revision: 0 }
        txns.forEach((t, i) => {
          const index = i + 1
          const compare = t.compare.map((c): TxnCompare => (c.target === 'value' ? { ...c, target: 'value', value: utf8(c.value as string) } : (c as TxnCompare)))
          const toOp = (o: { op: string; key: string; value?: string }): TxnOp => (o.op === 'put' ? put(o.key, o.value!) : o.op === 'get' ? get(o.key) : del(o.key))
          const result = decodeResult(kv.apply(kvCommands.txn(compare, t.success.map(toOp), t.failure.map(toOp)), index))
          const succeeded = t.compare.every((c) => holds(c, model))
          const expectedReads: Array<string | null> = []
          for (const o of succeeded ? t.success : t.failure) {
            const entry = model.values.get(o.key)
            if (o.op === 'get') expectedReads.push(entry?.value ?? null)
            else if (o.op === 'put') {
              model.values.set(o.key, { value: o.value!, create: entry?.create ?? index, mod: index, version: (entry?.version ?? 0) + 1 })
              model.revision = index
            } else if (entry !== undefined) {
              model.values.delete(o.key)
              model.revision = index
            }
          }
          if (!result.ok || result.op !== 'txn') throw new Error(`unexpected ${JSON.stringify(result)}`)
          expect(result.succeeded).toBe(succeeded)
          expect(result.revision).toBe(model.revision)
          const reads = result.results.filter((r) => r.ok && r.op === 'get').map((r) => (r as { value: Uint8Array | null }).value)
          expect(reads.map((v) => (v === null ? null : new TextDecoder().decode(v)))).toEqual(expectedReads)
        })
        for (const key of keys) {
          const entry = model.values.get(key)
          const got = decodeResult(kv.query(kvCommands.get(key)))
          expect(got).toEqual(
            entry === undefined
              ? { ok: true, op: 'get', value: null, revision: model.revision }
              : { ok: true, op: 'get', value: utf8(entry.value), revision: model.revision, createRevision: entry.create, modRevision: entry.mod, version: entry.version },
          )
        }
      }),
      { numRuns: 300, seed: 20261130 },
    )
  })
})
