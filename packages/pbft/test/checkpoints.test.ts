import { describe, expect, it } from 'vitest'
import { isResult, TestCluster } from './helpers.js'

// TOCS'02 §4.3: checkpoints every K sequence numbers, stable at 2f+1 signatures, log GC, watermarks.
describe('pbft checkpoints and garbage collection (§4.3)', () => {
  it('keeps the log bounded by the watermark window over a long run and stores the stable checkpoint', async () => {
    const c = new TestCluster({ n: 4, options: { checkpointInterval: 4, logWindow: 8, maxInFlight: 2 } })
    await c.start()
    let maxSlots = 0
    for (let wave = 0; wave < 60; wave++) {
      const answers = c.ids.map((via, i) => c.propose(via, `set k${i} w${wave}`))
      expect((await c.settle(answers)).every(isResult)).toBe(true)
      for (const id of c.ids) maxSlots = Math.max(maxSlots, (c.status(id).detail as { logSlots: number }).logSlots)
    }
    await c.runUntil(() => c.ids.every((id) => c.committedCount(id) === 240), 2000)
    c.assertAgreement()
    expect(maxSlots).toBeLessThanOrEqual(8)
    for (const id of c.ids) {
      const detail = c.status(id).detail as { lowWatermark: number; lastExecutedSeq: number; highWatermark: number }
      expect(detail.lowWatermark, id).toBeGreaterThan(0)
      expect(detail.lastExecutedSeq - detail.lowWatermark).toBeLessThan(8)
      expect(detail.highWatermark).toBe(detail.lowWatermark + 8)
    }
    expect(c.events.filter((e) => e.event.type === 'snapshot').length).toBeGreaterThan(4 * 5)
    expect(c.errors).toEqual([])
  })
})
