import { describe, expect, it } from 'vitest'
import { isResult, TestCluster } from './helpers.js'

// TOCS'02 §6.2 (state transfer): a replica that fell behind the stable checkpoint fetches the
// state from a peer and checks it against the checkpoint's 2f+1 signatures.
describe('pbft state transfer', () => {
  it('a partitioned replica catches up past garbage-collected sequence numbers by fetching a verified snapshot', async () => {
    const c = new TestCluster({ n: 4, options: { checkpointInterval: 4, logWindow: 8, maxInFlight: 2, viewChangeTimeoutMs: 2000 } })
    await c.start()
    c.sim.network.isolate('r3')
    for (let wave = 0; wave < 20; wave++) {
      const answers = ['r0', 'r1', 'r2'].map((via, i) => c.propose(via, `set k${i} w${wave}`))
      expect((await c.settle(answers)).every(isResult)).toBe(true)
    }
    expect(c.committedCount('r3')).toBe(0)
    const low = (c.status('r0').detail as { lowWatermark: number }).lowWatermark
    expect(low).toBeGreaterThan(8)
    c.sim.network.heal()
    await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 5000)
    expect(c.status('r3').commitIndex).toBe(60)
    expect(c.status('r3').counters['snapshots.installed']).toBeGreaterThanOrEqual(1)
    expect(c.node('r3').replica!.readLocal(new TextEncoder().encode('k1')).result).toEqual(new TextEncoder().encode('w19'))
    // And it takes part again: a request through it commits with a reply certificate.
    const [answer] = await c.settle([c.propose('r3', 'set after heal')])
    expect(isResult(answer!)).toBe(true)
    c.assertAgreement()
  })

  it('survives a crash-restart: view, stable checkpoint and proxy timestamp come back from storage', async () => {
    const c = new TestCluster({ n: 4, options: { checkpointInterval: 4, logWindow: 8, viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    for (let wave = 0; wave < 6; wave++) await c.settle(c.ids.map((via, i) => c.propose(via, `set k${i} w${wave}`)))
    c.node('r0').crash()
    // View change without r0, more progress, then r0 comes back.
    for (let wave = 6; wave < 12; wave++) await c.settle(['r1', 'r2', 'r3'].map((via, i) => c.propose(via, `set k${i} w${wave}`)), 10_000)
    await c.node('r0').start()
    await c.runUntil(() => c.status('r0').commitIndex >= c.status('r1').commitIndex - 3, 5000)
    const results = await c.settle(c.ids.map((via) => c.propose(via, `set again ${via}`)), 10_000)
    expect(results.every(isResult), String(results)).toBe(true)
    c.assertAgreement()
    expect(c.status('r0').term).toBe(1)
  })

  it('a restarted replica re-executes what it had committed after its last stable checkpoint, with no new traffic', async () => {
    const c = new TestCluster({ n: 4, options: { checkpointInterval: 64, viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    for (let wave = 0; wave < 3; wave++) await c.settle(c.ids.map((via, i) => c.propose(via, `set k${i} w${wave}`)))
    await c.runUntil(() => c.status('r3').appliedIndex === c.status('r0').appliedIndex, 2000)
    const applied = c.status('r3').appliedIndex
    expect(applied).toBeGreaterThan(0)
    expect(c.status('r3').detail?.['lowWatermark']).toBe(0) // nothing stable yet: all of it is after the checkpoint
    c.node('r3').crash()
    await c.node('r3').start()
    // An idle cluster: nothing new is ordered, so no checkpoint or state transfer can bring r3 back.
    await c.runUntil(() => c.status('r3').appliedIndex === applied, 1000)
    expect(c.status('r3').appliedIndex).toBe(applied)
    expect(c.status('r3').commitIndex).toBe(applied)
    c.assertAgreement()
  })
})
