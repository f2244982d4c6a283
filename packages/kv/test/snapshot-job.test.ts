import fc from 'fast-check'
import { bytesEqual, concatBytes } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { encodeCommand, KvStateMachine, kvCommands, type KvCommand } from '../src/index.js'

// Keys collide often (overwrites, deletes, re-creations while a job runs) and sort differently from
// insertion order; UTF-16 surrogates and non-ASCII keys check the key order.
const key = fc.oneof(fc.constantFrom('a', 'b', 'ab', 'é', '😀', 'z/9', ''), fc.integer({ min: 0, max: 60 }).map((i) => `k/${i}`))
const bytes = fc.uint8Array({ maxLength: 40 })
const command: fc.Arbitrary<KvCommand> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(key, bytes).map(([k, value]) => ({ op: 'put' as const, key: k, value })) },
  { weight: 3, arbitrary: key.map((k) => ({ op: 'delete' as const, key: k })) },
  { weight: 2, arbitrary: fc.tuple(key, bytes).map(([k, value]) => ({ op: 'append' as const, key: k, value })) },
  {
    weight: 1,
    arbitrary: fc.tuple(key, bytes, fc.constantFrom('c1', 'c2'), fc.nat({ max: 5 })).map(([k, value, client, seq]) => ({ op: 'put' as const, key: k, value, session: { client, seq } })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((ttl) => ({ op: 'lease-grant' as const, ttl })) },
)

/** Byte equality (the one-shot encoder returns a Buffer, the job a plain Uint8Array). */
function expectSame(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual?.byteLength).toBe(expected.byteLength)
  expect(bytesEqual(actual!, expected)).toBe(true)
}

const machine = () => new KvStateMachine({ historyEvents: 8 })

describe('KV snapshot in slices (ADR 0025)', () => {
  it('equals the one-shot snapshot byte for byte, with writes applied between slices left out', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(
        fc.array(command, { maxLength: 120 }),
        fc.array(command, { maxLength: 120 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 9 }),
        fc.boolean(),
        (before, during, sliceBytes, sortRunKeys, streamed) => {
          const kv = machine()
          let index = 0
          for (const c of before) kv.apply(encodeCommand(c), ++index)
          const oneShot = kv.snapshot()
          // Streamed (ADR 0027): the bytes go into a sink as they are encoded; the step's result is empty.
          const chunks: Uint8Array[] = []
          const job = kv.beginSnapshot({ sliceBytes, sortRunKeys, ...(streamed ? { into: { write: (chunk: Uint8Array) => void chunks.push(chunk.slice()) } } : {}) })
          let out: Uint8Array | undefined
          let steps = 0
          for (const c of during) {
            kv.apply(encodeCommand(c), ++index)
            out ??= job.step()
            steps++
          }
          while (out === undefined && steps++ < 100_000) out = job.step()
          if (streamed) {
            expect(out?.byteLength).toBe(0)
            expectSame(concatBytes(chunks), oneShot)
          } else expectSame(out, oneShot)
          // Once done the state machine keeps no before-images: the next snapshot is of the new state.
          const now = kv.beginSnapshot({ sliceBytes, sortRunKeys })
          let again: Uint8Array | undefined
          while (again === undefined) again = now.step()
          expectSame(again, kv.snapshot())
        },
      ),
      { numRuns: 300 },
    )
  })

  it('a restored state machine gives the same bytes; a restore during a job leaves the job on the state it began with', () => {
    const kv = machine()
    for (let i = 0; i < 500; i++) kv.apply(kvCommands.put(`key/${(i * 7919) % 500}`, new Uint8Array([i & 0xff, 1, 2])), i + 1)
    const oneShot = kv.snapshot()
    const job = kv.beginSnapshot({ sliceBytes: 64, sortRunKeys: 37 })
    let steps = 1
    expect(job.step()).toBeUndefined()
    const other = machine()
    other.apply(kvCommands.put('other', new Uint8Array([9])), 1)
    kv.restore(other.snapshot())
    // Writes after the restore go to the new state and do not touch the job's.
    kv.apply(kvCommands.put('key/1', new Uint8Array([42])), 600)
    kv.apply(kvCommands.delete('key/2'), 601)
    let out: Uint8Array | undefined
    while (out === undefined) {
      out = job.step()
      steps++
    }
    expectSame(out, oneShot)
    expect(steps).toBeGreaterThan(20) // it really went in slices
    const restored = machine()
    restored.restore(out)
    expect(restored.snapshot()).toEqual(oneShot)
  })

  it('each step is bounded: about sliceBytes of output, sortRunKeys keys sorted', () => {
    const kv = machine()
    const keys = 20_000
    for (let i = 0; i < keys; i++) kv.apply(kvCommands.put(`key/${(i * 7919) % keys}`, new Uint8Array(100)), i + 1)
    const oneShot = kv.snapshot()
    const job = kv.beginSnapshot({ sliceBytes: 64 * 1024, sortRunKeys: 2048 })
    let out: Uint8Array | undefined
    let steps = 0
    while (out === undefined) {
      out = job.step()
      steps++
    }
    expectSame(out, oneShot)
    // 10 sort runs, ≈ 2.4 MB / 64 KiB encode slices, the same again to join.
    const slices = Math.ceil(oneShot.byteLength / (64 * 1024))
    expect(steps).toBeGreaterThanOrEqual(10 + slices)
    expect(steps).toBeLessThanOrEqual(10 + 2 * slices + 3)
  })

  it('an aborted job stops remembering writes and returns nothing', () => {
    const kv = machine()
    kv.apply(kvCommands.put('a', new Uint8Array([1])), 1)
    const job = kv.beginSnapshot({ sortRunKeys: 1 })
    job.abort()
    expect(job.step()).toBeUndefined()
    // A new job begun after it is independent of it.
    kv.apply(kvCommands.put('a', new Uint8Array([2])), 2)
    const next = kv.beginSnapshot()
    let out: Uint8Array | undefined
    while (out === undefined) out = next.step()
    expectSame(out, kv.snapshot())
  })
})
