// Lease expiry under a byzantine protocol (docs/adr/0022-lease-expiry-under-bft-and-past-reads.md): a member's own signed
// `lease-expire` is a vote; the lease ends only once f + 1 distinct members voted for its current renewal,
// so one faulty member cannot end a lease early.
import { clientIdOf, encodeSignedClientRequest, signClientRequest } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeResult, KvStateMachine, kvCommands, type KvResult } from '../src/index.js'

// The state machine does not verify signatures (PBFT verified them before ordering), so a stand-in signer will do.
const signer = (fill: number) => ({ publicKey: new Uint8Array(32).fill(fill), sign: () => new Uint8Array(64) })
const member = (n: number) => clientIdOf(signer(n).publicKey)
const MEMBERS = [1, 2, 3, 4].map(member) // n = 4, f = 1: two votes expire a lease
const ADMIN = 9
let timestamp = 1
const signed = (fill: number, operation: Uint8Array) => encodeSignedClientRequest(signClientRequest(signer(fill), { session: 0, timestamp: timestamp++, operation }, ''))

function setup(options: { leaseExpiryQuorum?: number } = {}) {
  const kv = new KvStateMachine({ leaseExpiryVoters: MEMBERS, initialAdmins: [member(ADMIN)], ...options })
  let index = 0
  const run = (command: Uint8Array): KvResult => decodeResult(kv.apply(command, ++index))
  const grant = run(signed(ADMIN, kvCommands.leaseGrant(5)))
  if (!grant.ok || grant.op !== 'lease-grant') throw new Error('no lease')
  expect(run(signed(ADMIN, kvCommands.put('held', 'mine', undefined, grant.id)))).toMatchObject({ ok: true })
  return { kv, run, id: grant.id }
}

describe('lease expiry by members votes', () => {
  it('one member asking does nothing, not even twice; f + 1 distinct members expire the lease', () => {
    const { kv, run, id } = setup()
    expect(kv.leaseExpiryQuorum).toBe(2)
    const renewed = kv.leaseList()[0]![2]
    expect(run(signed(1, kvCommands.leaseExpire(id, renewed)))).toMatchObject({ ok: true, op: 'lease-expire', expired: false })
    expect(run(signed(1, kvCommands.leaseExpire(id, renewed)))).toMatchObject({ ok: true, op: 'lease-expire', expired: false })
    expect(kv.leaseVotes(id)).toEqual([member(1)])
    expect(decodeResult(kv.query(kvCommands.get('held')))).toMatchObject({ value: new TextEncoder().encode('mine') })
    expect(run(signed(3, kvCommands.leaseExpire(id, renewed)))).toMatchObject({ ok: true, op: 'lease-expire', expired: true, deleted: 1 })
    expect(kv.leaseCount).toBe(0)
    expect(decodeResult(kv.query(kvCommands.get('held')))).toMatchObject({ value: null })
  })

  it('a keep-alive ordered between votes starts the count again; a vote for an older renewal does nothing', () => {
    const { kv, run, id } = setup()
    const first = kv.leaseList()[0]![2]
    run(signed(1, kvCommands.leaseExpire(id, first)))
    expect(run(signed(ADMIN, kvCommands.leaseKeepAlive(id)))).toMatchObject({ ok: true, op: 'lease-keepalive' })
    expect(kv.leaseVotes(id)).toEqual([])
    expect(run(signed(2, kvCommands.leaseExpire(id, first)))).toMatchObject({ expired: false })
    expect(kv.leaseVotes(id)).toEqual([])
    const second = kv.leaseList()[0]![2]
    expect(run(signed(2, kvCommands.leaseExpire(id, second)))).toMatchObject({ expired: false })
    expect(kv.leaseCount).toBe(1)
    expect(run(signed(4, kvCommands.leaseExpire(id, second)))).toMatchObject({ expired: true })
  })

  it('a non-member needs the admin role to expire a lease (an admin\'s own expiry acts at once)', () => {
    const { kv, run, id } = setup()
    const renewed = kv.leaseList()[0]![2]
    expect(run(signed(7, kvCommands.leaseExpire(id, renewed)))).toMatchObject({ ok: false, code: 'forbidden' })
    expect(kv.leaseVotes(id)).toEqual([])
    expect(run(signed(ADMIN, kvCommands.leaseExpire(id, renewed)))).toMatchObject({ ok: true, expired: true })
  })

  it('votes are replicated state: a snapshot carries them and a restored replica counts on', () => {
    const { kv, id } = setup()
    const renewed = kv.leaseList()[0]![2]
    kv.apply(signed(2, kvCommands.leaseExpire(id, renewed)), 10)
    const copy = new KvStateMachine({ leaseExpiryVoters: MEMBERS, initialAdmins: [member(ADMIN)] })
    copy.restore(kv.snapshot())
    expect(copy.leaseVotes(id)).toEqual([member(2)])
    expect(copy.snapshot()).toEqual(kv.snapshot())
    expect(decodeResult(copy.apply(signed(1, kvCommands.leaseExpire(id, renewed)), 11))).toMatchObject({ expired: true })
  })

  it('defence off (a quorum of one): a single faulty member ends a live lease at once', () => {
    const { kv, run, id } = setup({ leaseExpiryQuorum: 1 })
    const renewed = kv.leaseList()[0]![2]
    expect(run(signed(1, kvCommands.leaseExpire(id, renewed)))).toMatchObject({ expired: true })
    expect(decodeResult(kv.query(kvCommands.get('held')))).toMatchObject({ value: null })
  })

  it('the quorum follows the member count, and voters must be client ids', () => {
    expect(new KvStateMachine({ leaseExpiryVoters: MEMBERS.slice(0, 1) }).leaseExpiryQuorum).toBe(1)
    expect(new KvStateMachine({ leaseExpiryVoters: [1, 2, 3, 4, 5, 6, 7].map(member) }).leaseExpiryQuorum).toBe(3)
    expect(() => new KvStateMachine({ leaseExpiryVoters: ['nope'] })).toThrow(/64 lowercase hex/)
    expect(() => new KvStateMachine({ leaseExpiryVoters: MEMBERS, leaseExpiryQuorum: 5 })).toThrow(/5 votes cannot come from 4 voters/)
  })
})
