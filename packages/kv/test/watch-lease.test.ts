import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { utf8 } from '@synod/core'
import { decodeResult, kvCommands, KvStateMachine, type KvEvent, type KvResult } from '../src/index.js'

function run(kv: KvStateMachine, command: Uint8Array, index: number): KvResult {
  return decodeResult(kv.apply(command, index))
}

const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array)

describe('watch history', () => {
  it('records every change in revision order, a transaction at one revision, filtered by prefix', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('a/1', 'x'), 1)
    run(kv, kvCommands.get('a/1'), 2) // a read changes nothing
    run(kv, kvCommands.put('b/1', 'y'), 3)
    run(kv, kvCommands.put('a/1', 'z'), 4)
    run(kv, kvCommands.txn([], [{ op: 'put', key: 'a/2', value: utf8('t') }, { op: 'delete', key: 'a/1' }]), 5)
    run(kv, kvCommands.delete('nope'), 6) // deleting nothing changes nothing
    const all = kv.changesSince(1, '')
    expect(all.compacted).toBe(false)
    if (all.compacted) return
    expect(all.events.map((e) => [e.revision, e.type, e.key])).toEqual([
      [1, 'put', 'a/1'],
      [3, 'put', 'b/1'],
      [4, 'put', 'a/1'],
      [5, 'put', 'a/2'],
      [5, 'delete', 'a/1'],
    ])
    expect(all.revision).toBe(6)
    const put = all.events[2]!
    expect([text(put.value), put.createRevision, put.modRevision, put.version]).toEqual(['z', 1, 4, 2])
    const a = kv.changesSince(4, 'a/')
    expect(a.compacted ? [] : a.events.map((e) => e.revision)).toEqual([4, 5, 5])
    // A revision beyond the current one: nothing yet, continue from there.
    expect(kv.changesSince(9, '')).toEqual({ compacted: false, events: [], revision: 9 })
  })

  it('compacts whole revisions beyond the window and answers compacted below it', () => {
    const kv = new KvStateMachine({ historyEvents: 3 })
    for (let i = 1; i <= 4; i++) run(kv, kvCommands.put(`k${i}`, 'v'), i)
    // Two events at revision 5: the window may hold 3, so 3 and 4 go, never half of 5.
    run(kv, kvCommands.txn([], [{ op: 'put', key: 'x', value: utf8('1') }, { op: 'put', key: 'y', value: utf8('2') }]), 5)
    expect(kv.compactRevision).toBe(3)
    expect(kv.historySize).toBe(3)
    expect(kv.changesSince(3, '')).toEqual({ compacted: true, compactRevision: 3 })
    const kept = kv.changesSince(4, '')
    expect(kept.compacted ? [] : kept.events.map((e) => e.revision)).toEqual([4, 5, 5])
  })

  it('a limit never splits a revision and says where to continue', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.txn([], [{ op: 'put', key: 'x', value: utf8('1') }, { op: 'put', key: 'y', value: utf8('2') }]), 1)
    run(kv, kvCommands.put('z', '3'), 2)
    const first = kv.changesSince(1, '', 1)
    expect(first.compacted ? [] : first.events.map((e) => e.key)).toEqual(['x', 'y'])
    expect(first.compacted ? 0 : first.revision).toBe(2)
  })

  it('snapshot and restore keep the history, its compaction and the leases (same bytes, same answers)', () => {
    const kv = new KvStateMachine({ historyEvents: 4 })
    let index = 0
    const lease = run(kv, kvCommands.leaseGrant(5), ++index)
    const id = lease.ok && lease.op === 'lease-grant' ? lease.id : 0
    for (let i = 0; i < 6; i++) run(kv, kvCommands.put(`k${i % 3}`, `v${i}`, undefined, i % 2 === 0 ? id : undefined), ++index)
    const restored = new KvStateMachine({ historyEvents: 4 })
    restored.restore(kv.snapshot())
    expect(restored.snapshot()).toEqual(kv.snapshot())
    expect(restored.changesSince(kv.compactRevision + 1, '')).toEqual(kv.changesSince(kv.compactRevision + 1, ''))
    expect(restored.compactRevision).toBe(kv.compactRevision)
    expect(restored.leaseList()).toEqual(kv.leaseList())
    expect(restored.leaseOf('k1')).toBe(id)
    expect(restored.leaseOf('k0')).toBeUndefined() // put again without a lease: detached
    // The restored lease still deletes its keys.
    const revoked = run(restored, kvCommands.leaseRevoke(id), 100)
    expect(revoked).toMatchObject({ ok: true, op: 'lease-revoke', deleted: 1 })
  })

  it('a corrupt history or lease in a snapshot is refused and the state stays as it was', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('a', '1'), 1)
    const good = kv.snapshot()
    const target = new KvStateMachine()
    run(target, kvCommands.put('t', '1'), 1)
    const before = target.snapshot()
    // Flip the history's revision past the store's: the decoder names the defect.
    const bad = good.slice()
    const text = Buffer.from(bad).toString('latin1')
    const at = text.indexOf('compactRevision')
    expect(at).toBeGreaterThan(0)
    bad[at + 'compactRevision'.length] = 0x05 // compactRevision 5 > the history's revision 1
    expect(() => target.restore(bad)).toThrow(/corrupt/)
    expect(target.snapshot()).toEqual(before)
  })
})

describe('leases', () => {
  it('grant, attach, keep alive, revoke: the keys go with the lease, as delete events at one revision', () => {
    const kv = new KvStateMachine()
    expect(run(kv, kvCommands.leaseGrant(10), 1)).toEqual({ ok: true, op: 'lease-grant', id: 1, ttl: 10 })
    run(kv, kvCommands.put('a', '1', undefined, 1), 2)
    run(kv, kvCommands.put('b', '2', undefined, 1), 3)
    run(kv, kvCommands.put('c', '3'), 4)
    expect(run(kv, kvCommands.put('d', '4', undefined, 99), 5)).toMatchObject({ ok: false, code: 'lease-not-found' })
    expect(run(kv, kvCommands.leaseKeepAlive(1), 6)).toEqual({ ok: true, op: 'lease-keepalive', id: 1, ttl: 10 })
    expect(kv.leaseList()).toEqual([[1, 10, 6]])
    // A put without a lease detaches the key (etcd's rule).
    run(kv, kvCommands.put('b', '2b'), 7)
    expect(run(kv, kvCommands.leaseRevoke(1), 8)).toEqual({ ok: true, op: 'lease-revoke', id: 1, expired: true, deleted: 1, revision: 8 })
    expect(kv.size).toBe(2) // b and c remain
    const events = kv.changesSince(8, '')
    expect(events.compacted ? [] : events.events.map((e: KvEvent) => [e.revision, e.type, e.key])).toEqual([[8, 'delete', 'a']])
    expect(run(kv, kvCommands.leaseKeepAlive(1), 9)).toMatchObject({ ok: false, code: 'lease-not-found' })
    expect(run(kv, kvCommands.leaseRevoke(1), 10)).toMatchObject({ ok: false, code: 'lease-not-found' })
  })

  it('an expiry decided before a keep-alive that was ordered first does not expire the lease', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.leaseGrant(1), 1)
    run(kv, kvCommands.put('lock', 'me', undefined, 1), 2)
    // The leader saw renewed=1 and proposed expiry; a keep-alive got into the log before it.
    run(kv, kvCommands.leaseKeepAlive(1), 3)
    expect(run(kv, kvCommands.leaseExpire(1, 1), 4)).toEqual({ ok: true, op: 'lease-expire', id: 1, expired: false, deleted: 0, revision: 2 })
    expect(kv.size).toBe(1)
    // An expiry that matches the last renewal ends it.
    expect(run(kv, kvCommands.leaseExpire(1, 3), 5)).toEqual({ ok: true, op: 'lease-expire', id: 1, expired: true, deleted: 1, revision: 5 })
    expect(kv.size).toBe(0)
    expect(kv.leaseCount).toBe(0)
  })

  it('refuses a TTL out of range and leases beyond maxLeases', () => {
    const kv = new KvStateMachine({ maxLeases: 2 })
    expect(run(kv, kvCommands.leaseGrant(0), 1)).toMatchObject({ ok: false, code: 'invalid-command' })
    run(kv, kvCommands.leaseGrant(5), 2)
    run(kv, kvCommands.leaseGrant(5), 3)
    expect(run(kv, kvCommands.leaseGrant(5), 4)).toMatchObject({ ok: false, code: 'too-many-leases' })
  })

  it('keys, leases and watch events match a simple model under random operations (property)', () => {
    type Op = { op: 'put'; key: string; lease?: number } | { op: 'delete'; key: string } | { op: 'grant' } | { op: 'keepalive' | 'revoke'; id: number } | { op: 'expire'; id: number; stale: boolean }
    const keyArb = fc.constantFrom('a', 'b', 'c', 'd')
    const id = fc.integer({ min: 1, max: 30 })
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.tuple(keyArb, fc.option(id, { nil: undefined })).map(([key, lease]) => (lease === undefined ? { op: 'put' as const, key } : { op: 'put' as const, key, lease })),
      keyArb.map((key) => ({ op: 'delete' as const, key })),
      fc.constant({ op: 'grant' as const }),
      fc.tuple(fc.constantFrom('keepalive' as const, 'revoke' as const), id).map(([op, i]) => ({ op, id: i })),
      fc.tuple(id, fc.boolean()).map(([i, stale]) => ({ op: 'expire' as const, id: i, stale })),
    )
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const kv = new KvStateMachine()
        const values = new Map<string, string>()
        const leaseOf = new Map<string, number>()
        const leases = new Map<number, number>() // id → renewed
        const events: Array<[number, string, string]> = []
        const del = (key: string, at: number) => {
          if (!values.has(key)) return
          values.delete(key)
          leaseOf.delete(key)
          events.push([at, 'delete', key])
        }
        const end = (lease: number, at: number) => {
          leases.delete(lease)
          for (const key of [...leaseOf.keys()].filter((k) => leaseOf.get(k) === lease).sort()) del(key, at)
        }
        ops.forEach((o, i) => {
          const at = i + 1
          switch (o.op) {
            case 'put':
              kv.apply(kvCommands.put(o.key, `v${at}`, undefined, o.lease), at)
              if (o.lease !== undefined && !leases.has(o.lease)) return
              values.set(o.key, `v${at}`)
              if (o.lease === undefined) leaseOf.delete(o.key)
              else leaseOf.set(o.key, o.lease)
              events.push([at, 'put', o.key])
              return
            case 'delete':
              kv.apply(kvCommands.delete(o.key), at)
              return del(o.key, at)
            case 'grant':
              kv.apply(kvCommands.leaseGrant(5), at)
              leases.set(at, at)
              return
            case 'keepalive':
              kv.apply(kvCommands.leaseKeepAlive(o.id), at)
              if (leases.has(o.id)) leases.set(o.id, at)
              return
            case 'revoke':
              kv.apply(kvCommands.leaseRevoke(o.id), at)
              if (leases.has(o.id)) end(o.id, at)
              return
            case 'expire': {
              const renewed = leases.get(o.id) ?? 0
              kv.apply(kvCommands.leaseExpire(o.id, o.stale ? renewed + 1000 : renewed), at)
              if (leases.has(o.id) && !o.stale) end(o.id, at)
              return
            }
          }
        })
        for (const key of ['a', 'b', 'c', 'd']) {
          const got = decodeResult(kv.query(kvCommands.get(key)))
          expect(got.ok && got.op === 'get' && got.value !== null ? text(got.value) : undefined).toBe(values.get(key))
          expect(kv.leaseOf(key)).toBe(leaseOf.get(key))
        }
        expect(kv.leaseList().map(([lid, , renewed]) => [lid, renewed])).toEqual([...leases.entries()].sort(([x], [y]) => x - y))
        const history = kv.changesSince(1, '')
        expect(history.compacted ? [] : history.events.map((e) => [e.revision, e.type, e.key])).toEqual(events)
      }),
      { numRuns: 300, seed: 19 },
    )
  })
})
