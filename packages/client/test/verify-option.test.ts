// SynodClient's `verify`: every KV answer must carry a certificate over the exact request the client
// signed, and every field the certified result determines must be that result's. The "daemon" is the
// scripted transport in front of a simulated 4-replica PBFT cluster (scripted-pbft.ts). A node that replays
// an older certified answer, or alters a value, a list or a txn's outcome around a valid certificate, is
// caught — and, with verification off, believed.
import { describe, expect, it } from 'vitest'
import { InvalidMessageError, membership } from '@synod/core'
import { createSigner, keyPairFromSecret } from '@synod/crypto'
import { SynodClient } from '../src/index.js'
import { seed, setup } from './scripted-pbft.js'

describe('SynodClient verify (byzantine clusters)', () => {
  it('accepts certified answers; rejects a replayed certificate and a value altered around a valid one', async () => {
    const { members, transport, state } = await setup()
    const signer = createSigner(keyPairFromSecret(seed('alice')))
    const client = new SynodClient('node:1', { transport, signer, cluster: 'c1', verify: members })
    expect(client.authMode).toBe('signatures') // a MAC'd request has no envelope to verify against
    await client.put('balance', '100')
    expect((await client.get('balance')).value).toBe('100')
    await client.put('balance', '0')
    state.tamper = 'replay' // the node answers the new read with the old read's certified answer ('100')
    await expect(client.get('balance')).rejects.toThrow(InvalidMessageError)
    state.tamper = 'alter'
    await expect(client.get('balance')).rejects.toThrow(/not the certified result/)
    // Every certified field counts, not only a get's value: a list's values, a txn's outcome.
    state.tamper = 'alter-list'
    await expect(client.list('bal')).rejects.toThrow(/the answer's kvs is not the certified result/)
    state.tamper = 'flip-txn'
    await expect(client.txn({ compare: [{ key: 'balance', target: 'value', result: '=', value: '1' }], success: [] })).rejects.toThrow(/succeeded is not the certified/)
    state.tamper = 'none'
    expect((await client.get('balance')).value).toBe('0')
    expect((await client.list('bal')).kvs).toMatchObject([{ key: 'balance', value: '0' }])
  }, 60_000)

  it('defence off — without verify the replayed and the altered answers are believed', async () => {
    const { transport, state } = await setup()
    const client = new SynodClient('node:1', { transport, signer: createSigner(keyPairFromSecret(seed('alice'))), cluster: 'c1', sessions: false })
    await client.put('balance', '100')
    await client.get('balance')
    await client.put('balance', '0')
    state.tamper = 'replay'
    expect((await client.get('balance')).value).toBe('100')
    state.tamper = 'alter'
    expect((await client.get('balance')).value).toBe('forged')
    state.tamper = 'alter-list'
    expect((await client.list('bal')).kvs).toMatchObject([{ key: 'balance', value: 'forged' }])
    state.tamper = 'flip-txn'
    expect((await client.txn({ compare: [{ key: 'balance', target: 'value', result: '=', value: '1' }], success: [] })).succeeded).toBe(true)
  }, 60_000)

  it("checks each answer against its own call's envelope when one client's calls run concurrently", async () => {
    const { members, transport, state } = await setup()
    const client = new SynodClient('node:1', { transport, signer: createSigner(keyPairFromSecret(seed('bob'))), cluster: 'c1', verify: members })
    await client.put('a', '1')
    // A write and two reads in flight at once (a recipe's reads beside its lease's keep-alive): all three are
    // signed before any answer arrives, so the client's last envelope is another call's for two of them.
    state.gather = 3
    // (Each resolves only if its answer verified against the envelope its own request carried.)
    const [, getA, getB] = await Promise.all([client.put('b', '2'), client.get('a'), client.get('b')])
    expect(getA.value).toBe('1')
    expect([null, '2']).toContain(getB.value)
  }, 60_000)

  it('needs a signer', () => {
    expect(() => new SynodClient('node:1', { verify: membership([]) })).toThrow(/verify: needs a signer/)
  })
})
