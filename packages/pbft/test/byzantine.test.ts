import { describe, expect, it } from 'vitest'
import { utf8 } from '@synod/core'
import { sha256 } from '@synod/crypto'
import { decodeMessage, Forger, isResult, TestCluster } from './helpers.js'

const drops = (c: TestCluster, id: string) => (c.status(id).detail as { drops: Record<string, number> }).drops
const totalDrops = (c: TestCluster, ids: readonly string[], reason: string) => ids.reduce((sum, id) => sum + (drops(c, id)[reason] ?? 0), 0)
const correct = ['r1', 'r2', 'r3']

describe('pbft under byzantine replicas (f = 1 of 4)', () => {
  it('equivocating primary: different pre-prepares to different backups; correct replicas never disagree and a view change restores progress', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r0', (out) => {
      const m = decodeMessage(out.message)
      if (m.k !== 'pp' || m.view !== 0 || (out.to !== 'r2' && out.to !== 'r3')) return [out]
      const other = forge.bundle('r0', 1000 + m.seq, [`set evil ${m.seq}`])
      return [{ to: out.to, message: forge.prePrepare('r0', m.view, m.seq, [other]) }]
    })
    await c.start()
    const results = await c.settle(correct.map((via) => c.propose(via, `set k ${via}`)), 15_000)
    expect(results.every(isResult), String(results)).toBe(true)
    c.assertAgreement(correct)
    for (const id of correct) expect(c.status(id).term).toBeGreaterThanOrEqual(1)
  })

  it('a replica sending conflicting (validly signed) and forged prepares/commits cannot stop or split the others', async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r3', (out) => {
      const m = decodeMessage(out.message)
      if (m.k !== 'p' && m.k !== 'c') return [out]
      const wrong = forge.vote(m.k, 'r3', m.view, m.seq, sha256(utf8(`other ${m.seq}`)))
      const forged = forge.badVote(m.k, 'r3', m.view, m.seq, m.digest)
      return out.to === 'r1' ? [{ to: out.to, message: wrong }] : [{ to: out.to, message: forged }]
    })
    await c.start()
    for (let wave = 0; wave < 10; wave++) {
      const results = await c.settle(['r0', 'r1', 'r2'].map((via) => c.propose(via, `set w ${wave}${via}`)))
      expect(results.every(isResult)).toBe(true)
    }
    c.assertAgreement(['r0', 'r1', 'r2'])
    expect(totalDrops(c, ['r0', 'r1', 'r2'], 'bad-signature')).toBeGreaterThan(0)
    expect(c.status('r0').term).toBe(0)
  })

  it('bad signatures are dropped and counted, wrong digests never count towards a certificate', async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r3', () => []) // r3 is byzantine: only what we forge leaves it
    await c.start()
    const first = await c.settle([c.propose('r1', 'set a 1')])
    expect(isResult(first[0]!)).toBe(true)
    // For the next sequence number, r3 sends commits for a wrong digest (validly signed) and a
    // prepare with the right shape but a broken signature, before anyone else votes.
    const wrongDigest = sha256(utf8('not the batch'))
    for (const to of ['r0', 'r1', 'r2']) {
      forge.inject('r3', to, forge.vote('c', 'r3', 0, 2, wrongDigest))
      forge.inject('r3', to, forge.badVote('p', 'r3', 0, 2, wrongDigest))
      forge.inject('r3', to, forge.prePrepare('r3', 0, 2, [forge.bundle('r3', 1, ['set evil 1'])])) // not the primary
      forge.inject('r3', to, forge.vote('p', 'r3', 0, 100_000, wrongDigest)) // far outside the window
      forge.inject('r3', to, utf8('not cbor at all'))
    }
    const second = await c.settle([c.propose('r2', 'set b 2')])
    expect(isResult(second[0]!)).toBe(true)
    c.assertAgreement(['r0', 'r1', 'r2'])
    for (const id of ['r0', 'r1', 'r2']) {
      expect(c.committedCount(id)).toBe(2)
      expect(c.status(id).counters['dropped.invalid']).toBe(1)
    }
    expect(totalDrops(c, ['r0', 'r1', 'r2'], 'pre-prepare-not-primary')).toBe(3)
    expect(totalDrops(c, ['r0', 'r1', 'r2'], 'out-of-window')).toBe(3)
  })

  it('replayed messages from an old view are ignored after a view change', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    const forge = new Forger(c)
    const captured: Array<{ to: string; message: Uint8Array }> = []
    c.sim.network.setOutboundFilter('r0', (out) => {
      captured.push(out)
      return [out]
    })
    await c.start()
    for (let i = 0; i < 3; i++) await c.settle(c.ids.map((via) => c.propose(via, `set k${i} ${via}`)))
    c.node('r0').crash()
    await c.settle(correct.map((via) => c.propose(via, `set after ${via}`)), 10_000)
    expect(c.status('r1').term).toBe(1)
    const before = correct.map((id) => c.committedCount(id))
    for (const { to, message } of captured) forge.inject('r0', to, message)
    const again = await c.settle(correct.map((via) => c.propose(via, `set again ${via}`)), 10_000)
    expect(again.every(isResult)).toBe(true)
    correct.forEach((id, i) => expect(c.committedCount(id)).toBe(before[i]! + 3))
    expect(totalDrops(c, correct, 'old-view')).toBeGreaterThan(0)
    c.assertAgreement(correct)
  })

  it('a byzantine proxy sending different requests with one timestamp to different replicas gets exactly one executed', async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r3', () => [])
    await c.start()
    const a = forge.bundle('r3', 1, ['set p A'])
    const b = forge.bundle('r3', 1, ['set p B'])
    forge.inject('r3', 'r0', forge.request(a))
    forge.inject('r3', 'r1', forge.request(b))
    forge.inject('r3', 'r2', forge.request(b))
    await c.sim.runFor(3000)
    c.assertAgreement(['r0', 'r1', 'r2'])
    for (const id of ['r0', 'r1', 'r2']) expect(c.committedCount(id)).toBe(1)
    const values = ['r0', 'r1', 'r2'].map((id) => new TextDecoder().decode(c.node(id).replica!.readLocal(utf8('p')).result))
    expect(new Set(values).size).toBe(1)
    expect(['A', 'B']).toContain(values[0])
    expect(c.status('r1').term).toBe(0) // no spurious view change
  })

  it("a proxy never answers its clients with another body executed under its own timestamp (a twin's bundle)", async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    await c.start()
    // Someone holding r3's key (a twin) gets a different bundle with r3's next timestamp ordered first.
    forge.inject('r3', 'r0', forge.request(forge.bundle('r3', 1, ['set p twin'])))
    const [answer] = await c.settle([c.propose('r3', 'set p mine')])
    await c.runUntil(() => c.ids.every((id) => c.committedCount(id) === 1), 2000)
    for (const id of c.ids) expect(new TextDecoder().decode(c.node(id).replica!.readLocal(utf8('p')).result)).toBe('twin')
    // Its client's command never ran: the outcome is reported unknown, not the twin's result.
    expect(answer).toBeInstanceOf(Error)
    const next = await c.settle([c.propose('r3', 'set q after')])
    expect(next.every(isResult)).toBe(true)
  })
})
