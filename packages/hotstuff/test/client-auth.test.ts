// 'signed' client authentication (ADR 0006): every command is a client-signed envelope, every replica
// verifies it before voting, and the reply certificate binds the envelope a client signed.
import { describe, expect, it } from 'vitest'
import {
  clientIdOf,
  decodeSignedClientRequest,
  encodeSignedClientRequest,
  InvalidMessageError,
  signClientRequest,
  toHex,
  utf8,
  type CommandResult,
  type Signer,
} from '@synod/core'
import { sha256, verifyReplyCertificate } from '@synod/crypto'
import type { HotstuffOptions } from '../src/index.js'
import { batchPayload, encodeCommands, makeBlock } from '../src/messages.js'
import { encodeProposal, Forger, GENESIS, GENESIS_QC, isResult, keysFor, RegisterMachine, TestCluster } from './helpers.js'

const CLUSTER = 'test-cluster'

class EnvelopeRegister extends RegisterMachine {
  override apply(command: Uint8Array, index: number): Uint8Array {
    const request = decodeSignedClientRequest(command)
    const inner = super.apply(request.operation, index)
    return utf8(`${clientIdOf(request.client).slice(0, 8)}:${new TextDecoder().decode(inner)}`)
  }
}

const clientKey = (name: string): Signer => keysFor(`client:${name}`).signer
let clock = 1_000
const envelope = (signer: Signer, operation: string) =>
  encodeSignedClientRequest(signClientRequest(signer, { session: 0, timestamp: ++clock, operation: utf8(operation) }, CLUSTER))
/** The victim's envelope signed with another key: what a replica without the client's key can make. */
function forgedEnvelope(victim: Signer, forger: Signer, operation: string): Uint8Array {
  const honest = signClientRequest(forger, { session: 0, timestamp: ++clock, operation: utf8(operation) }, CLUSTER)
  return encodeSignedClientRequest({ ...honest, client: victim.publicKey })
}

function cluster(mode: HotstuffOptions['clientAuthentication']): TestCluster {
  return new TestCluster({ n: 4, options: { clientAuthentication: mode, cluster: CLUSTER }, createStateMachine: () => new EnvelopeRegister() })
}

const committedAnywhere = (c: TestCluster, command: Uint8Array) =>
  c.ids.some((id) => [...c.commits.get(id)!.values()].includes(toHex(sha256(command))))

describe("clientAuthentication: 'signed'", () => {
  it('orders signed envelopes and answers with a certificate bound to the envelope', async () => {
    const c = cluster('signed')
    await c.start()
    const command = envelope(clientKey('alice'), 'set x 1')
    const [answer] = await c.settle([c.node('r2').replica!.propose(command).catch((e: unknown) => e as Error)])
    if (!isResult(answer!)) throw answer
    const result = (answer as CommandResult).result
    expect(new TextDecoder().decode(result)).toMatch(/:1:$/)
    verifyReplyCertificate(answer.proof!, c.membership, keysFor('v').verifier, { command, result, index: answer.index })
    const other = envelope(clientKey('alice'), 'set x 1')
    expect(() => verifyReplyCertificate(answer.proof!, c.membership, keysFor('v').verifier, { command: other, result })).toThrow()
  }, 60_000)

  it('a proxy refuses a forged envelope; forged commands a faulty proxy broadcasts are dropped', async () => {
    const c = cluster('signed')
    await c.start()
    const forged = forgedEnvelope(clientKey('alice'), clientKey('mallory'), 'set x stolen')
    const refused = await c.node('r0').replica!.propose(forged).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(InvalidMessageError)
    const forger = new Forger(c)
    forger.inject('r1', 'r2', forger.batch('r1', 1, [forged]).message)
    // Bytes altered after the proxy signed them (a corrupting relay or link) never enter a mempool.
    const original = envelope(clientKey('alice'), 'set x 2')
    const sig = forger.sign('r1', sha256(batchPayload('r1', 2, [original])))
    const bytes = original.slice()
    bytes[bytes.length - 1]! ^= 0x01
    forger.inject('r1', 'r2', encodeCommands(batchPayload('r1', 2, [bytes]), sig))
    await c.runFor(100)
    expect(c.drops('r2')['bad-client-signature']).toBe(1)
    expect(c.drops('r2')['bad-commands-signature']).toBe(1)
  }, 60_000)

  for (const [mode, executes] of [
    ['signed', false],
    ['proxy', true],
  ] as const) {
    it(`a faulty leader's block carrying a forged request ${executes ? 'executes with the defence off (proxy mode)' : 'gets no votes and never executes'}`, async () => {
      const c = cluster(mode)
      c.sim.network.setOutboundFilter('r1', () => []) // the real r1 is silent; the forger leads view 1 as r1
      await c.start()
      const forged = forgedEnvelope(clientKey('alice'), clientKey('mallory'), 'set x stolen')
      const forger = new Forger(c)
      const block = forger.block('r1', 1, GENESIS, GENESIS_QC, [])
      const batch = forger.batch('r1', 7, [forged])
      const proposal = encodeProposal(makeBlock({ ...block, batches: [batch.digest] }))
      // As a proxy, r1 first hands the forged request to every mempool (signed by r1: proxies vouch for their clients).
      for (const to of ['r0', 'r2', 'r3']) forger.inject('r1', to, batch.message)
      await c.runFor(20)
      for (const to of ['r0', 'r2', 'r3']) forger.inject('r1', to, proposal)
      // Honest traffic afterwards, so the chain grows and would commit the forged block.
      const honest = ['r2', 'r3'].map((via, i) => c.node(via).replica!.propose(envelope(clientKey('bob'), `set y ${i}`)))
      const answers = await c.settle(honest.map((p) => p.catch((e: unknown) => e as Error)), 20_000)
      expect(answers.every(isResult)).toBe(true)
      await c.runFor(2000)
      expect(committedAnywhere(c, forged)).toBe(executes)
      if (!executes) expect(c.drops('r2')['bad-client-signature']).toBeGreaterThan(0)
    }, 60_000)
  }
})
