import { encodeCanonical, fromUtf8, StorageCorruptionError, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeResult, encodeCommand, KvStateMachine, kvCommands, type KvResult } from '../src/index.js'

const lastIndex = new WeakMap<KvStateMachine, number>()
/** Apply at `index`, by default the machine's next log index (the Replica's indices only grow). */
function run(kv: KvStateMachine, command: Uint8Array, index?: number): KvResult {
  const at = index ?? (lastIndex.get(kv) ?? 0) + 1
  lastIndex.set(kv, Math.max(at, lastIndex.get(kv) ?? 0))
  return decodeResult(kv.apply(command, at))
}

const text = (value: unknown) => fromUtf8(value as Uint8Array)

describe('operations', () => {
  it('put then get; get of an absent key is null', () => {
    const kv = new KvStateMachine()
    expect(run(kv, kvCommands.get('a'))).toEqual({ ok: true, op: 'get', value: null, revision: 0 })
    expect(run(kv, kvCommands.put('a', 'one'))).toEqual({ ok: true, op: 'put', revision: 2 })
    const got = run(kv, kvCommands.get('a'))
    expect(got.ok && got.op === 'get' && text(got.value)).toBe('one')
    run(kv, kvCommands.put('a', utf8('two')))
    expect(text((run(kv, kvCommands.get('a')) as { value: unknown }).value)).toBe('two')
    expect(kv.size).toBe(1)
  })

  it('delete reports whether the key existed', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('a', 'x'))
    expect(run(kv, kvCommands.delete('a'))).toEqual({ ok: true, op: 'delete', existed: true, revision: 2 })
    expect(run(kv, kvCommands.delete('a'))).toEqual({ ok: true, op: 'delete', existed: false, revision: 2 })
    expect(run(kv, kvCommands.get('a'))).toEqual({ ok: true, op: 'get', value: null, revision: 2 })
  })

  it('append builds a list, creating it when absent', () => {
    const kv = new KvStateMachine()
    expect(run(kv, kvCommands.append('l', 'a'))).toEqual({ ok: true, op: 'append', length: 1, revision: 1 })
    expect(run(kv, kvCommands.append('l', 'b'))).toEqual({ ok: true, op: 'append', length: 2, revision: 2 })
    const got = run(kv, kvCommands.get('l'))
    expect(got).toEqual({ ok: true, op: 'get', value: [utf8('a'), utf8('b')], revision: 2, createRevision: 1, modRevision: 2, version: 2 })
  })

  it('append to a bytes value is a wrong-type error and changes nothing', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('k', 'bytes'))
    expect(run(kv, kvCommands.append('k', 'x'))).toMatchObject({ ok: false, code: 'wrong-type' })
    expect(text((run(kv, kvCommands.get('k')) as { value: unknown }).value)).toBe('bytes')
  })

  it('list returns keys by prefix in order, bounded, with a cursor', () => {
    const kv = new KvStateMachine()
    for (const key of ['b/2', 'a/1', 'b/1', 'b/3', 'c']) run(kv, kvCommands.put(key, key))
    expect(run(kv, kvCommands.list('b/'))).toEqual({ ok: true, op: 'list', keys: ['b/1', 'b/2', 'b/3'], more: false, revision: 5 })
    expect(run(kv, kvCommands.list('b/', { limit: 2 }))).toEqual({ ok: true, op: 'list', keys: ['b/1', 'b/2'], more: true, revision: 5 })
    expect(run(kv, kvCommands.list('b/', { after: 'b/2', limit: 2 }))).toEqual({ ok: true, op: 'list', keys: ['b/3'], more: false, revision: 5 })
    expect(run(kv, kvCommands.list(''))).toMatchObject({ keys: ['a/1', 'b/1', 'b/2', 'b/3', 'c'] })
    expect(run(kv, kvCommands.list('', { limit: 0 }))).toMatchObject({ ok: false, code: 'too-large' })
    expect(run(kv, kvCommands.list('', { limit: 1001 }))).toMatchObject({ ok: false, code: 'too-large' })
  })
})

describe('cas', () => {
  it('with null expected succeeds only when the key is absent', () => {
    const kv = new KvStateMachine()
    expect(run(kv, kvCommands.cas('k', null, 'v1'))).toEqual({ ok: true, op: 'cas', revision: 1 })
    expect(run(kv, kvCommands.cas('k', null, 'v2'))).toEqual({
      ok: false,
      code: 'cas-mismatch',
      message: expect.any(String),
      current: utf8('v1'),
    })
  })

  it('swaps on a match and reports the current value on a mismatch', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('k', 'v1'))
    expect(run(kv, kvCommands.cas('k', 'v1', 'v2'))).toEqual({ ok: true, op: 'cas', revision: 2 })
    expect(run(kv, kvCommands.cas('k', 'v1', 'v3'))).toMatchObject({ ok: false, code: 'cas-mismatch', current: utf8('v2') })
    expect(text((run(kv, kvCommands.get('k')) as { value: unknown }).value)).toBe('v2')
  })

  it('expecting a value of an absent key reports current null', () => {
    const kv = new KvStateMachine()
    expect(run(kv, kvCommands.cas('k', 'x', 'y'))).toMatchObject({ ok: false, code: 'cas-mismatch', current: null })
    expect(run(kv, kvCommands.get('k'))).toMatchObject({ value: null })
  })

  it('on a list is a wrong-type error', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.append('l', 'a'))
    expect(run(kv, kvCommands.cas('l', null, 'y'))).toMatchObject({ ok: false, code: 'wrong-type' })
  })
})

describe('exactly-once sessions', () => {
  it('a retry with the same seq returns the cached result without re-applying', () => {
    const kv = new KvStateMachine()
    const first = kv.apply(kvCommands.append('l', 'x', { client: 'c1', seq: 1 }), 1)
    const retry = kv.apply(kvCommands.append('l', 'x', { client: 'c1', seq: 1 }), 2)
    expect(retry).toEqual(first)
    expect(decodeResult(retry)).toEqual({ ok: true, op: 'append', length: 1, revision: 1 })
    expect(run(kv, kvCommands.get('l'), 3)).toEqual({ ok: true, op: 'get', value: [utf8('x')], revision: 1, createRevision: 1, modRevision: 1, version: 1 })
    // The cached answer is returned even if state has moved on since.
    run(kv, kvCommands.put('k', 'v1'), 4)
    const casAnswer = kv.apply(kvCommands.cas('k', 'v1', 'v2', { client: 'c2', seq: 7 }), 5)
    run(kv, kvCommands.put('k', 'v1'), 6)
    expect(kv.apply(kvCommands.cas('k', 'v1', 'v2', { client: 'c2', seq: 7 }), 7)).toEqual(casAnswer)
    expect(text((run(kv, kvCommands.get('k'), 8) as { value: unknown }).value)).toBe('v1')
  })

  it('caches error results too (a failed cas is not retried into success)', () => {
    const kv = new KvStateMachine()
    const miss = kv.apply(kvCommands.cas('k', 'a', 'b', { client: 'c', seq: 1 }), 1)
    run(kv, kvCommands.put('k', 'a'), 2)
    expect(kv.apply(kvCommands.cas('k', 'a', 'b', { client: 'c', seq: 1 }), 3)).toEqual(miss)
    expect(decodeResult(miss)).toMatchObject({ code: 'cas-mismatch' })
  })

  it('an older seq than the latest gets stale-sequence and does not apply', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.append('l', '1', { client: 'c', seq: 1 }), 1)
    run(kv, kvCommands.append('l', '2', { client: 'c', seq: 2 }), 2)
    expect(run(kv, kvCommands.append('l', '1', { client: 'c', seq: 1 }), 3)).toMatchObject({ ok: false, code: 'stale-sequence' })
    expect(run(kv, kvCommands.get('l'), 4)).toMatchObject({ value: [utf8('1'), utf8('2')] })
    expect(kv.session('c')).toMatchObject({ seq: 2, lastIndex: 2 })
  })

  it('sessions are per client and gaps in seq are allowed', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.append('l', 'a', { client: 'c1', seq: 1 }), 1)
    run(kv, kvCommands.append('l', 'b', { client: 'c2', seq: 1 }), 2)
    run(kv, kvCommands.append('l', 'c', { client: 'c1', seq: 5 }), 3)
    expect(run(kv, kvCommands.get('l'), 4)).toMatchObject({ value: [utf8('a'), utf8('b'), utf8('c')] })
  })

  it('evicts the least recently applied session beyond maxSessions; its retry is refused, not applied again', () => {
    const kv = new KvStateMachine({ maxSessions: 2 })
    run(kv, kvCommands.put('k', '1', { client: 'a', seq: 1 }), 1)
    run(kv, kvCommands.put('k', '2', { client: 'b', seq: 1 }), 2)
    run(kv, kvCommands.put('k', '3', { client: 'a', seq: 1 }), 3) // retry touches a
    run(kv, kvCommands.put('k', '4', { client: 'c', seq: 1 }), 4) // evicts b, the least recent
    expect(kv.sessionCount).toBe(2)
    expect(kv.session('b')).toBeUndefined()
    expect(kv.session('a')).toMatchObject({ lastIndex: 3 })
    // b is forgotten, but its seq is below the floor: refused as expired, not applied a second time.
    expect(run(kv, kvCommands.put('k', 'b-again', { client: 'b', seq: 1 }), 5)).toMatchObject({ ok: false, code: 'session-expired' })
    expect(text((run(kv, kvCommands.get('k'), 6) as { value: unknown }).value)).toBe('4')
    expect(kv.sessionFloor('b')).toBe(2)
    // A new request of b above the floor runs.
    expect(run(kv, kvCommands.put('k', 'b-new', { client: 'b', seq: 2 }), 7)).toEqual({ ok: true, op: 'put', revision: 7 })
  })

  it('a read passed to apply does not mutate values', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('k', 'v'), 1)
    const before = kv.snapshot()
    run(kv, kvCommands.get('k'), 2)
    run(kv, kvCommands.list(''), 3)
    expect(kv.snapshot()).toEqual(before)
  })
})

describe('query', () => {
  it('answers get and list without mutation, refuses writes', () => {
    const kv = new KvStateMachine()
    kv.apply(kvCommands.put('k', 'v'), 1)
    const before = kv.snapshot()
    expect(decodeResult(kv.query(kvCommands.get('k')))).toEqual({ ok: true, op: 'get', value: utf8('v'), revision: 1, createRevision: 1, modRevision: 1, version: 1 })
    expect(decodeResult(kv.query(kvCommands.list('')))).toEqual({ ok: true, op: 'list', keys: ['k'], more: false, revision: 1 })
    expect(decodeResult(kv.query(kvCommands.put('k', 'w')))).toMatchObject({ ok: false, code: 'invalid-command' })
    expect(decodeResult(kv.query(new Uint8Array([0xff])))).toMatchObject({ ok: false, code: 'invalid-command' })
    expect(kv.snapshot()).toEqual(before)
  })
})

describe('limits', () => {
  it('defaults: 1 KiB keys, 1 MiB values', () => {
    const kv = new KvStateMachine()
    expect(kv.limits).toMatchObject({ maxKeyBytes: 1024, maxValueBytes: 1024 * 1024 })
    expect(run(kv, kvCommands.put('k'.repeat(1024), 'v'))).toEqual({ ok: true, op: 'put', revision: 1 })
    expect(run(kv, kvCommands.put('k'.repeat(1025), 'v'))).toMatchObject({ ok: false, code: 'too-large' })
    expect(run(kv, kvCommands.put('k', new Uint8Array(1024 * 1024)))).toEqual({ ok: true, op: 'put', revision: 3 })
    expect(run(kv, kvCommands.put('k', new Uint8Array(1024 * 1024 + 1)))).toMatchObject({ ok: false, code: 'too-large' })
  })

  it('keys are measured in UTF-8 bytes', () => {
    const kv = new KvStateMachine({ maxKeyBytes: 8 })
    expect(run(kv, kvCommands.put('éééé', 'v'))).toEqual({ ok: true, op: 'put', revision: 1 }) // 8 bytes
    expect(run(kv, kvCommands.put('ééééé', 'v'))).toMatchObject({ code: 'too-large', message: expect.stringMatching(/10 UTF-8 bytes/) })
    expect(run(kv, kvCommands.put('😀😀', 'v'))).toEqual({ ok: true, op: 'put', revision: 3 }) // 2 × 4 bytes
    expect(run(kv, kvCommands.get('😀😀😀'))).toMatchObject({ code: 'too-large' })
  })

  it('cas checks its values; lists are bounded in bytes and items', () => {
    const kv = new KvStateMachine({ maxValueBytes: 4, maxListItems: 3 })
    expect(run(kv, kvCommands.cas('k', null, '12345'))).toMatchObject({ code: 'too-large' })
    expect(run(kv, kvCommands.cas('k', '12345', '1'))).toMatchObject({ code: 'too-large' })
    run(kv, kvCommands.append('l', '12'))
    expect(run(kv, kvCommands.append('l', '123'))).toMatchObject({ code: 'too-large' })
    run(kv, kvCommands.append('l', '1'))
    run(kv, kvCommands.append('l', '1'))
    expect(run(kv, kvCommands.append('l', ''))).toMatchObject({ code: 'too-large', message: expect.stringMatching(/3 elements/) })
    expect(run(kv, kvCommands.get('l'))).toMatchObject({ value: [utf8('12'), utf8('1'), utf8('1')] })
  })

  it('refuses bad limits with ConfigError', () => {
    expect(() => new KvStateMachine({ maxKeyBytes: 0 })).toThrow(/maxKeyBytes/)
    expect(() => new KvStateMachine({ maxValueBytes: 1.5 })).toThrow(/maxValueBytes/)
    expect(() => new KvStateMachine({ maxSessions: -1 })).toThrow(/maxSessions/)
    // undefined means "default", as a config file with the field left out.
    expect(new KvStateMachine({ maxKeyBytes: undefined }).limits.maxKeyBytes).toBe(1024)
  })
})

describe('malformed commands', () => {
  const malformed: Array<[string, Uint8Array]> = [
    ['garbage bytes', new Uint8Array([0xff, 0xfe, 0x00])],
    ['empty bytes', new Uint8Array(0)],
    ['trailing bytes', new Uint8Array([...kvCommands.get('k'), 0])],
    ['a non-map', encodeCanonical(['put', 'k'])],
    ['an unknown op', encodeCanonical({ op: 'increment', key: 'k' })],
    ['a missing key', encodeCanonical({ op: 'put', value: new Uint8Array(1) })],
    ['a numeric key', encodeCanonical({ op: 'get', key: 5 })],
    ['a string value', encodeCanonical({ op: 'put', key: 'k', value: 'v' })],
    ['an unknown field', encodeCanonical({ op: 'put', key: 'k', value: new Uint8Array(1), ttl: 5 })],
    ['a field of another op', encodeCanonical({ op: 'get', key: 'k', value: new Uint8Array(1) })],
    ['cas without expected', encodeCanonical({ op: 'cas', key: 'k', value: new Uint8Array(1) })],
    ['client without seq', encodeCanonical({ op: 'put', key: 'k', value: new Uint8Array(1), client: 'c' })],
    ['a negative seq', encodeCanonical({ op: 'put', key: 'k', value: new Uint8Array(1), client: 'c', seq: -1 })],
    ['a fractional seq', encodeCanonical({ op: 'put', key: 'k', value: new Uint8Array(1), client: 'c', seq: 1.5 })],
    ['a long client id', encodeCanonical({ op: 'put', key: 'k', value: new Uint8Array(1), client: 'c'.repeat(257), seq: 1 })],
    ['a list element that is not bytes', encodeCanonical({ op: 'append', key: 'k', value: [new Uint8Array(1)] })],
  ]

  it.each(malformed)('%s: apply returns invalid-command, identically on every replica, and changes nothing', (_, bytes) => {
    const a = new KvStateMachine()
    const b = new KvStateMachine()
    a.apply(kvCommands.put('x', '1'), 1)
    b.apply(kvCommands.put('x', '1'), 1)
    const before = a.snapshot()
    const answer = a.apply(bytes, 2)
    expect(decodeResult(answer)).toMatchObject({ ok: false, code: 'invalid-command' })
    expect(b.apply(bytes, 2)).toEqual(answer)
    expect(a.snapshot()).toEqual(before)
  })

  it('encodeCommand of a hand-built command decodes the same', () => {
    const kv = new KvStateMachine()
    expect(run(kv, encodeCommand({ op: 'put', key: 'k', value: utf8('v'), session: { client: 'c', seq: 0 } }))).toEqual({ ok: true, op: 'put', revision: 1 })
  })
})

describe('snapshot and restore', () => {
  it('restores values, lists and sessions; equal states give equal bytes whatever the insertion order', () => {
    const a = new KvStateMachine()
    a.apply(kvCommands.put('y', '2'), 1)
    a.apply(kvCommands.put('x', '1'), 2)
    a.apply(kvCommands.append('l', 'e', { client: 'c', seq: 3 }), 3)
    // b holds the same state with its keys inserted in another order (a restore inserts them sorted).
    const b = new KvStateMachine()
    b.restore(a.snapshot())
    a.apply(kvCommands.put('w', '0'), 4)
    b.apply(kvCommands.put('w', '0'), 4)
    expect(b.snapshot()).toEqual(a.snapshot())

    const restored = new KvStateMachine()
    restored.restore(a.snapshot())
    expect(restored.snapshot()).toEqual(a.snapshot())
    expect(decodeResult(restored.query(kvCommands.get('l')))).toEqual({ ok: true, op: 'get', value: [utf8('e')], revision: 4, createRevision: 3, modRevision: 3, version: 1 })
    // The session survived: the retry is answered from the cache.
    expect(restored.apply(kvCommands.append('l', 'e', { client: 'c', seq: 3 }), 4)).toEqual(
      a.apply(kvCommands.append('l', 'e', { client: 'c', seq: 3 }), 4),
    )
    expect(decodeResult(restored.query(kvCommands.get('l')))).toMatchObject({ value: [utf8('e')] })
  })

  it('replaces the state entirely', () => {
    const kv = new KvStateMachine()
    kv.apply(kvCommands.put('old', 'v'), 1)
    kv.restore(new KvStateMachine().snapshot())
    expect(kv.size).toBe(0)
  })

  const sessionResult = encodeCanonical({ ok: true, op: 'put' })
  const corrupt: Array<[string, Uint8Array]> = [
    ['garbage', new Uint8Array([1, 2, 3])],
    ['an unknown version', encodeCanonical({ version: 6, values: [], sessions: [] })],
    ['a version 3 snapshot without the store revision', encodeCanonical({ version: 3, values: [], sessions: [], floors: [], signedFloor: 0, alarm: false })],
    [
      'a version 3 value without revisions',
      encodeCanonical({ version: 3, values: [['a', new Uint8Array(1)]], revision: 1, sessions: [], floors: [], signedFloor: 0, alarm: false }),
    ],
    [
      'a key modified after the store revision',
      encodeCanonical({ version: 3, values: [['a', new Uint8Array(1), 1, 5, 1]], revision: 4, sessions: [], floors: [], signedFloor: 0, alarm: false }),
    ],
    [
      'a key modified before it was created',
      encodeCanonical({ version: 3, values: [['a', new Uint8Array(1), 3, 2, 1]], revision: 4, sessions: [], floors: [], signedFloor: 0, alarm: false }),
    ],
    ['a version 2 snapshot without floors', encodeCanonical({ version: 2, values: [], sessions: [] })],
    ['unsorted floors', encodeCanonical({ version: 2, values: [], sessions: [], floors: [['b', 1], ['a', 1]], signedFloor: 0, alarm: false })],
    ['a negative floor', encodeCanonical({ version: 2, values: [], sessions: [], floors: [['a', -1]], signedFloor: 0, alarm: false })],
    ['a non-boolean alarm', encodeCanonical({ version: 2, values: [], sessions: [], floors: [], signedFloor: 0, alarm: 1 })],
    ['an unknown field', encodeCanonical({ version: 1, values: [], sessions: [], extra: 0 })],
    ['unsorted keys', encodeCanonical({ version: 1, values: [['b', new Uint8Array(1)], ['a', new Uint8Array(1)]], sessions: [] })],
    ['a duplicate key', encodeCanonical({ version: 1, values: [['a', new Uint8Array(1)], ['a', new Uint8Array(1)]], sessions: [] })],
    ['a null value', encodeCanonical({ version: 1, values: [['a', null]], sessions: [] })],
    ['a numeric value', encodeCanonical({ version: 1, values: [['a', 5]], sessions: [] })],
    ['a short session', encodeCanonical({ version: 1, values: [], sessions: [['c', 1, 1]] })],
    ['a session with a bad result', encodeCanonical({ version: 1, values: [], sessions: [['c', 1, 1, new Uint8Array([0xff])]] })],
    [
      'unordered sessions',
      encodeCanonical({ version: 1, values: [], sessions: [['a', 1, 5, sessionResult], ['b', 1, 4, sessionResult]] }),
    ],
    [
      'a duplicate session',
      encodeCanonical({ version: 1, values: [], sessions: [['a', 1, 5, sessionResult], ['a', 2, 5, sessionResult]] }),
    ],
  ]

  it.each(corrupt)('refuses %s with StorageCorruptionError and keeps the old state', (_, bytes) => {
    const kv = new KvStateMachine()
    kv.apply(kvCommands.put('keep', 'me'), 1)
    const before = kv.snapshot()
    expect(() => kv.restore(bytes)).toThrow(StorageCorruptionError)
    expect(kv.snapshot()).toEqual(before)
  })

  it('stored values do not alias a Buffer the command came in', () => {
    const kv = new KvStateMachine()
    const command = Buffer.from(kvCommands.put('k', 'abc'))
    kv.apply(command, 1)
    command.fill(0)
    expect(decodeResult(kv.query(kvCommands.get('k')))).toEqual({ ok: true, op: 'get', value: utf8('abc'), revision: 1, createRevision: 1, modRevision: 1, version: 1 })
  })
})

describe('revisions (etcd semantics: the log index of each change)', () => {
  it('a key records the revision that created it, the last that changed it, and how often it changed', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('a', '1'), 10)
    run(kv, kvCommands.put('b', '1'), 11)
    run(kv, kvCommands.put('a', '2'), 12)
    expect(run(kv, kvCommands.get('a'), 13)).toEqual({ ok: true, op: 'get', value: utf8('2'), revision: 12, createRevision: 10, modRevision: 12, version: 2 })
    // Delete ends the key's life: created again, it starts over (version 1), as in etcd.
    expect(run(kv, kvCommands.delete('a'), 14)).toEqual({ ok: true, op: 'delete', existed: true, revision: 14 })
    expect(run(kv, kvCommands.append('a', 'x'), 15)).toEqual({ ok: true, op: 'append', length: 1, revision: 15 })
    expect(run(kv, kvCommands.get('a'), 16)).toMatchObject({ revision: 15, createRevision: 15, modRevision: 15, version: 1 })
    expect(run(kv, kvCommands.get('b'), 17)).toMatchObject({ revision: 15, createRevision: 11, modRevision: 11, version: 1 })
    expect(kv.currentRevision).toBe(15)
  })

  it('reads, refused writes and no-op deletes leave the store revision alone', () => {
    const kv = new KvStateMachine({ maxValueBytes: 4 })
    run(kv, kvCommands.put('k', 'v'), 1)
    run(kv, kvCommands.get('k'), 2)
    expect(run(kv, kvCommands.cas('k', 'oth', 'w'), 3)).toMatchObject({ ok: false, code: 'cas-mismatch' })
    expect(run(kv, kvCommands.put('k', 'too long'), 4)).toMatchObject({ ok: false, code: 'too-large' })
    expect(run(kv, kvCommands.delete('absent'), 5)).toEqual({ ok: true, op: 'delete', existed: false, revision: 1 })
    expect(run(kv, kvCommands.append('k', 'x'), 6)).toMatchObject({ ok: false, code: 'wrong-type' })
    expect(kv.currentRevision).toBe(1)
    expect(run(kv, kvCommands.get('k'), 7)).toMatchObject({ revision: 1, modRevision: 1, version: 1 })
  })

  it('a retry answered from the session cache reports the revision of the first run', () => {
    const kv = new KvStateMachine()
    const first = kv.apply(kvCommands.put('k', 'v', { client: 'c', seq: 1 }), 5)
    kv.apply(kvCommands.put('other', 'v'), 6)
    expect(decodeResult(kv.apply(kvCommands.put('k', 'v', { client: 'c', seq: 1 }), 7))).toEqual({ ok: true, op: 'put', revision: 5 })
    expect(decodeResult(first)).toEqual({ ok: true, op: 'put', revision: 5 })
    expect(run(kv, kvCommands.get('k'), 8)).toMatchObject({ modRevision: 5, version: 1 })
  })

  it('a listing with values carries each key’s revisions', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('p/a', '1'), 1)
    run(kv, kvCommands.put('p/b', '1'), 2)
    run(kv, kvCommands.put('p/a', '2'), 3)
    expect(run(kv, kvCommands.list('p/', { mode: 'values' }), 4)).toEqual({
      ok: true,
      op: 'list',
      keys: ['p/a', 'p/b'],
      values: [utf8('2'), utf8('1')],
      revisions: [
        [1, 3, 2],
        [2, 2, 1],
      ],
      more: false,
      revision: 3,
    })
  })

  it('snapshots keep revisions; a version 2 snapshot (before revisions) loads with revision 0', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('a', '1'), 4)
    run(kv, kvCommands.put('a', '2'), 9)
    const restored = new KvStateMachine()
    restored.restore(kv.snapshot())
    expect(restored.currentRevision).toBe(9)
    expect(run(restored, kvCommands.get('a'), 10)).toMatchObject({ revision: 9, createRevision: 4, modRevision: 9, version: 2 })
    const old = new KvStateMachine()
    old.restore(encodeCanonical({ version: 2, values: [['a', utf8('v')]], sessions: [], floors: [], signedFloor: 0, alarm: false }))
    expect(old.currentRevision).toBe(0)
    expect(run(old, kvCommands.get('a'), 1)).toEqual({ ok: true, op: 'get', value: utf8('v'), revision: 0, createRevision: 0, modRevision: 0, version: 0 })
    expect(run(old, kvCommands.put('a', 'w'), 2)).toEqual({ ok: true, op: 'put', revision: 2 })
    expect(run(old, kvCommands.get('a'), 3)).toMatchObject({ createRevision: 0, modRevision: 2, version: 1 })
  })
})
