import { describe, expect, it } from 'vitest'
import { ConfigError, membership, utf8, type CommandResult, type ProtocolContext } from '@synod/core'
import { PbftNode, verifyReplyCertificate } from '../src/index.js'
import { resolveOptions } from '../src/options.js'
import { decodeMessage, Forger, isResult, keysFor, TestCluster } from './helpers.js'

const mac = { requestAuthentication: 'mac' } as const
const drops = (c: TestCluster, id: string) => (c.status(id).detail as { drops: Record<string, number> }).drops
const value = (c: TestCluster, id: string, key: string) => new TextDecoder().decode(c.node(id).replica!.readLocal(utf8(key)).result)

describe("pbft with requestAuthentication: 'mac' (MAC authenticators on request bundles)", () => {
  for (const n of [4, 7]) {
    it(`n=${n}: normal case; bundles carry one tag per replica and no signature, answers keep verifiable reply certificates`, async () => {
      const c = new TestCluster({ n, options: mac })
      const requests: Array<{ sig: boolean; tags: number }> = []
      for (const id of c.ids)
        c.sim.network.setOutboundFilter(id, (out) => {
          const m = decodeMessage(out.message)
          if (m.k === 'rq' || m.k === 'pp') for (const b of m.k === 'rq' ? [m.bundle] : m.bundles) requests.push({ sig: b.sig !== undefined, tags: b.tags?.length ?? 0 })
          return [out]
        })
      await c.start()
      const pending: Array<{ command: string; answer: Promise<CommandResult | Error> }> = []
      for (let i = 0; i < 40; i++) {
        const command = `set k${i % 5} v${i}`
        pending.push({ command, answer: c.propose(c.ids[i % n]!, command) })
      }
      const results = await c.settle(pending.map((p) => p.answer))
      expect(results.every(isResult), String(results)).toBe(true)
      await c.runUntil(() => c.ids.every((id) => c.committedCount(id) === 40), 5000)
      c.assertAgreement()
      const verifier = keysFor('r0').verifier
      for (const p of pending) {
        const answer = (await p.answer) as CommandResult
        verifyReplyCertificate(answer.proof!, c.membership, verifier, { command: utf8(p.command), result: answer.result, index: answer.index })
      }
      expect(requests.length).toBeGreaterThan(0)
      expect(requests.every((r) => !r.sig && r.tags === n)).toBe(true)
      for (const id of c.ids) {
        expect(c.committedCount(id)).toBe(40)
        expect(drops(c, id)['request-bad-mac'] ?? 0).toBe(0)
        expect((c.status(id).detail as { requestAuthentication: string }).requestAuthentication).toBe('mac')
      }
      expect(c.status('r0').term).toBe(0)
      expect(c.errors).toEqual([])
    })
  }

  it('a request with a forged tag (or a signature instead of an authenticator) is dropped and counted, never executed', async () => {
    const c = new TestCluster({ n: 4, options: mac })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r3', () => []) // r3 is byzantine: only what we forge leaves it
    await c.start()
    // r3 cannot compute r1's keys: it claims a bundle of r1 with made-up tags.
    forge.inject('r3', 'r0', forge.request(forge.macBundle('r1', 1, ['set p forged'], () => false)))
    // Its own bundle with the primary's tag flipped.
    forge.inject('r3', 'r0', forge.request(forge.macBundle('r3', 1, ['set p flipped'], (id) => id !== 'r0')))
    // A signed bundle where an authenticator is expected.
    forge.inject('r3', 'r0', forge.request(forge.bundle('r3', 2, ['set p signed'])))
    await c.sim.runFor(2000)
    for (const id of ['r0', 'r1', 'r2']) expect(c.committedCount(id)).toBe(0)
    expect(drops(c, 'r0')['request-bad-mac']).toBe(2)
    expect(drops(c, 'r0')['request-wrong-authentication']).toBe(1)
    const after = await c.settle([c.propose('r1', 'set q ok')])
    expect(after.every(isResult)).toBe(true)
    expect(value(c, 'r0', 'p')).toBe('')
    c.assertAgreement(['r0', 'r1', 'r2'])
  })

  it('byzantine proxy, partially valid authenticator, 2f other backups vouch: the replica with the bad tag does not prepare but commits and executes with the others', async () => {
    const c = new TestCluster({ n: 4, options: mac })
    const forge = new Forger(c)
    const preparesFromR2 = new Set<number>()
    c.sim.network.setOutboundFilter('r2', (out) => {
      const m = decodeMessage(out.message)
      if (m.k === 'p') preparesFromR2.add(m.seq)
      return [out]
    })
    await c.start()
    // r3 (otherwise following the protocol, so it prepares) sends the primary a bundle whose tag for r2 is wrong.
    forge.inject('r3', 'r0', forge.request(forge.macBundle('r3', 1, ['set p partial'], (id) => id !== 'r2')))
    await c.runUntil(() => c.ids.every((id) => c.committedCount(id) === 1), 3000)
    for (const id of c.ids) expect(value(c, id, 'p'), id).toBe('partial')
    expect(drops(c, 'r2')['pre-prepare-unauthenticated-request']).toBe(1)
    expect([...preparesFromR2]).toEqual([]) // r2 never vouched for it
    c.assertAgreement()
    const after = await c.settle([c.propose('r2', 'set q next')])
    expect(after.every(isResult)).toBe(true)
    expect(c.status('r2').term).toBe(0)
    expect([...preparesFromR2]).toEqual([2])
  })

  it('byzantine proxy, partially valid authenticator, too few backups can vouch: its request never executes; the stalled sequence number costs one view change, safety holds', async () => {
    const c = new TestCluster({ n: 4, options: { ...mac, viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r3', () => []) // r3 is byzantine and otherwise silent
    await c.start()
    // Valid for the primary and r1 only: r2 cannot vouch, r3 does not prepare, so the batch gets 1 of 2f = 2 prepares.
    forge.inject('r3', 'r0', forge.request(forge.macBundle('r3', 1, ['set p evil'], (id) => id === 'r0' || id === 'r1')))
    await c.sim.runFor(200)
    expect(drops(c, 'r2')['pre-prepare-unauthenticated-request']).toBe(1)
    const results = await c.settle(['r0', 'r1', 'r2'].map((via) => c.propose(via, `set k ${via}`)), 10_000)
    expect(results.every(isResult), String(results)).toBe(true)
    c.assertAgreement(['r0', 'r1', 'r2'])
    for (const id of ['r0', 'r1', 'r2']) {
      expect(value(c, id, 'p')).toBe('')
      expect(c.committedCount(id)).toBe(3)
      expect(c.status(id).term).toBe(1)
    }
  })

  it('view change: a batch prepared but not committed in view 0 executes in view 1 without anyone checking the proxy tags again', async () => {
    const c = new TestCluster({ n: 4, options: { ...mac, viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    const forge = new Forger(c)
    // No commit of view 0 gets through: r3's bundle prepares everywhere but cannot commit.
    for (const id of c.ids)
      c.sim.network.setOutboundFilter(id, (out) => {
        const m = decodeMessage(out.message)
        return m.k === 'c' && m.view === 0 ? [] : [out]
      })
    await c.start()
    // r2's tag is bad: r2 prepared only on the others' word, and the NEW-VIEW brings the batch back to it.
    forge.inject('r3', 'r0', forge.request(forge.macBundle('r3', 1, ['set p carried'], (id) => id !== 'r2')))
    await c.sim.runFor(100)
    c.node('r0').crash()
    const results = await c.settle(['r1', 'r2'].map((via) => c.propose(via, `set k ${via}`)), 10_000)
    expect(results.every(isResult), String(results)).toBe(true)
    await c.runUntil(() => ['r1', 'r2', 'r3'].every((id) => c.committedCount(id) === 3), 3000)
    for (const id of ['r1', 'r2', 'r3']) {
      expect(c.status(id).term).toBe(1)
      expect(value(c, id, 'p'), id).toBe('carried')
      expect(c.committedCount(id)).toBe(3)
    }
    expect(drops(c, 'r2')['pre-prepare-unauthenticated-request']).toBe(1)
    c.assertAgreement()
  })

  it("refuses 'mac' without Signer.sharedKey, and unknown modes, with ConfigError", () => {
    const keys = keysFor('r0')
    const ctx = {
      self: 'r0',
      membership: membership([{ id: 'r0', publicKey: keys.publicKey }]),
      signer: { publicKey: keys.publicKey, sign: (m: Uint8Array) => keys.signer.sign(m) },
      verifier: keys.verifier,
    } as unknown as ProtocolContext
    expect(() => new PbftNode(ctx, mac)).toThrow(ConfigError)
    expect(() => new PbftNode(ctx, mac)).toThrow(/sharedKey/)
    expect(() => new PbftNode(ctx, {})).not.toThrow()
    expect(() => resolveOptions({ requestAuthentication: 'hmac' as 'mac' })).toThrow(ConfigError)
  })
})
