import { clientIdOf, encodeSignedClientRequest, signClientRequest } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeCommand, decodeResult, KvStateMachine, kvCommands, RolesTable, type KvResult } from '../src/index.js'

const ADMIN = 'a'.repeat(64)
const WRITER = 'b'.repeat(64)
const READER = 'c'.repeat(64)

function run(kv: KvStateMachine, command: Uint8Array, index = 1): KvResult {
  return decodeResult(kv.apply(command, index))
}

describe('roles in the replicated state', () => {
  it('seeds the initial admins and grants, lists and revokes through commands', () => {
    const kv = new KvStateMachine({ initialAdmins: [ADMIN] })
    expect(run(kv, kvCommands.roleGrant(WRITER, 'readwrite', 'app/'))).toEqual({ ok: true, op: 'role-grant' })
    expect(run(kv, kvCommands.roleGrant(READER, 'readonly'))).toEqual({ ok: true, op: 'role-grant' })
    expect(decodeResult(kv.query(kvCommands.roleList()))).toEqual({
      ok: true,
      op: 'role-list',
      roles: [
        [ADMIN, 'admin', ''],
        [WRITER, 'readwrite', 'app/'],
        [READER, 'readonly', ''],
      ],
    })
    expect(run(kv, kvCommands.roleRevoke(READER))).toEqual({ ok: true, op: 'role-revoke', existed: true })
    expect(run(kv, kvCommands.roleRevoke(READER))).toEqual({ ok: true, op: 'role-revoke', existed: false })
  })

  it('refuses to revoke the last admin (nobody could manage the cluster any more)', () => {
    const kv = new KvStateMachine({ initialAdmins: [ADMIN] })
    expect(run(kv, kvCommands.roleRevoke(ADMIN))).toMatchObject({ ok: false, code: 'forbidden' })
    run(kv, kvCommands.roleGrant(WRITER, 'admin'))
    expect(run(kv, kvCommands.roleRevoke(ADMIN))).toEqual({ ok: true, op: 'role-revoke', existed: true })
    expect(kv.roles.get(ADMIN)).toBeUndefined()
  })

  it('authorizes by role and prefix', () => {
    const roles = new RolesTable([ADMIN])
    roles.grant(WRITER, 'readwrite', 'app/')
    roles.grant(READER, 'readonly', 'pub/')
    expect(roles.authorize(ADMIN, 'admin')).toBe(true)
    expect(roles.authorize(WRITER, 'write', 'app/x')).toBe(true)
    expect(roles.authorize(WRITER, 'write', 'other')).toBe(false)
    expect(roles.authorize(WRITER, 'admin')).toBe(false)
    expect(roles.authorize(WRITER, 'info')).toBe(true)
    expect(roles.authorize(READER, 'read', 'pub/a')).toBe(true)
    expect(roles.authorize(READER, 'read', 'app/x')).toBe(false)
    expect(roles.authorize(READER, 'write', 'pub/a')).toBe(false)
    expect('d'.repeat(64)).not.toBe(ADMIN)
    expect(roles.authorize('d'.repeat(64), 'info')).toBe(false)
    // The state machine's check: a deterministic forbidden result naming the need.
    expect(roles.check(READER, decodeCommand(kvCommands.put('pub/a', 'x')))).toMatchObject({ code: 'forbidden' })
    expect(roles.check(READER, decodeCommand(kvCommands.list('')))).toMatchObject({ code: 'forbidden' })
    expect(roles.check(READER, decodeCommand(kvCommands.list('pub/')))).toBeUndefined()
    expect(roles.check(WRITER, decodeCommand(kvCommands.roleGrant(WRITER, 'admin')))).toMatchObject({ code: 'forbidden' })
  })

  it('travels in the snapshot: same state, same bytes; restore validates', () => {
    const a = new KvStateMachine({ initialAdmins: [ADMIN] })
    run(a, kvCommands.roleGrant(READER, 'readonly', 'p/'))
    run(a, kvCommands.roleGrant(WRITER, 'readwrite'))
    const b = new KvStateMachine()
    b.restore(a.snapshot())
    expect(b.roles.list()).toEqual(a.roles.list())
    expect(b.snapshot()).toEqual(a.snapshot())
    // A state without roles keeps the snapshot form it had before roles existed.
    expect(new KvStateMachine().snapshot()).toEqual(new KvStateMachine({ initialAdmins: [] }).snapshot())
    expect(() => RolesTable.fromSnapshot([[READER, 'readonly', ''], [ADMIN, 'admin', '']])).toThrow(/ascending/)
    expect(() => RolesTable.fromSnapshot([[ADMIN, 'root', '']])).toThrow()
  })

  it('rejects malformed role commands deterministically', () => {
    const kv = new KvStateMachine()
    expect(() => kvCommands.roleGrant('not-hex', 'admin')).not.toThrow() // encoding does not validate; apply does
    expect(run(kv, kvCommands.roleGrant('not-hex', 'admin'))).toMatchObject({ ok: false, code: 'invalid-command' })
    expect(run(kv, kvCommands.roleGrant(READER, 'admin', 'p/'))).toMatchObject({ ok: false, code: 'invalid-command' })
    expect(() => new KvStateMachine({ initialAdmins: ['xyz'] })).toThrow()
  })
})

describe('roles on signed envelopes (the state machine refuses in every replica alike)', () => {
  // The state machine does not verify signatures (the protocol or the edge did), so a stand-in signer will do.
  const signer = (fill: number) => ({ publicKey: new Uint8Array(32).fill(fill), sign: () => new Uint8Array(64) })
  const envelope = (fill: number, operation: Uint8Array, timestamp: number) =>
    encodeSignedClientRequest(signClientRequest(signer(fill), { session: 0, timestamp, operation }, ''))

  it('applies a signed command only if the client role allows it; an empty table enforces nothing', () => {
    const kv = new KvStateMachine({ initialAdmins: [clientIdOf(signer(1).publicKey)] })
    run(kv, kvCommands.roleGrant(clientIdOf(signer(2).publicKey), 'readonly', 'pub/'))
    expect(run(kv, envelope(1, kvCommands.put('pub/a', 'x'), 1))).toMatchObject({ ok: true, op: 'put' })
    expect(run(kv, envelope(2, kvCommands.put('pub/a', 'defaced'), 2))).toMatchObject({ ok: false, code: 'forbidden' })
    expect(run(kv, envelope(2, kvCommands.get('pub/a'), 3))).toMatchObject({ ok: true, op: 'get' })
    expect(run(kv, envelope(2, kvCommands.get('secret'), 4))).toMatchObject({ ok: false, code: 'forbidden' })
    expect(run(kv, kvCommands.get('pub/a'))).toMatchObject({ value: new TextEncoder().encode('x') })
    // Without any grant (authentication off), signed commands run as before.
    expect(run(new KvStateMachine(), envelope(2, kvCommands.put('k', 'v'), 5))).toMatchObject({ ok: true, op: 'put' })
  })
})
