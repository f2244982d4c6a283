// Issue 12 points 8 and 9: clients sign their own requests ('signed' client
// authentication), every replica checks the signature, and a reply
// certificate binds the exact request the client signed.
import { describe, expect, it } from 'vitest'
import {
  clientIdOf,
  decodeSignedClientRequest,
  encodeSignedClientRequest,
  signClientRequest,
  toHex,
  utf8,
  type CommandResult,
  type Signer,
} from '@synod/core'
import { sha256 } from '@synod/crypto'
import { verifyReplyCertificate, type PbftOptions } from '../src/index.js'
import { encodeBundleBody, statement, type Bundle } from '../src/messages.js'
import { Forger, isResult, keysFor, RegisterMachine, TestCluster } from './helpers.js'

const CLUSTER = 'test-cluster'
const signed: Partial<PbftOptions> = { clientAuthentication: 'signed', cluster: CLUSTER, viewChangeTimeoutMs: 300, requestRetransmitMs: 100 }

/** The register machine applied to the envelope's operation, its result tagged with the client: proves who ran what. */
class EnvelopeRegister extends RegisterMachine {
  override apply(command: Uint8Array, index: number): Uint8Array {
    const request = decodeSignedClientRequest(command)
    const inner = super.apply(request.operation, index)
    return utf8(`${clientIdOf(request.client).slice(0, 8)}@${request.timestamp}:${new TextDecoder().decode(inner)}`)
  }
}

function clientKey(name: string): Signer {
  return keysFor(`client:${name}`).signer
}

let clock = 1_000
function envelope(signer: Signer, operation: string, session = 0): Uint8Array {
  return encodeSignedClientRequest(signClientRequest(signer, { session, timestamp: ++clock, operation: utf8(operation) }, CLUSTER))
}

/** The victim's envelope for `operation`, signed with someone else's key (what a replica without the client's key can make). */
function forgedEnvelope(victim: Signer, forger: Signer, operation: string): Uint8Array {
  const honest = signClientRequest(forger, { session: 0, timestamp: ++clock, operation: utf8(operation) }, CLUSTER)
  return encodeSignedClientRequest({ ...honest, client: victim.publicKey })
}

function cluster(options: Partial<PbftOptions>): TestCluster {
  return new TestCluster({ n: 4, options, createStateMachine: () => new EnvelopeRegister() })
}

function proposeBytes(c: TestCluster, via: string, command: Uint8Array): Promise<CommandResult | Error> {
  return c.node(via).replica!.propose(command).catch((error: unknown) => error as Error)
}

function committedAnywhere(c: TestCluster, ids: readonly string[], command: Uint8Array): boolean {
  const digest = toHex(sha256(command))
  return ids.some((id) => [...c.commits.get(id)!.values()].includes(digest))
}

function bundleOf(c: TestCluster, proxy: string, ts: number, ops: readonly Uint8Array[]): Bundle {
  const body = encodeBundleBody(proxy, ts, ops)
  const digest = sha256(body)
  return { proxy, ts, ops, body, digest, sig: c.keys.get(proxy)!.signer.sign(statement('request', digest)) }
}

describe("pbft clientAuthentication 'signed'", () => {
  it('executes client-signed requests and answers with a certificate bound to the request the client signed', async () => {
    const c = cluster(signed)
    await c.start()
    const alice = clientKey('alice')
    const put = envelope(alice, 'set k 1')
    const [answer] = await c.settle([proposeBytes(c, 'r1', put)])
    expect(isResult(answer!), String(answer)).toBe(true)
    const result = answer as CommandResult
    const verified = verifyReplyCertificate(result.proof!, c.membership, keysFor('r0').verifier, { command: put, result: result.result })
    expect(verified.signers.length).toBe(2)

    // The same operation asked again later: the old certificate must not pass for the new request.
    const get1 = envelope(alice, 'get k')
    const [first] = (await c.settle([proposeBytes(c, 'r2', get1)])) as CommandResult[]
    const get2 = envelope(alice, 'get k')
    const [second] = (await c.settle([proposeBytes(c, 'r2', get2)])) as CommandResult[]
    expect(() => verifyReplyCertificate(first!.proof!, c.membership, keysFor('r0').verifier, { command: get2, result: first!.result })).toThrow(/leaf|root|match/i)
    expect(verifyReplyCertificate(second!.proof!, c.membership, keysFor('r0').verifier, { command: get2, result: second!.result }).index).toBe(second!.index)
    // Another client's certificate does not pass for ours either.
    const bob = clientKey('bob')
    const bobs = envelope(bob, 'get k')
    const [bobAnswer] = (await c.settle([proposeBytes(c, 'r3', bobs)])) as CommandResult[]
    expect(() => verifyReplyCertificate(bobAnswer!.proof!, c.membership, keysFor('r0').verifier, { command: get2, result: bobAnswer!.result })).toThrow()
    c.assertAgreement()
  })

  it('a proxy refuses commands that are not client-signed for this cluster', async () => {
    const c = cluster(signed)
    await c.start()
    const alice = clientKey('alice')
    const otherCluster = encodeSignedClientRequest(signClientRequest(alice, { session: 0, timestamp: ++clock, operation: utf8('set k 1') }, 'other'))
    const results = await c.settle([
      proposeBytes(c, 'r1', utf8('set k 1')),
      proposeBytes(c, 'r1', forgedEnvelope(alice, clientKey('mallory'), 'set k 2')),
      proposeBytes(c, 'r1', otherCluster),
    ])
    for (const r of results) expect((r as Error & { code?: string }).code).toBe('INVALID_MESSAGE')
  })

  // The attack: a byzantine replica (here r3 as a proxy, and r0 as the primary) orders a request in a
  // client's name without the client's key. With 'signed' client authentication it never executes;
  // with the defence off ('proxy' mode: replicas trust their proxy) it does.
  for (const mode of ['signed', 'proxy'] as const) {
    it(`a byzantine proxy and a byzantine primary forging a client's request: ${mode === 'signed' ? 'never executed' : 'EXECUTED with the defence off'}`, async () => {
      const options = mode === 'signed' ? signed : { ...signed, clientAuthentication: 'proxy' as const }
      const c = cluster(options)
      const forge = new Forger(c)
      await c.start()
      const alice = clientKey('alice')
      const viaProxy = forgedEnvelope(alice, keysFor('r3').signer, 'set bank r3')
      // r3 sends its forged bundle to every replica, as a proxy whose bundle timed out does.
      for (const to of ['r0', 'r1', 'r2']) forge.inject('r3', to, forge.request(bundleOf(c, 'r3', 1, [viaProxy])))
      // r0, the primary of view 0, orders a forged request itself at sequence 1.
      const viaPrimary = forgedEnvelope(alice, keysFor('r0').signer, 'set bank r0')
      const pp = forge.prePrepare('r0', 0, 1, [bundleOf(c, 'r0', 1, [viaPrimary])])
      for (const to of ['r1', 'r2', 'r3']) forge.inject('r0', to, pp)
      // Honest traffic goes on (a view change replaces r0 if it stalls).
      const honest = await c.settle(['r1', 'r2'].map((via) => proposeBytes(c, via, envelope(clientKey(via), `set k ${via}`))), 20_000)
      expect(honest.every(isResult), String(honest)).toBe(true)
      await c.runUntil(() => false, 2_000)
      const correct = ['r1', 'r2']
      if (mode === 'signed') {
        expect(committedAnywhere(c, correct, viaProxy)).toBe(false)
        expect(committedAnywhere(c, correct, viaPrimary)).toBe(false)
        const drops = correct.map((id) => (c.status(id).detail as { drops: Record<string, number> }).drops['request-bad-client-signature'] ?? 0)
        expect(drops.reduce((a, b) => a + b)).toBeGreaterThan(0)
      } else {
        expect(committedAnywhere(c, correct, viaProxy) || committedAnywhere(c, correct, viaPrimary)).toBe(true)
      }
      c.assertAgreement(correct)
    })
  }
})
