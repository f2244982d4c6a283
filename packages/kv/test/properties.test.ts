import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeCommand,
  decodeResult,
  encodeCommand,
  encodeResult,
  KV_ERROR_CODES,
  KvStateMachine,
  type KvCommand,
  type KvResult,
  type KvSession,
} from '../src/index.js'

// A small key and client space so that commands collide: overwrites, cas hits, retries, evictions.
const key = fc.constantFrom('a', 'b', 'ab', 'abc', 'b/1', 'é', '')
const bytes = fc.uint8Array({ maxLength: 6 })
const session = fc.record({ client: fc.constantFrom('c1', 'c2', 'c3', 'c4'), seq: fc.nat({ max: 6 }) })
const optionalSession = fc.option(session, { nil: undefined })

function withSession<T extends object>(command: T, s: KvSession | undefined): T {
  return s === undefined ? command : { ...command, session: s }
}

const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.tuple(key, optionalSession).map(([k, s]) => withSession({ op: 'get' as const, key: k }, s)),
  fc
    .tuple(key, fc.option(key, { nil: undefined }), fc.integer({ min: 0, max: 4 }), fc.constantFrom(undefined, 'values' as const, 'count' as const), optionalSession)
    .map(([prefix, after, limit, mode, s]) =>
      withSession({ op: 'list' as const, prefix, ...(after === undefined ? {} : { after }), limit, ...(mode === undefined ? {} : { mode }) }, s),
    ),
  fc.tuple(key, bytes, optionalSession).map(([k, value, s]) => withSession({ op: 'put' as const, key: k, value }, s)),
  fc.tuple(key, optionalSession).map(([k, s]) => withSession({ op: 'delete' as const, key: k }, s)),
  fc
    .tuple(key, fc.option(bytes, { nil: null }), bytes, optionalSession)
    .map(([k, expected, value, s]) => withSession({ op: 'cas' as const, key: k, expected, value }, s)),
  fc.tuple(key, bytes, optionalSession).map(([k, value, s]) => withSession({ op: 'append' as const, key: k, value }, s)),
  optionalSession.map((s) => withSession({ op: 'disarm' as const }, s)),
  // Leases: ids are log indexes, so small numbers hit real leases; puts attach keys to them.
  fc.tuple(key, bytes, fc.integer({ min: 1, max: 12 }), optionalSession).map(([k, value, lease, s]) => withSession({ op: 'put' as const, key: k, value, lease }, s)),
  fc.tuple(fc.integer({ min: 0, max: 3 }), optionalSession).map(([ttl, s]) => withSession({ op: 'lease-grant' as const, ttl }, s)),
  fc.tuple(fc.integer({ min: 1, max: 12 }), optionalSession).map(([id, s]) => withSession({ op: 'lease-keepalive' as const, id }, s)),
  fc.tuple(fc.integer({ min: 1, max: 12 }), optionalSession).map(([id, s]) => withSession({ op: 'lease-revoke' as const, id }, s)),
  fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 })).map(([id, renewed]) => ({ op: 'lease-expire' as const, id, renewed })),
)

// Mostly valid commands, sometimes garbage; limits small enough that too-large happens.
const commandBytes = fc.oneof(
  { weight: 12, arbitrary: command.map(encodeCommand) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 8 }) },
)

function newMachine(): KvStateMachine {
  return new KvStateMachine({ maxSessions: 2, maxValueBytes: 10, maxListItems: 3, maxKeyBytes: 3, maxListKeys: 3, quotaBytes: 24, historyEvents: 5, maxLeases: 3 })
}

describe('properties', () => {
  it('snapshot → restore → continue is indistinguishable from never restoring', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.array(commandBytes, { maxLength: 40 }), fc.array(commandBytes, { maxLength: 40 }), (before, after) => {
        const original = newMachine()
        let index = 0
        for (const c of before) original.apply(c, ++index)
        const snapshot = original.snapshot()
        const restored = newMachine()
        restored.restore(snapshot)
        expect(restored.snapshot()).toEqual(snapshot)
        const resumeAt = index
        for (const c of after) {
          index++
          expect(restored.apply(c, index)).toEqual(original.apply(c, index))
        }
        expect(restored.snapshot()).toEqual(original.snapshot())
        // And a third machine restored from the same snapshot answers reads alike.
        const third = newMachine()
        third.restore(snapshot)
        let thirdIndex = resumeAt
        for (const c of after) third.apply(c, ++thirdIndex)
        for (const k of ['a', 'b', 'ab', 'abc', 'b/1', 'é', ''])
          expect(third.query(encodeCommand({ op: 'get', key: k }))).toEqual(original.query(encodeCommand({ op: 'get', key: k })))
      }),
      { numRuns: 300, seed: 20240611 },
    )
  })

  it('two replicas applying the same commands give the same results and snapshot bytes', () => {
    fc.assert(
      fc.property(fc.array(commandBytes, { maxLength: 60 }), (commands) => {
        const a = newMachine()
        const b = newMachine()
        commands.forEach((c, i) => expect(a.apply(c, i + 1)).toEqual(b.apply(c, i + 1)))
        expect(a.snapshot()).toEqual(b.snapshot())
      }),
      { numRuns: 200, seed: 7 },
    )
  })

  it('commands round-trip through the codec, and encoding is canonical', () => {
    fc.assert(
      fc.property(command, (c) => {
        const encoded = encodeCommand(c)
        const decoded = decodeCommand(encoded)
        expect(decoded).toEqual(c)
        expect(encodeCommand(decoded)).toEqual(encoded)
      }),
      { numRuns: 500, seed: 1 },
    )
  })

  const value = fc.oneof(bytes, fc.array(bytes, { maxLength: 3 }))
  const result: fc.Arbitrary<KvResult> = fc.oneof(
    fc.option(value, { nil: null }).map((v) => ({ ok: true as const, op: 'get' as const, value: v })),
    fc.tuple(fc.array(fc.string(), { maxLength: 4 }), fc.boolean()).map(([keys, more]) => ({ ok: true as const, op: 'list' as const, keys, more })),
    fc.constant({ ok: true as const, op: 'put' as const }),
    fc.boolean().map((existed) => ({ ok: true as const, op: 'delete' as const, existed })),
    fc.constant({ ok: true as const, op: 'cas' as const }),
    fc.nat().map((length) => ({ ok: true as const, op: 'append' as const, length })),
    fc.boolean().map((disarmed) => ({ ok: true as const, op: 'disarm' as const, disarmed })),
    fc
      .tuple(fc.constantFrom('lease-grant' as const, 'lease-keepalive' as const), fc.nat(), fc.nat())
      .map(([op, id, ttl]) => ({ ok: true as const, op, id, ttl })),
    fc
      .tuple(fc.constantFrom('lease-revoke' as const, 'lease-expire' as const), fc.nat(), fc.boolean(), fc.nat(), fc.nat())
      .map(([op, id, expired, deleted, revision]) => ({ ok: true as const, op, id, expired, deleted, revision })),
    fc
      .tuple(fc.constantFrom(...KV_ERROR_CODES.filter((c) => c !== 'cas-mismatch' && c !== 'compacted' && c !== 'future-revision')), fc.string())
      .map(([code, message]) => ({
        ok: false as const,
        code,
        message,
      })),
    // A past read's refusals carry a revision (the oldest readable one, or the store's).
    fc.tuple(fc.constantFrom('compacted' as const, 'future-revision' as const), fc.string(), fc.nat()).map(([code, message, revision]) => ({
      ok: false as const,
      code,
      message,
      revision,
    })),
    fc.tuple(fc.string(), fc.option(value, { nil: null })).map(([message, current]) => ({
      ok: false as const,
      code: 'cas-mismatch' as const,
      message,
      current,
    })),
  )

  it('results round-trip through the codec', () => {
    fc.assert(
      fc.property(result, (r) => {
        const encoded = encodeResult(r)
        expect(decodeResult(encoded)).toEqual(r)
        expect(encodeResult(decodeResult(encoded))).toEqual(encoded)
      }),
      { numRuns: 500, seed: 2 },
    )
  })

  it('apply never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
        const kv = newMachine()
        expect(decodeResult(kv.apply(garbage, 1)).ok).toBeTypeOf('boolean')
        expect(decodeResult(kv.query(garbage)).ok).toBeTypeOf('boolean')
      }),
      { numRuns: 500, seed: 3 },
    )
  })
})
