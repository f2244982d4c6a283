// SynodClient's `verify`: every KV answer must carry a certificate over the exact request the client
// signed. The "daemon" here is a scripted transport in front of a real 4-replica PBFT cluster on the
// simulator: it rebuilds the signed envelope from the headers (as the daemon does), proposes it and answers
// with the certificate. A node that replays an older certified answer, or alters the value around a valid
// certificate, is caught — and, with verification off, believed.
import { describe, expect, it } from 'vitest'
import { decodeSignedClientRequest, encodeSignedClientRequest, InvalidMessageError, membership, toHex, utf8, type CommandResult, type StateMachine } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { decodeResult, KvStateMachine } from '@synod/kv'
import { pbft } from '@synod/pbft'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { certifiedFields } from '../src/certified-answer.js'
import { operationOf, parseSignedRequestHeaders, SynodClient, type Transport } from '../src/index.js'

const seed = (name: string) => sha256(utf8(`verify-option:${name}`))

/** @synod/kv applied to the envelope's operation. */
class EnvelopeKv implements StateMachine {
  private readonly kv = new KvStateMachine()
  apply(command: Uint8Array, index: number): Uint8Array {
    return this.kv.apply(decodeSignedClientRequest(command).operation, index)
  }
  query(request: Uint8Array): Uint8Array {
    return this.kv.query(request)
  }
  snapshot(): Uint8Array {
    return this.kv.snapshot()
  }
  restore(snapshot: Uint8Array): void {
    this.kv.restore(snapshot)
  }
}

type Tamper = 'none' | 'replay' | 'alter' | 'alter-list' | 'flip-txn'

async function setup() {
  const sim = new Simulation({ seed: 5 })
  const ids = ['r0', 'r1', 'r2', 'r3']
  const pairs = ids.map((id) => keyPairFromSecret(seed(id)))
  const members = membership(ids.map((id, i) => ({ id, publicKey: pairs[i]!.publicKey })))
  const nodes = ids.map((id, i) =>
    sim.addNode({
      id,
      factory: pbft,
      protocolOptions: { clientAuthentication: 'signed', cluster: 'c1' },
      membership: members,
      storage: memoryStorage(),
      createStateMachine: () => new EnvelopeKv(),
      signer: createSigner(pairs[i]!),
      verifier: createVerifier(),
      syncLatencyMs: 0,
    }),
  )
  for (const node of nodes) await node.start()
  const state = { tamper: 'none' as Tamper, lastRead: undefined as Record<string, unknown> | undefined, gather: 1 }
  // `gather` > 1: hold requests until that many arrived (all signed before any is answered), then answer
  // them one at a time — the interleaving of a client's concurrent calls.
  let arrived: Array<() => void> = []
  let turn: Promise<unknown> = Promise.resolve()
  const transport: Transport = {
    async send(req) {
      if (state.gather > 1) {
        await new Promise<void>((resolve) => {
          arrived.push(resolve)
          if (arrived.length >= state.gather) {
            for (const go of arrived) go()
            arrived = []
          }
        })
      }
      const mine = turn.then(() => answerOf(req))
      turn = mine.catch(() => undefined)
      return mine
    },
    stream: () => Promise.reject(new Error('no streams')),
  }
  const answerOf = async (req: Parameters<Transport['send']>[0]) => {
      const url = new URL(req.url)
      const body = req.body === undefined ? {} : (JSON.parse(req.body) as Record<string, unknown>)
      const envelope = encodeSignedClientRequest(parseSignedRequestHeaders(req.headers, operationOf(req.method, url.pathname, body, url.searchParams)!))
      let answer: CommandResult | Error | undefined
      void nodes[1]!.replica!.propose(envelope).then((r) => (answer = r), (e: unknown) => (answer = e as Error))
      await sim.runUntil(() => answer !== undefined, 10_000)
      if (answer === undefined || answer instanceof Error) throw new Error(`no answer: ${String(answer)}`)
      const kv = decodeResult(answer.result)
      const value = kv.ok && kv.op === 'get' ? (kv.value instanceof Uint8Array ? new TextDecoder().decode(kv.value) : null) : undefined
      // The daemon's answer: the certified result's fields around the certificate.
      let json: Record<string, unknown> = { index: answer.index, certificate: toHex(answer.proof!), result: toHex(answer.result), ...certifiedFields(kv) }
      if (state.tamper === 'replay' && state.lastRead !== undefined && value !== undefined) json = state.lastRead
      if (state.tamper === 'alter') json = { ...json, value: 'forged' }
      if (state.tamper === 'alter-list' && Array.isArray(json.kvs)) json = { ...json, kvs: (json.kvs as Array<Record<string, unknown>>).map((e) => ({ ...e, value: 'forged' })) }
      if (state.tamper === 'flip-txn' && typeof json.succeeded === 'boolean') json = { ...json, succeeded: !json.succeeded }
      if (value !== undefined && state.tamper === 'none') state.lastRead = json
      return { status: 200, header: () => undefined, text: JSON.stringify(json) }
  }
  return { members, transport, state }
}

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
