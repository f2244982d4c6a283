import { describe, expect, it } from 'vitest'
import {
  decodeSignedClientRequest,
  membership,
  utf8,
  verifyClientRequest,
  type CommandResult,
  type StateMachine,
} from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { kvCommands, KvStateMachine } from '@synod/kv'
import { decodeReadCertificate, encodeReadCertificate, pbft } from '@synod/pbft'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import {
  clientIdentityFromSecret,
  parseSignedRequestHeaders,
  RequestSigner,
  verifyAnswer,
  verifyKvAnswer,
} from '../src/index.js'

const seed = (name: string) => sha256(utf8(`client-test:${name}`))

describe('RequestSigner', () => {
  it('signs verifiable envelopes whose timestamps grow per session even when the clock stands still', () => {
    const alice = clientIdentityFromSecret(seed('alice'))
    const signer = new RequestSigner(alice, { cluster: 'c1', now: () => 5_000 })
    const a = signer.sign(kvCommands.get('k'))
    const b = signer.sign(kvCommands.get('k'))
    const other = signer.sign(kvCommands.get('k'), 7)
    expect([a.request.timestamp, b.request.timestamp, other.request.timestamp]).toEqual([5_000, 5_001, 5_000])
    for (const s of [a, b, other]) {
      expect(decodeSignedClientRequest(s.envelope)).toEqual(s.request)
      expect(verifyClientRequest(createVerifier(), s.request, 'c1')).toBe(true)
    }
    expect(verifyClientRequest(createVerifier(), a.request, 'c2')).toBe(false)
  })

  it('headers carry the envelope; the server rebuilds it from the operation it derives', () => {
    const signed = new RequestSigner(clientIdentityFromSecret(seed('alice')), { cluster: 'c1' }).sign(kvCommands.put('k', 'v'), 3)
    const parsed = parseSignedRequestHeaders(signed.headers, kvCommands.put('k', 'v'))
    expect(parsed).toEqual(signed.request)
    // A server that derives another operation (the body was changed on the way) gets a signature that fails.
    expect(verifyClientRequest(createVerifier(), parseSignedRequestHeaders(signed.headers, kvCommands.put('k', 'evil')), 'c1')).toBe(false)
  })

  it('parseSignedRequestHeaders rejects malformed headers by name', () => {
    const { headers } = new RequestSigner(clientIdentityFromSecret(seed('alice'))).sign(kvCommands.get('k'))
    const op = kvCommands.get('k')
    const cases: Array<[Record<string, string | string[] | undefined>, RegExp]> = [
      [{ ...headers, 'synod-client-key': undefined }, /missing header synod-client-key/],
      [{ ...headers, 'synod-client-key': 'zz' }, /synod-client-key/],
      [{ ...headers, 'synod-signature': headers['synod-signature']!.slice(2) }, /synod-signature/],
      [{ ...headers, 'synod-timestamp': '0' }, /synod-timestamp/],
      [{ ...headers, 'synod-timestamp': '1e9' }, /synod-timestamp/],
      [{ ...headers, 'synod-session': '70000' }, /synod-session/],
      [{ ...headers, 'synod-timestamp': ['1', '2'] }, /more than once/],
    ]
    for (const [h, message] of cases) expect(() => parseSignedRequestHeaders(h, op)).toThrow(message)
  })
})

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

describe('verifyKvAnswer against a PBFT cluster with signed clients', () => {
  it('accepts the answer to the request it signed and rejects stale, foreign, altered and non-member certificates', async () => {
    const sim = new Simulation({ seed: 3 })
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
    const ask = async (via: number, envelope: Uint8Array): Promise<CommandResult> => {
      let answer: CommandResult | Error | undefined
      void nodes[via]!.replica!.propose(envelope).then((r) => (answer = r), (e: unknown) => (answer = e as Error))
      await sim.runUntil(() => answer !== undefined, 10_000)
      if (!(answer !== undefined && !(answer instanceof Error))) throw new Error(`no answer: ${String(answer)}`)
      return answer
    }
    const alice = new RequestSigner(clientIdentityFromSecret(seed('alice')), { cluster: 'c1' })
    const bob = new RequestSigner(clientIdentityFromSecret(seed('bob')), { cluster: 'c1' })

    await ask(0, alice.sign(kvCommands.put('balance', '100')).envelope)
    const oldGet = alice.sign(kvCommands.get('balance')).envelope
    const oldAnswer = await ask(1, oldGet)
    await ask(2, alice.sign(kvCommands.put('balance', '0')).envelope)
    const newGet = alice.sign(kvCommands.get('balance')).envelope
    const newAnswer = await ask(1, newGet)
    const bobGet = bob.sign(kvCommands.get('balance')).envelope
    const bobAnswer = await ask(3, bobGet)

    const certified = (a: CommandResult) => ({ certificate: a.proof!, result: a.result, index: a.index })
    const fresh = verifyKvAnswer(newGet, certified(newAnswer), members)
    expect(fresh.kv).toMatchObject({ ok: true, op: 'get' })
    expect(new TextDecoder().decode((fresh.kv as { value: Uint8Array }).value)).toBe('0')
    expect(fresh.signers).toHaveLength(2)
    // The attack of issue 12 §9: the old, valid answer "100" replayed for the new request.
    expect(() => verifyAnswer(newGet, certified(oldAnswer), members)).toThrow(/valid matching replies/)
    expect(() => verifyAnswer(newGet, { ...certified(oldAnswer), index: undefined }, members)).toThrow(/valid matching replies/)
    expect(() => verifyAnswer(newGet, certified(bobAnswer), members)).toThrow()
    expect(() => verifyAnswer(newGet, { ...certified(newAnswer), result: oldAnswer.result }, members)).toThrow()
    expect(() => verifyAnswer(newGet, { ...certified(newAnswer), index: newAnswer.index + 1 }, members)).toThrow(/different index/)
    const impostors = membership(ids.map((id) => ({ id, publicKey: keyPairFromSecret(seed(`other:${id}`)).publicKey })))
    expect(() => verifyAnswer(newGet, certified(newAnswer), impostors)).toThrow(/valid matching replies/)
    expect(() => verifyAnswer(kvCommands.get('balance'), certified(newAnswer), members)).toThrow()
    // The honest old answer is still valid for the request it answered.
    expect(verifyAnswer(oldGet, certified(oldAnswer), members).index).toBe(oldAnswer.index)
    expect(bobGet).not.toEqual(newGet)
  })
})

describe('verifyAnswer with read certificates (PBFT readOnlyRequests)', () => {
  it('accepts a read answered by 2f+1 replicas and an ordered write, and rejects read certificates that are short, foreign or for another result', async () => {
    const sim = new Simulation({ seed: 5 })
    const ids = ['r0', 'r1', 'r2', 'r3']
    const pairs = ids.map((id) => keyPairFromSecret(seed(id)))
    const members = membership(ids.map((id, i) => ({ id, publicKey: pairs[i]!.publicKey })))
    const nodes = ids.map((id, i) =>
      sim.addNode({
        id,
        factory: pbft,
        protocolOptions: { clientAuthentication: 'signed', cluster: 'c1', readOnlyRequests: true },
        membership: members,
        storage: memoryStorage(),
        createStateMachine: () => new EnvelopeKv(),
        signer: createSigner(pairs[i]!),
        verifier: createVerifier(),
        syncLatencyMs: 0,
      }),
    )
    for (const node of nodes) await node.start()
    const ask = async (call: Promise<CommandResult>): Promise<CommandResult> => {
      let answer: CommandResult | Error | undefined
      void call.then((r) => (answer = r), (e: unknown) => (answer = e as Error))
      await sim.runUntil(() => answer !== undefined, 10_000)
      if (!(answer !== undefined && !(answer instanceof Error))) throw new Error(`no answer: ${String(answer)}`)
      return answer
    }
    const alice = new RequestSigner(clientIdentityFromSecret(seed('alice')), { cluster: 'c1' })
    const put = alice.sign(kvCommands.put('balance', '100')).envelope
    const written = await ask(nodes[0]!.replica!.propose(put))
    const certified = (a: CommandResult) => ({ certificate: a.proof!, result: a.result, index: a.index })
    const ordered = verifyAnswer(put, certified(written), members)
    expect(ordered.kind).toBe('ordered')
    expect(ordered.signers).toHaveLength(3) // writes need 2f+1 replies with read-only requests on

    const get = alice.sign(kvCommands.get('balance')).envelope
    const answer = await ask(nodes[1]!.replica!.read(get))
    const verified = verifyKvAnswer(get, certified(answer), members)
    expect(verified.kind).toBe('read')
    expect(verified.signers).toHaveLength(3)
    expect(new TextDecoder().decode((verified.kv as { value: Uint8Array }).value)).toBe('100')

    // f+1 signatures are not enough for a read.
    const cert = decodeReadCertificate(answer.proof!)
    const short = encodeReadCertificate({ groups: cert.groups.map((g) => ({ ...g, replies: g.replies.slice(0, 2) })) })
    expect(() => verifyAnswer(get, { ...certified(answer), certificate: short }, members)).toThrow(/needs 3/)
    // Another request's read certificate (an older get of the same key) and another result fail.
    const later = alice.sign(kvCommands.get('balance')).envelope
    expect(() => verifyAnswer(later, certified(answer), members)).toThrow(/needs 3/)
    expect(() => verifyAnswer(get, { ...certified(answer), result: written.result }, members)).toThrow(/needs 3/)
    const impostors = membership(ids.map((id) => ({ id, publicKey: keyPairFromSecret(seed(`other:${id}`)).publicKey })))
    expect(() => verifyAnswer(get, certified(answer), impostors)).toThrow(/needs 3/)
  })
})
