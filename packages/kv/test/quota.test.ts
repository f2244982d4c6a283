import { describe, expect, it } from 'vitest'
import { encodeCanonical, utf8 } from '@synod/core'
import { decodeResult, KvStateMachine, kvCommands, type KvResult } from '../src/index.js'

function run(kv: KvStateMachine, command: Uint8Array, index = 1): KvResult {
  return decodeResult(kv.apply(command, index))
}

describe('data size', () => {
  it('counts keys in UTF-8 bytes and values in bytes, through put, replace, cas, append and delete', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('é', '12345')) // 2 + 5
    expect(kv.dataBytes).toBe(7)
    run(kv, kvCommands.put('é', '1')) // replaced: 2 + 1
    expect(kv.dataBytes).toBe(3)
    run(kv, kvCommands.cas('é', '1', '1234'))
    expect(kv.dataBytes).toBe(6)
    run(kv, kvCommands.append('list', 'ab')) // 4 + 2
    run(kv, kvCommands.append('list', 'cde')) // + 3
    expect(kv.dataBytes).toBe(6 + 9)
    run(kv, kvCommands.delete('é'))
    expect(kv.dataBytes).toBe(9)
    run(kv, kvCommands.delete('missing'))
    expect(kv.dataBytes).toBe(9)
    // Restore recomputes it.
    const copy = new KvStateMachine()
    copy.restore(kv.snapshot())
    expect(copy.dataBytes).toBe(9)
  })
})

describe('quota and the no-space alarm', () => {
  it('refuses a write over the quota, raises the alarm; reads and deletes work; disarm after deleting; writes again', () => {
    const kv = new KvStateMachine({ quotaBytes: 100 })
    let index = 0
    for (let i = 0; i < 9; i++) expect(run(kv, kvCommands.put(`k${i}`, '12345678'), ++index)).toMatchObject({ ok: true, op: 'put' }) // 10 bytes each
    expect(kv.dataBytes).toBe(90)
    expect(run(kv, kvCommands.put('k9', '123456789'), ++index)).toMatchObject({ ok: false, code: 'no-space' }) // 92 + 11 > 100
    expect(kv.alarm).toBe(true)
    expect(kv.dataBytes).toBe(90)
    // While the alarm is raised even a small write is refused (as etcd's NOSPACE), on every write op.
    expect(run(kv, kvCommands.put('x', ''), ++index)).toMatchObject({ code: 'no-space' })
    expect(run(kv, kvCommands.append('l', 'x'), ++index)).toMatchObject({ code: 'no-space' })
    expect(run(kv, kvCommands.cas('k0', '12345678', 'y'), ++index)).toMatchObject({ code: 'no-space' })
    expect(decodeResult(kv.query(kvCommands.get('k0')))).toMatchObject({ ok: true, op: 'get', value: utf8('12345678') })
    expect(run(kv, kvCommands.delete('k0'), ++index)).toMatchObject({ ok: true, op: 'delete', existed: true })
    expect(kv.alarm).toBe(true)
    expect(run(kv, kvCommands.disarm(), ++index)).toEqual({ ok: true, op: 'disarm', disarmed: true })
    expect(kv.alarm).toBe(false)
    expect(run(kv, kvCommands.put('k9', '12345678'), ++index)).toMatchObject({ ok: true, op: 'put' })
    expect(run(kv, kvCommands.disarm(), ++index)).toEqual({ ok: true, op: 'disarm', disarmed: false })
  })

  it('a quota check counts what a write replaces, so shrinking a value under the quota is fine', () => {
    const kv = new KvStateMachine({ quotaBytes: 20 })
    run(kv, kvCommands.put('k', '1'.repeat(19)))
    expect(run(kv, kvCommands.put('k', '2'.repeat(19)))).toMatchObject({ ok: true, op: 'put' })
    expect(run(kv, kvCommands.put('k', '2'.repeat(20)))).toMatchObject({ code: 'no-space' })
  })

  it('disarm is refused while the data is still over the quota (e.g. a smaller quota after a restore)', () => {
    const big = new KvStateMachine({ quotaBytes: 1000 })
    run(big, kvCommands.put('k', '1'.repeat(200)))
    const small = new KvStateMachine({ quotaBytes: 100 })
    small.restore(big.snapshot())
    expect(run(small, kvCommands.put('j', 'x'))).toMatchObject({ code: 'no-space' })
    expect(run(small, kvCommands.disarm())).toMatchObject({ ok: false, code: 'no-space', message: expect.stringMatching(/still over/) })
    expect(small.alarm).toBe(true)
    run(small, kvCommands.delete('k'))
    expect(run(small, kvCommands.disarm())).toMatchObject({ ok: true, disarmed: true })
  })

  it('the alarm is part of the replicated state: in the snapshot, alike on every replica', () => {
    const a = new KvStateMachine({ quotaBytes: 10 })
    const b = new KvStateMachine({ quotaBytes: 10 })
    const commands = [kvCommands.put('k', '12345'), kvCommands.put('j', '123456'), kvCommands.put('i', '')]
    commands.forEach((c, i) => expect(b.apply(c, i + 1)).toEqual(a.apply(c, i + 1)))
    expect(a.alarm).toBe(true)
    const restored = new KvStateMachine({ quotaBytes: 10 })
    restored.restore(a.snapshot())
    expect(restored.alarm).toBe(true)
    expect(restored.snapshot()).toEqual(b.snapshot())
  })

  it('loads a version 1 snapshot (before floors and the alarm)', () => {
    const result = encodeCanonical({ ok: true, op: 'put' })
    const v1 = encodeCanonical({ version: 1, values: [['k', utf8('v')]], sessions: [['c', 3, 2, result]] })
    const kv = new KvStateMachine()
    kv.restore(v1)
    expect(kv.alarm).toBe(false)
    expect(kv.dataBytes).toBe(2)
    expect(kv.session('c')).toMatchObject({ seq: 3, lastIndex: 2 })
    expect(decodeResult(kv.query(kvCommands.get('k')))).toMatchObject({ value: utf8('v') })
    expect(run(kv, kvCommands.put('k', 'w', { client: 'c', seq: 3 }), 5)).toMatchObject({ ok: true, op: 'put' }) // the cached answer
    expect(decodeResult(kv.query(kvCommands.get('k')))).toMatchObject({ value: utf8('v') })
  })

  it('refuses a bad quota', () => {
    expect(() => new KvStateMachine({ quotaBytes: 0 })).toThrow(/quotaBytes/)
    expect(() => new KvStateMachine({ maxSessionsPerClient: 0.5 })).toThrow(/maxSessionsPerClient/)
    expect(new KvStateMachine().quotaBytes).toBe(2 * 1024 ** 3)
  })
})
