// A full restart of the cluster under load (docs/adr/0032): every replica crashes with slots
// pre-prepared and not committed, and comes back with them from storage but without anyone's votes.
// Each replica takes its own votes up again, so the cluster goes on in the same view; without that
// (the 'revote-after-restart' switch) those slots wait for the request timers and a view change.
import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers.js'
import type { PbftOptions } from '../src/options.js'

/** The daemon's timers (viewChangeTimeoutMs 1000, statusIntervalMs 500). */
const timing: Partial<PbftOptions> = { viewChangeTimeoutMs: 1000, requestRetransmitMs: 500, statusIntervalMs: 500 }

/** Crash every replica in the middle of a closed-loop load, restart all; virtual ms to the first write answered after. */
async function fullRestart(seed: number, crashAtMs: number, options: Partial<PbftOptions>) {
  const c = new TestCluster({ n: 4, seed, options: { ...timing, ...options } })
  await c.start()
  // Closed-loop clients, one per replica; the clients of one incarnation stop at the crash.
  let incarnation = 0
  let answered = -1
  const loop = async (via: string, k: number, mine: number) => {
    for (let i = 0; incarnation === mine && i < 10_000; i++) {
      const r = await c.propose(via, `set k${k} ${i}`)
      if (!(r instanceof Error) && incarnation === mine) answered = c.sim.now()
    }
  }
  for (let k = 0; k < 4; k++) void loop(c.ids[k]!, k, 0)
  await c.runUntil(() => false, crashAtMs)
  const viewBefore = c.status('r0').term
  incarnation = 1
  for (const id of c.ids) c.node(id).crash()
  await c.runUntil(() => false, 50)
  for (const id of c.ids) await c.node(id).start()
  const restartedAt = c.sim.now()
  for (let k = 0; k < 4; k++) void loop(c.ids[k]!, 100 + k, 1)
  await c.runUntil(() => answered > restartedAt, 20_000)
  const firstMs = answered > restartedAt ? answered - restartedAt : Number.POSITIVE_INFINITY
  const views = c.ids.map((id) => c.status(id).term)
  incarnation = 2
  c.assertAgreement()
  return { firstMs, viewBefore, views }
}

describe('pbft: a full restart under load', () => {
  const cases = [
    [1, 1500],
    [3, 2210],
  ] as const
  it('goes on in the same view, the first write answered well within a view-change timeout', { timeout: 120_000 }, async () => {
    for (const [seed, at] of cases) {
      const r = await fullRestart(seed, at, {})
      console.log(`seed ${seed}: views ${r.viewBefore} → ${r.views.join('/')}, first write ${r.firstMs} ms after the restart`)
      expect(r.views, `seed ${seed}`).toEqual([r.viewBefore, r.viewBefore, r.viewBefore, r.viewBefore])
      expect(r.firstMs, `seed ${seed}`).toBeLessThan(1000)
    }
  })

  it("without 'revote-after-restart', some restart waits for a view change", { timeout: 120_000 }, async () => {
    const runs = []
    for (const [seed, at] of cases) {
      const r = await fullRestart(seed, at, { unsafeDisableDefences: ['revote-after-restart'] })
      console.log(`switched off, seed ${seed}: views ${r.viewBefore} → ${r.views.join('/')}, first write ${r.firstMs} ms after the restart`)
      runs.push(r)
    }
    expect(runs.some((r) => r.views.some((v) => v > r.viewBefore) && r.firstMs >= 1000)).toBe(true)
  })
})
