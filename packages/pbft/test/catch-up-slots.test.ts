import { describe, expect, it } from 'vitest'
import { decodeMessage, isResult, TestCluster } from './helpers.js'

// Issue 12 point 7 (one item): a replica that missed a few pre-prepares, but saw the slots commit
// elsewhere (2f+1 signed commits), fetches those batches by digest and executes them — no state transfer.
describe('pbft catch-up of a few committed slots', () => {
  it('a replica missing the pre-prepares of two slots executes them from the commit certificate and fetched bodies', { timeout: 60_000 }, async () => {
    const c = new TestCluster({ n: 4, options: { checkpointInterval: 4, logWindow: 8, maxInFlight: 1, viewChangeTimeoutMs: 60_000, requestRetransmitMs: 60_000 } })
    c.sim.network.setOutboundFilter('r0', (out) => {
      if (out.to !== 'r3') return [out]
      const m = decodeMessage(out.message)
      return m.k === 'pp' && (m.seq === 2 || m.seq === 3) ? [] : [out]
    })
    await c.start()
    for (let wave = 0; wave < 6; wave++) expect((await c.settle([c.propose('r1', `set k w${wave}`)])).every(isResult)).toBe(true)
    await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 2_000)
    expect(c.status('r0').commitIndex).toBe(6)
    expect(c.status('r3').commitIndex).toBe(6)
    expect(c.status('r3').counters['snapshots.installed'] ?? 0).toBe(0)
    // It executed seq 4 itself: its own checkpoint matched the others' and was stored.
    expect(c.events.some((e) => e.node === 'r3' && e.event.type === 'snapshot')).toBe(true)
    c.assertAgreement()
  })
})
