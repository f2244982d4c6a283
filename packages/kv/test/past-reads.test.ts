// Reads at a past revision (etcd's range with `revision`): the current state with every later change undone
// from the watch history's previous states. Checked against a model that records the whole store after
// every log entry: every revision the history still reaches reads exactly what was current then.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeCanonical, utf8 } from '@synod/core'
import { decodeCommand, decodeResult, kvCommands, KvStateMachine, type KvResult } from '../src/index.js'

type Row = [key: string, value: string, create: number, mod: number, version: number]

const text = new TextDecoder()
const show = (v: unknown): string => (v instanceof Uint8Array ? text.decode(v) : JSON.stringify((v as Uint8Array[]).map((e) => text.decode(e))))

function run(kv: KvStateMachine, command: Uint8Array, index?: number): KvResult {
  return decodeResult(index === undefined ? kv.query(command) : kv.apply(command, index))
}

/** Every key with its value and revisions, from a `list` answer (one page: the tests stay under the limit). */
function rows(result: KvResult): Row[] {
  if (!result.ok || result.op !== 'list') throw new Error(`not a list: ${JSON.stringify(result)}`)
  expect(result.more).toBe(false)
  return result.keys.map((key, i) => [key, show(result.values![i]), ...result.revisions![i]!] as Row)
}

const at = (kv: KvStateMachine, revision: number | undefined, prefix = ''): KvResult =>
  run(kv, kvCommands.list(prefix, { limit: 1000, mode: 'values', ...(revision === undefined ? {} : { revision }) }))

const KEYS = ['a', 'a/1', 'a/2', 'b', 'b/1']
const key = fc.constantFrom(...KEYS)
const value = fc.constantFrom('x', 'y', 'z', 'long-value-'.repeat(4))
const step = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key, value }),
  fc.record({ op: fc.constant('delete' as const), key }),
  fc.record({ op: fc.constant('append' as const), key, value }),
  fc.record({ op: fc.constant('cas' as const), key, value }),
  fc.record({ op: fc.constant('txn' as const), key, other: key, value }),
  fc.record({ op: fc.constant('lease' as const), key, value }),
  fc.record({ op: fc.constant('get' as const), key }),
  fc.record({ op: fc.constant('snapshot' as const) }),
)

describe('reads at a past revision', () => {
  it('every revision within the window reads what was current then; below it compacted, beyond it future-revision', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), fc.integer({ min: 3, max: 40 }), (steps, historyEvents) => {
        let kv = new KvStateMachine({ historyEvents })
        const model: Row[][] = [[]] // model[i]: the whole store after log entry i
        let index = 0
        for (const s of steps) {
          index++
          switch (s.op) {
            case 'put':
              run(kv, kvCommands.put(s.key, s.value), index)
              break
            case 'delete':
              run(kv, kvCommands.delete(s.key), index)
              break
            case 'append':
              run(kv, kvCommands.append(s.key, s.value), index)
              break
            case 'cas':
              run(kv, kvCommands.cas(s.key, 'x', s.value), index)
              break
            case 'txn':
              run(kv, kvCommands.txn([], s.key === s.other ? [{ op: 'delete', key: s.key }] : [{ op: 'put', key: s.key, value: utf8(s.value) }, { op: 'delete', key: s.other }]), index)
              break
            case 'lease': {
              // A lease with one key, revoked in the next entry: its key goes as a delete at that revision.
              const granted = run(kv, kvCommands.leaseGrant(10), index)
              model.push(rows(at(kv, undefined)))
              index++
              if (granted.ok && granted.op === 'lease-grant') run(kv, kvCommands.put(s.key, s.value, undefined, granted.id), index)
              model.push(rows(at(kv, undefined)))
              index++
              if (granted.ok && granted.op === 'lease-grant') run(kv, kvCommands.leaseRevoke(granted.id), index)
              break
            }
            case 'get':
              run(kv, kvCommands.get(s.key), index)
              break
            case 'snapshot': {
              // Snapshot-complete: a replica restored from a snapshot answers past reads alike.
              const copy = new KvStateMachine({ historyEvents })
              copy.restore(kv.snapshot())
              expect(copy.snapshot()).toEqual(kv.snapshot())
              kv = copy
              run(kv, kvCommands.get('a'), index)
              break
            }
          }
          model.push(rows(at(kv, undefined)))
        }
        const current = kv.currentRevision
        const oldest = kv.readableFrom
        expect(oldest).toBe(kv.compactRevision)
        for (let r = Math.max(1, oldest); r <= current; r++) {
          expect(rows(at(kv, r))).toEqual(model[r])
          // A prefix and a key range read the same past state, filtered.
          expect(rows(at(kv, r, 'a/'))).toEqual(model[r]!.filter(([k]) => k.startsWith('a/')))
          const count = run(kv, kvCommands.list('', { mode: 'count', revision: r }))
          expect(count).toMatchObject({ ok: true, count: model[r]!.length })
        }
        if (oldest > 1) expect(at(kv, oldest - 1)).toMatchObject({ ok: false, code: 'compacted', revision: oldest })
        expect(at(kv, current + 1)).toMatchObject({ ok: false, code: 'future-revision', revision: current })
      }),
      { numRuns: 150 },
    )
  })

  it('keys-only pages of a past revision page on with after, as the current ones do', () => {
    const kv = new KvStateMachine()
    for (let i = 1; i <= 5; i++) run(kv, kvCommands.put(`k${i}`, 'v'), i)
    run(kv, kvCommands.delete('k2'), 6)
    run(kv, kvCommands.put('k9', 'v'), 7)
    const first = run(kv, kvCommands.list('k', { limit: 2, revision: 5 }))
    expect(first).toMatchObject({ ok: true, keys: ['k1', 'k2'], more: true, revision: 7 })
    expect(run(kv, kvCommands.list('k', { limit: 10, after: 'k2', revision: 5 }))).toMatchObject({ keys: ['k3', 'k4', 'k5'], more: false })
    expect(run(kv, kvCommands.list('k', { limit: 10, start: 'k2', end: 'k4', revision: 6 }))).toMatchObject({ keys: ['k3'] })
  })

  it('revision 0 is not a revision on the wire (the current state is asked for without one)', () => {
    const encoded = encodeCanonical({ op: 'list', prefix: '', limit: 1, revision: 0 })
    expect(() => decodeCommand(encoded)).toThrow(/at least 1/)
  })

  it('a version 4 snapshot (events without their previous state) reads back only to the revision it was taken at', () => {
    const v4 = encodeCanonical({
      version: 4,
      values: [['a', utf8('2'), 1, 2, 2]],
      revision: 2,
      sessions: [],
      floors: [],
      signedFloor: 0,
      alarm: false,
      history: [
        [1, 'put', 'a', utf8('1'), 1, 1, 1],
        [2, 'put', 'a', utf8('2'), 1, 2, 2],
      ],
      compactRevision: 0,
      leases: [],
    })
    const kv = new KvStateMachine()
    kv.restore(v4)
    expect(kv.changesSince(1, '')).toMatchObject({ compacted: false }) // watchers keep the window
    expect(at(kv, 1)).toMatchObject({ ok: false, code: 'compacted', revision: 2 })
    run(kv, kvCommands.put('a', '3'), 3)
    expect(rows(at(kv, 2))).toEqual([['a', '2', 1, 2, 2]])
    const copy = new KvStateMachine()
    copy.restore(kv.snapshot())
    expect(copy.readableFrom).toBe(2)
    expect(rows(at(copy, 2))).toEqual([['a', '2', 1, 2, 2]])
  })

  it('the previous values count against historyBytes', () => {
    const kv = new KvStateMachine({ historyBytes: 32 * 4 + 4 * 100 + 200 })
    const big = 'v'.repeat(100)
    for (let i = 1; i <= 4; i++) run(kv, kvCommands.put('k', big), i)
    // Each overwrite holds its value and the one it replaced: four events of ≈233 bytes exceed 728.
    expect(kv.historySize).toBeLessThan(4)
    expect(kv.compactRevision).toBeGreaterThan(0)
  })
})
