// A full restart of the cluster under load (docs/adr/0032): every replica crashes with slots
// pre-prepared and not committed, and comes back with them from storage but without anyone's votes.
// Each replica takes its own votes up again, so the cluster goes on in the same view; without that
// (the 'revote-after-restart' switch) those slots wait for the request timers and a view change.
import { encodeCanonical } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeMessage, TestCluster } from './helpers.js'
import type { PbftOptions } from '../src/options.js'
import { unsafeTestSwitches } from '../src/test-switches.js'

/** The daemon's timers (viewChangeTimeoutMs 1000, statusIntervalMs 500). */
const timing: Partial<PbftOptions> = { viewChangeTimeoutMs: 1000, requestRetransmitMs: 500, statusIntervalMs: 500 }

/**
 * Crash every replica in the middle of a closed-loop load, restart all; virtual ms to the first write answered
 * after. `lagging`: a replica that got no commits in the last 300 ms before the crash (the others executed
 * slots it only prepared).
 */
async function fullRestart(seed: number, crashAtMs: number, options: Partial<PbftOptions>, lagging?: string, laggingAloneInNextView = false) {
  const c = new TestCluster({ n: 4, seed, options: { ...timing, ...options } })
  await c.start()
  let starve = false
  if (lagging !== undefined)
    for (const id of c.ids)
      if (id !== lagging) c.sim.network.setOutboundFilter(id, (out) => (starve && out.to === lagging && decodeMessage(out.message).k === 'c' ? [] : [out]))
  // Closed-loop clients, one per replica; the clients of one incarnation stop at the crash.
  let incarnation = 0
  let answered = -1
  const loop = async (via: string, k: number, mine: number, max = 10_000) => {
    for (let i = 0; incarnation === mine && i < max; i++) {
      const r = await c.propose(via, `set k${k} ${i}`)
      if (!(r instanceof Error) && incarnation === mine) answered = c.sim.now()
    }
  }
  for (let k = 0; k < 4; k++) void loop(c.ids[k]!, k, 0)
  await c.runUntil(() => false, crashAtMs - 300)
  starve = true
  await c.runUntil(() => false, 300)
  const behind = lagging === undefined ? 0 : c.status('r0').appliedIndex - c.status(lagging).appliedIndex
  const viewBefore = c.status('r0').term
  incarnation = 1
  for (const id of c.ids) c.node(id).crash()
  await c.runUntil(() => false, 50)
  starve = false
  if (lagging !== undefined && laggingAloneInNextView) {
    // It crashed just after asking for the next view (its VIEW-CHANGE persisted, nobody else's).
    c.node(lagging).storage.setHardState('pbft/view', encodeCanonical({ v: viewBefore + 1, a: 0 }))
    await c.node(lagging).storage.sync()
  }
  for (const id of c.ids) await c.node(id).start()
  const restartedAt = c.sim.now()
  // After the restart: a closed loop through each replica; with a lagging one, 20 writes through r0 only, as
  // after a live run's final heal (the next checkpoint, whose state transfer would also catch it up, never comes).
  for (let k = 0; k < 4; k++) if (lagging === undefined) void loop(c.ids[k]!, 100 + k, 1)
  if (lagging !== undefined) void loop('r0', 100, 1, 20)
  await c.runUntil(() => answered > restartedAt, 20_000)
  const firstMs = answered > restartedAt ? answered - restartedAt : Number.POSITIVE_INFINITY
  const views = c.ids.map((id) => c.status(id).term)
  // The lagging replica: virtual ms until it executed everything executed before the crash.
  let caughtUpMs = Number.POSITIVE_INFINITY
  if (lagging !== undefined) {
    const target = Math.max(...c.ids.filter((id) => id !== lagging).map((id) => c.status(id).appliedIndex))
    await c.runUntil(() => c.status(lagging).appliedIndex >= target, 3_000)
    if (c.status(lagging).appliedIndex >= target) caughtUpMs = c.sim.now() - restartedAt
  }
  incarnation = 2
  c.assertAgreement()
  return { firstMs, viewBefore, views, behind, caughtUpMs }
}

describe('pbft: a full restart under load', () => {
  /** Checkpoints far apart: a lagging replica's gap cannot be closed by a state transfer to a stable checkpoint instead. */
  const sparse: Partial<PbftOptions> = { checkpointInterval: 512 }
  const cases = [[1, 800]] as const
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

  it('a replica that had not committed what the others executed catches up from their stored commit certificates', { timeout: 120_000 }, async () => {
        const on = await fullRestart(2, 900, sparse, 'r2')
    unsafeTestSwitches.forgetStoredCommits = true
    let off
    try {
      off = await fullRestart(2, 900, sparse, 'r2')
    } finally {
      unsafeTestSwitches.forgetStoredCommits = false
    }
    console.log(`r2 ${on.behind} behind at the crash: caught up ${on.caughtUpMs} ms after the restart; without stored commits: ${off.caughtUpMs} ms (views ${off.views.join('/')})`)
    expect(on.behind).toBeGreaterThan(0)
    expect(on.views).toEqual([on.viewBefore, on.viewBefore, on.viewBefore, on.viewBefore])
    expect(on.caughtUpMs).toBeLessThan(2_000)
    expect(off.caughtUpMs).toBe(Number.POSITIVE_INFINITY)
  })

  it('…also when it restarts alone in a view change the others never join (it learns their view from their certificates)', { timeout: 120_000 }, async () => {
        const on = await fullRestart(2, 900, sparse, 'r2', true)
    unsafeTestSwitches.forgetStoredCommits = true
    let off
    try {
      off = await fullRestart(2, 900, sparse, 'r2', true)
    } finally {
      unsafeTestSwitches.forgetStoredCommits = false
    }
    console.log(`alone in the next view, r2 ${on.behind} behind: caught up ${on.caughtUpMs} ms after the restart (views ${on.views.join('/')}); without stored commits: ${off.caughtUpMs} ms (views ${off.views.join('/')})`)
    expect(on.views[2]).toBe(on.viewBefore + 1)
    expect(on.caughtUpMs).toBeLessThan(2_000)
    expect(off.caughtUpMs).toBe(Number.POSITIVE_INFINITY)
  })

  it('re-sends to a peer whose status never moves at most three times (a bound against a Byzantine status)', { timeout: 120_000 }, async () => {
    const resent = async (): Promise<number> => {
      const c = new TestCluster({ n: 4, seed: 1, options: timing })
      await c.start()
      let incarnation = 0
      const loop = async (via: string, k: number, mine: number) => {
        for (let i = 0; incarnation === mine && i < 10_000; i++) await c.propose(via, `set k${k} ${i}`)
      }
      for (let k = 0; k < 4; k++) void loop(c.ids[k]!, k, 0)
      await c.runUntil(() => false, 800)
      incarnation = 1
      for (const id of c.ids) c.node(id).crash()
      // r3 hears nothing after the restart (so it executes nothing and its status stays put); count the
      // pre-prepares the primary r0 sends it.
      let prePrepares = 0
      for (const id of ['r0', 'r1', 'r2'])
        c.sim.network.setOutboundFilter(id, (out) => {
          if (out.to !== 'r3') return [out]
          if (id === 'r0' && decodeMessage(out.message).k === 'pp') prePrepares++
          return []
        })
      for (const id of c.ids) await c.node(id).start()
      await c.runUntil(() => false, 12_000)
      incarnation = 2
      return prePrepares
    }
    const bounded = await resent()
    unsafeTestSwitches.unboundedRevote = true
    let unbounded
    try {
      unbounded = await resent()
    } finally {
      unsafeTestSwitches.unboundedRevote = false
    }
    console.log(`pre-prepares re-sent to a peer stuck for 12 s: ${bounded} (without the bound: ${unbounded})`)
    expect(bounded).toBeGreaterThan(0)
    expect(unbounded).toBeGreaterThan(3 * bounded)
  })
})
