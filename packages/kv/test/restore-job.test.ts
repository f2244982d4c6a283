import fc from 'fast-check'
import { bytesEqual, StorageCorruptionError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { encodeCommand, KvStateMachine, kvCommands, type KvCommand } from '../src/index.js'

const key = fc.oneof(fc.constantFrom('a', 'b', 'ab', 'é', '😀', ''), fc.integer({ min: 0, max: 40 }).map((i) => `k/${i}`))
const bytes = fc.uint8Array({ maxLength: 30 })
const command: fc.Arbitrary<KvCommand> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(key, bytes).map(([k, value]) => ({ op: 'put' as const, key: k, value })) },
  { weight: 2, arbitrary: key.map((k) => ({ op: 'delete' as const, key: k })) },
  { weight: 2, arbitrary: fc.tuple(key, bytes).map(([k, value]) => ({ op: 'append' as const, key: k, value })) },
  {
    weight: 1,
    arbitrary: fc.tuple(key, bytes, fc.constantFrom('c1', 'c2'), fc.nat({ max: 5 })).map(([k, value, client, seq]) => ({ op: 'put' as const, key: k, value, session: { client, seq } })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((ttl) => ({ op: 'lease-grant' as const, ttl })) },
)
const machine = () => new KvStateMachine({ historyEvents: 6 })

function withState(commands: readonly KvCommand[]): KvStateMachine {
  const kv = machine()
  commands.forEach((c, i) => kv.apply(encodeCommand(c), i + 1))
  return kv
}

/** Restore in slices; returns the error a step threw, if any. The state must not change before the last step. */
function restoreInSlices(target: KvStateMachine, data: Uint8Array, sliceEntries: number): unknown {
  const before = target.snapshot()
  const job = target.beginRestore(data, { sliceEntries })
  try {
    for (let i = 0; i < 1_000_000; i++) {
      if (job.step()) return undefined
      expect(bytesEqual(target.snapshot(), before)).toBe(true)
    }
  } catch (error) {
    expect(bytesEqual(target.snapshot(), before)).toBe(true)
    return error
  }
  throw new Error('never finished')
}

describe('KV restore in slices (ADR 0025)', () => {
  it('gives the state restore() gives, and the old state until its last step', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 100 }), fc.array(command, { maxLength: 20 }), fc.integer({ min: 1, max: 7 }), (source, old, sliceEntries) => {
        const data = withState(source).snapshot()
        const target = withState(old)
        expect(restoreInSlices(target, data, sliceEntries)).toBeUndefined()
        expect(bytesEqual(target.snapshot(), data)).toBe(true)
        // And it goes on as the one-shot restore does.
        const oneShot = machine()
        oneShot.restore(data)
        const next = kvCommands.put('k/1', new Uint8Array([1]))
        expect(target.apply(next, 10_000)).toEqual(oneShot.apply(next, 10_000))
        expect(bytesEqual(target.snapshot(), oneShot.snapshot())).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('accepts exactly what restore() accepts: damaged snapshots (a byte changed, truncated, extended) fail both or restore the same state', { timeout: 120_000 }, () => {
    const data = withState(
      Array.from({ length: 60 }, (_, i): KvCommand => (i % 7 === 3 ? { op: 'delete', key: `k/${i % 11}` } : { op: 'put', key: `k/${(i * 13) % 29}`, value: new Uint8Array([i, i + 1]) })),
    ).snapshot()
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.nat({ max: data.byteLength - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
            const copy = data.slice()
            copy[at] = byte
            return copy
          }),
          fc.nat({ max: data.byteLength - 1 }).map((length) => data.slice(0, length)),
          fc.uint8Array({ minLength: 1, maxLength: 4 }).map((extra) => Uint8Array.from([...data, ...extra])),
        ),
        fc.integer({ min: 1, max: 5 }),
        (damaged, sliceEntries) => {
          const oneShot = machine()
          let oneShotError: unknown
          try {
            oneShot.restore(damaged)
          } catch (error) {
            oneShotError = error
          }
          const sliced = machine()
          const slicedError = restoreInSlices(sliced, damaged, sliceEntries)
          expect(slicedError === undefined, `one-shot: ${String(oneShotError)}; sliced: ${String(slicedError)}`).toBe(oneShotError === undefined)
          if (oneShotError !== undefined) expect(slicedError).toBeInstanceOf(StorageCorruptionError)
          else expect(bytesEqual(sliced.snapshot(), oneShot.snapshot())).toBe(true)
        },
      ),
      { numRuns: 1500 },
    )
  })

  it('a large store is decoded over many bounded steps', () => {
    const kv = machine()
    for (let i = 0; i < 5000; i++) kv.apply(kvCommands.put(`key/${i}`, new Uint8Array(20)), i + 1)
    const data = kv.snapshot()
    const target = machine()
    const job = target.beginRestore(data, { sliceEntries: 100 })
    let steps = 1
    while (!job.step()) steps++
    expect(steps).toBeGreaterThanOrEqual(100) // 50 walking, 1 for the record, 50 decoding
    expect(bytesEqual(target.snapshot(), data)).toBe(true)
  })
})
