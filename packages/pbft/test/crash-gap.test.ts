import { decodeCanonical, toHex } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeMessage, Forger, isResult, TestCluster } from './helpers.js'

// No size limit here: the filter also sees (and measures) messages the receiving runtime will drop as oversized.
const kindOf = (bytes: Uint8Array): unknown => (decodeCanonical(bytes, Number.MAX_SAFE_INTEGER) as { k?: unknown }).k
/** The kinds a replica uses to fetch state or missed batches (before and after chunked state transfer). */
const FETCH_KINDS = new Set(['fs', 'fc', 'bf'])

// Issue 12 point 6: the low watermark can move past the stored snapshot (a stable certificate
// adopted while the state is still to be fetched). A replica that crashes in that gap must still
// come back with every pre-prepare it accepted, so it never prepares a second batch for a
// (view, sequence number) it already prepared.
describe('pbft crash recovery at the low-watermark gap', () => {
  it('a replica restarted after its low watermark moved without a snapshot never prepares a conflicting batch', { timeout: 60_000 }, async () => {
    const c = new TestCluster({ n: 4, options: { checkpointInterval: 4, logWindow: 8, maxInFlight: 4, viewChangeTimeoutMs: 600_000, requestRetransmitMs: 600_000 } })
    // r3 never sees a pre-prepare up to seq 8 (so it executes nothing and takes no snapshot) and
    // cannot fetch state: its low watermark moves with the others' checkpoint certificates only.
    for (const id of ['r0', 'r1', 'r2'])
      c.sim.network.setOutboundFilter(id, (out) => {
        if (out.to !== 'r3') return [out]
        const m = decodeMessage(out.message)
        return m.k === 'pp' && m.seq <= 8 ? [] : [out]
      })
    const prepares = new Map<string, Set<string>>() // "view/seq" → digests r3 prepared
    c.sim.network.setOutboundFilter('r3', (out) => {
      const kind = kindOf(out.message)
      if (FETCH_KINDS.has(kind as string)) return []
      if (kind === 'p') {
        const m = decodeMessage(out.message) as { view: number; seq: number; digest: Uint8Array }
        const key = `${m.view}/${m.seq}`
        const set = prepares.get(key) ?? new Set<string>()
        set.add(toHex(m.digest))
        prepares.set(key, set)
      }
      return [out]
    })
    await c.start()
    let wave = 0
    while ((c.status('r3').detail as { lowWatermark: number }).lowWatermark < 8 || ![...prepares.keys()].some((k) => Number(k.split('/')[1]) > 8)) {
      expect(wave).toBeLessThan(40)
      // One request at a time: one sequence number per wave, so the cluster stops right after seq 9.
      expect((await c.settle([c.propose('r0', `set k w${wave}`)])).every(isResult)).toBe(true)
      wave++
    }
    const seqs = [...prepares.keys()].map((k) => Number(k.split('/')[1])).filter((s) => s > 8)
    const target = Math.max(...seqs)
    expect(target).toBeLessThan(12) // still inside the window after the next stable checkpoint (8)
    expect(c.status('r3').appliedIndex).toBe(0) // it caught up nothing: no snapshot was stored
    await c.sim.runUntil(() => false, 50) // let the batch's sync complete
    c.node('r3').crash()
    await c.node('r3').start()
    await c.sim.runUntil(() => (c.status('r3').detail as { lowWatermark: number }).lowWatermark >= 8, 5_000)
    // r0 equivocates: a second, validly signed batch for a sequence number r3 already prepared in view 0.
    const forger = new Forger(c)
    const other = forger.bundle('r2', 1000, ['set evil 1'])
    forger.inject('r0', 'r3', forger.prePrepare('r0', 0, target, [other]))
    await c.sim.runUntil(() => false, 500)
    expect(c.status('r3').term).toBe(0)
    const sent = prepares.get(`0/${target}`)!
    expect([...sent].length, `r3 prepared ${sent.size} different batches for seq ${target} in view 0`).toBe(1)
  })
})
