import { describe, expect, it } from 'vitest'
import { utf8 } from '@synod/core'
import { batchDigest, encodeCommittedBatches, encodeSignedBody, statement, type NewView } from '../src/messages.js'
import { decodeMessage, Forger, isResult, TestCluster } from './helpers.js'

// TOCS'02 §4.4–4.5.2: liveness of the view change (issue 12, points 1, 4 and 5).

const detail = (c: TestCluster, id: string) => c.status(id).detail as { view: number; active: boolean; lastExecutedSeq: number; drops: Record<string, number> }

/** Closed-loop clients through `vias` until `stop()`: each proposes its next command when the previous one settled. */
function keepBusy(c: TestCluster, vias: readonly string[]): { stop: () => void; answered: () => number } {
  let running = true
  let answered = 0
  for (const via of vias) {
    void (async () => {
      for (let i = 0; running; i++) if (isResult(await c.propose(via, `set busy-${via} ${i}`))) answered++
    })()
  }
  return { stop: () => (running = false), answered: () => answered }
}

describe('pbft liveness: per-request view-change timers (§4.4)', () => {
  it("a primary that keeps ordering other proxies' requests but censors one proxy's is replaced, and that request executes", async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    // r0, primary of view 0, ignores every request bundle of proxy r3 (from r3 itself or relayed); the rest it orders.
    for (const id of c.ids) {
      c.sim.network.setOutboundFilter(id, (out) => {
        if (out.to !== 'r0') return [out]
        const m = decodeMessage(out.message)
        return m.k === 'rq' && m.bundle.proxy === 'r3' ? [] : [out]
      })
    }
    await c.start()
    const load = keepBusy(c, ['r0', 'r1', 'r2'])
    const start = c.sim.now()
    const censored = c.propose('r3', 'set censored 1')
    const [answer] = await c.settle([censored], 5_000)
    load.stop()
    expect(isResult(answer!), String(answer)).toBe(true)
    // Bounded: one request timeout, the retransmission and the view change, far below the budget.
    expect(c.sim.now() - start).toBeLessThan(2_000)
    expect(load.answered()).toBeGreaterThan(10) // the others really were being served meanwhile
    for (const id of c.ids) expect(c.status(id).term).toBeGreaterThanOrEqual(1)
    c.assertAgreement()
  }, 120_000)
})

describe('pbft liveness: NEW-VIEW relays and view-change retransmission (§4.5.2)', () => {
  it('7 replicas: the new primary withholds NEW-VIEW from r6, which still installs the view from relays and takes part', async () => {
    const c = new TestCluster({ n: 7, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    // r1 (primary of view 1) never sends a NEW-VIEW to r6, neither the first nor any re-send.
    c.sim.network.setOutboundFilter('r1', (out) => (out.to === 'r6' && decodeMessage(out.message).k === 'nv' ? [] : [out]))
    await c.start()
    expect((await c.settle([c.propose('r2', 'set a 0')])).every(isResult)).toBe(true)
    c.node('r0').crash()
    const results = await c.settle(['r2', 'r3'].map((via) => c.propose(via, `set b ${via}`)), 10_000)
    expect(results.every(isResult)).toBe(true)
    await c.runUntil(() => c.status('r6').term === 1 && c.status('r6').role === 'backup', 3_000)
    expect(c.status('r6')).toMatchObject({ term: 1, role: 'backup', leader: 'r1' })
    // It takes part: its proxy's requests are answered and it executes everything the others do.
    const mine = await c.settle([c.propose('r6', 'set c r6'), c.propose('r4', 'set c r4')], 5_000)
    expect(mine.every(isResult), String(mine)).toBe(true)
    await c.runUntil(() => c.committedCount('r6') === c.committedCount('r1'), 2_000)
    expect(c.committedCount('r6')).toBe(c.committedCount('r1'))
    expect(detail(c, 'r6').drops['new-view-relayed']).toBeGreaterThan(0)
    c.assertAgreement(['r1', 'r2', 'r3', 'r4', 'r5', 'r6'])
  }, 120_000)

  it('a relayed NEW-VIEW is validated like the primary\'s: a tampered copy is dropped, the genuine one installs the view', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    const forge = new Forger(c)
    let captured: Uint8Array | undefined
    // Nobody delivers a NEW-VIEW to r3; we keep a copy of the primary's.
    const withhold = (id: string) => (out: { to: string; message: Uint8Array }) => {
      if (decodeMessage(out.message).k !== 'nv') return [out]
      if (id === 'r1') captured ??= out.message
      return out.to === 'r3' ? [] : [out]
    }
    for (const id of c.ids) c.sim.network.setOutboundFilter(id, withhold(id))
    await c.start()
    // r0 falls silent until the others moved to view 1, then works again as a backup there.
    c.sim.network.setOutboundFilter('r0', () => [])
    const answer = c.propose('r2', 'set a 1')
    await c.runUntil(() => c.status('r1').role === 'primary', 5_000)
    c.sim.network.setOutboundFilter('r0', withhold('r0'))
    expect((await c.settle([answer], 5_000)).every(isResult)).toBe(true)
    expect(c.status('r3')).toMatchObject({ term: 1, role: 'view-change' })
    const genuine = decodeMessage(captured!) as NewView
    const badSig = genuine.sig.slice()
    badSig[5]! ^= 0x01
    forge.inject('r2', 'r3', encodeSignedBody('nv', genuine.body, badSig))
    await c.sim.runFor(50)
    expect(detail(c, 'r3').drops['bad-signature']).toBeGreaterThan(0)
    expect(c.status('r3').role).toBe('view-change')
    forge.inject('r2', 'r3', captured!)
    await c.sim.runFor(50)
    expect(c.status('r3')).toMatchObject({ term: 1, role: 'backup', leader: 'r1' })
  }, 60_000)
})

describe('pbft liveness: no replica stays stuck after faults heal (§4.5.2, docs/adr/0010)', () => {
  it('7 replicas: r6 isolated while the others change view twice; once healed it installs their view, catches up and its proxy answers', async () => {
    const c = new TestCluster({ n: 7, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    expect((await c.settle(c.ids.map((via) => c.propose(via, `set warm ${via}`)))).every(isResult)).toBe(true)
    c.sim.network.isolate('r6')
    const stranded = c.propose('r6', 'set stranded 1') // r6 times out on it alone
    // The others replace two primaries in turn (each silenced until the next view is installed).
    for (const [primary, next] of [
      ['r0', 1],
      ['r1', 2],
    ] as const) {
      c.sim.network.setOutboundFilter(primary, () => [])
      const results = await c.settle(['r3', 'r4'].map((via) => c.propose(via, `set v${next} ${via}`)), 15_000)
      expect(results.every(isResult)).toBe(true)
      c.sim.network.setOutboundFilter(primary, undefined)
      expect(c.status('r3').term).toBe(next)
    }
    await c.sim.runFor(8_000) // r6 stays cut off for a while longer, the others keep working
    expect((await c.settle(['r2', 'r3'].map((via) => c.propose(via, 'set during x')))).every(isResult)).toBe(true)
    c.sim.network.heal()
    const healedAt = c.sim.now()
    const after = await c.settle([c.propose('r6', 'set after r6'), c.propose('r5', 'set after r5'), stranded], 6_000)
    expect(after.every(isResult), String(after)).toBe(true)
    expect(c.sim.now() - healedAt).toBeLessThan(5_000)
    expect(c.status('r6')).toMatchObject({ term: 2, role: 'backup' })
    await c.runUntil(() => c.committedCount('r6') === c.committedCount('r3'), 2_000)
    expect(c.committedCount('r6')).toBe(c.committedCount('r3'))
    c.assertAgreement()
  }, 120_000)

  it('4 replicas: a lagging r3 that timed out alone (one view ahead) serves again by learning committed batches, and rejoins at the next view change', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    expect((await c.settle(c.ids.map((via) => c.propose(via, `set warm ${via}`)))).every(isResult)).toBe(true)
    c.sim.network.isolate('r3')
    const stranded = c.propose('r3', 'set stranded 1')
    const load = keepBusy(c, ['r0'])
    await c.sim.runFor(3_000)
    expect(c.status('r3')).toMatchObject({ term: 1, role: 'view-change' }) // it asked for view 1 alone; the others stayed in view 0
    c.sim.network.heal()
    const healedAt = c.sim.now()
    const [after, strandedAnswer] = await c.settle([c.propose('r3', 'set after r3'), stranded], 5_000)
    expect(isResult(after!), String(after)).toBe(true)
    expect(c.sim.now() - healedAt).toBeLessThan(4_000)
    // The bundle r3 sent while cut off runs once; if the others executed it in a stretch r3 skipped by
    // state transfer, its outcome is unknown to r3 (README, not implemented), never wrong.
    if (!isResult(strandedAnswer!)) expect(String(strandedAnswer)).toMatch(/catching up/)
    const more = await c.settle([c.propose('r3', 'set more r3')], 2_000)
    expect(more.every(isResult)).toBe(true)
    load.stop()
    for (const id of ['r0', 'r1', 'r2']) expect(c.status(id).term).toBe(0) // one replica alone cannot move the group
    // (It may have skipped a stretch by state transfer, so compare positions, not recorded commits.)
    await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 3_000)
    expect(c.status('r3').commitIndex).toBe(c.status('r0').commitIndex)
    // Its VIEW-CHANGE stayed at view 1 (no escalation without 2f+1 of them), so when the primary fails the
    // others need it for their quorum and meet it there quickly.
    expect(c.status('r3').term).toBe(1)
    c.node('r0').crash()
    const final = await c.settle(['r1', 'r2', 'r3'].map((via) => c.propose(via, `set final ${via}`)), 5_000)
    expect(final.every(isResult), String(final)).toBe(true)
    for (const id of ['r1', 'r2', 'r3']) expect(c.status(id)).toMatchObject({ term: 1, role: id === 'r1' ? 'primary' : 'backup' })
    c.assertAgreement()
  }, 120_000)

  it("the same with the defence off ('lone-escalation'): r3 climbs views alone while cut off, and when the primary fails the others cannot meet it within the time the defence needs", async () => {
    // The live finding of docs/adr/0010 — one replica left alone in a higher view — planted back.
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100, unsafeDisableDefences: ['lone-escalation'] } })
    await c.start()
    expect((await c.settle(c.ids.map((via) => c.propose(via, `set warm ${via}`)))).every(isResult)).toBe(true)
    c.sim.network.isolate('r3')
    c.propose('r3', 'set stranded 1')
    const load = keepBusy(c, ['r0'])
    await c.sim.runFor(3_000)
    expect(c.status('r3').term).toBeGreaterThan(2) // climbed alone (the defence keeps it at 1)
    c.sim.network.heal()
    await c.sim.runFor(2_000)
    load.stop()
    for (const id of ['r0', 'r1', 'r2']) expect(c.status(id).term).toBe(0)
    c.node('r0').crash()
    // With the defence the three meet in view 1 and answer within 5 s (above); here r3 will not come back down.
    await expect(c.settle(['r1', 'r2', 'r3'].map((via) => c.propose(via, `set final ${via}`)), 5_000)).rejects.toThrow()
    expect(c.status('r3').term).toBeGreaterThan(c.status('r1').term) // still alone above them
    c.assertAgreement()
  }, 120_000)
})

describe('pbft catch-up: commit certificates are verified', () => {
  it('a committed-batches answer without 2f+1 valid distinct commits is dropped and counted; with them the same batch would execute', async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    await c.start()
    expect((await c.settle([c.propose('r1', 'set p good')])).every(isResult)).toBe(true)
    await c.runUntil(() => c.committedCount('r1') === 1, 1_000)
    const evil = forge.bundle('r3', 1, ['set p evil'])
    const digest = batchDigest([evil])
    const commit = (id: string) => ({ id, sig: c.keys.get(id)!.signer.sign(statement('commit', 0, 2, digest)) })
    const badSig = { id: 'r2', sig: commit('r2').sig.slice() }
    badSig.sig[3]! ^= 0x01
    const certificate = (commits: Array<{ id: string; sig: Uint8Array }>) =>
      encodeCommittedBatches([{ view: 0, seq: 2, bundles: [evil], digest, commits }])
    // Byzantine r3 alone: its own commit three times, then with a forged one and one of the wrong batch.
    forge.inject('r3', 'r1', certificate([commit('r3'), commit('r3'), commit('r3')]))
    forge.inject('r3', 'r1', certificate([commit('r3'), commit('r0'), badSig]))
    const other = { id: 'r2', sig: c.keys.get('r2')!.signer.sign(statement('commit', 0, 2, batchDigest([forge.bundle('r3', 1, ['set p other'])]))) }
    forge.inject('r3', 'r1', certificate([commit('r3'), commit('r0'), other]))
    await c.sim.runFor(200)
    expect(detail(c, 'r1').drops['bad-commit-certificate']).toBe(3)
    expect(c.committedCount('r1')).toBe(1)
    expect(new TextDecoder().decode(c.node('r1').replica!.readLocal(utf8('p')).result)).toBe('good')
    // Control: were the batch really committed (2f+1 members signed), r1 executes it from the certificate alone.
    forge.inject('r3', 'r1', certificate([commit('r3'), commit('r0'), commit('r2')]))
    await c.sim.runFor(200)
    expect(c.committedCount('r1')).toBe(2)
    expect(new TextDecoder().decode(c.node('r1').replica!.readLocal(utf8('p')).result)).toBe('evil')
  }, 60_000)
})
