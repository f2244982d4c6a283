import { decodeCanonical } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeMessage, Forger, isResult, TestCluster } from './helpers.js'

// No size limit here: the filter also sees (and measures) messages the receiving runtime will drop as oversized.
const kindOf = (bytes: Uint8Array): unknown => (decodeCanonical(bytes, Number.MAX_SAFE_INTEGER) as { k?: unknown }).k

// Issue 12 point 2 (TOCS'02 §4.4, §6): view changes at any batch size. VIEW-CHANGE and NEW-VIEW name
// batches by digest; a replica that misses a body fetches it from a peer and executes only with it.
describe('pbft view change with the whole log window full of large batches', () => {
  it('installs the new view (NEW-VIEW stays small) and executes every batch, fetching the bodies a backup never received', { timeout: 120_000 }, async () => {
    const window = 16
    const c = new TestCluster({
      n: 4,
      options: {
        checkpointInterval: window / 2,
        logWindow: window,
        maxInFlight: window,
        maxBatchBundles: 1,
        maxBundleRequests: 8,
        viewChangeTimeoutMs: 2_000,
        requestRetransmitMs: 500,
        stateTransferRetryMs: 300,
      },
      requestTimeoutMs: 60_000,
    })
    let blockCommits = true
    let newViewBytes = 0
    const bodiesTo = new Map<string, number>()
    for (const id of c.ids)
      c.sim.network.setOutboundFilter(id, (out) => {
        const kind = kindOf(out.message)
        if (kind === 'c' && blockCommits) return []
        if (kind === 'nv') newViewBytes = Math.max(newViewBytes, out.message.byteLength)
        if (kind === 'bb') bodiesTo.set(out.to, (bodiesTo.get(out.to) ?? 0) + 1)
        // r3 never receives the pre-prepares of seq 3 and 7: after the view change it must fetch those bodies.
        if (kind === 'pp' && id === 'r0' && out.to === 'r3') {
          const seq = (decodeMessage(out.message) as { seq: number }).seq
          if (seq === 3 || seq === 7) return []
        }
        return [out]
      })
    await c.start()
    // Fill the whole window (bundles of proxy r0, which crashes and never proposes again): one ≈600 KB batch (8 commands of 75 KB) per sequence number, all
    // prepared everywhere, none committed (commits are dropped).
    const forger = new Forger(c)
    const payload = 'x'.repeat(75_000)
    for (let ts = 1; ts <= window; ts++) {
      const bundle = forger.bundle('r0', ts, Array.from({ length: 8 }, (_, j) => `set k${ts}_${j} ${payload}${ts}`))
      forger.inject('r1', 'r0', forger.request(bundle))
    }
    await c.runUntil(() => false, 300)
    expect(c.status('r0').detail?.['nextSeq']).toBe(window + 1)
    // The primary crashes; requests through the others force a view change.
    c.node('r0').crash()
    blockCommits = false
    const answers = ['r1', 'r2', 'r3'].map((via) => c.propose(via, `set after ${via}`))
    const results = await c.settle(answers, 60_000)
    expect(results.every(isResult), String(results)).toBe(true)
    for (const id of ['r1', 'r2', 'r3']) {
      expect(c.status(id).term).toBeGreaterThanOrEqual(1)
      expect(c.committedCount(id)).toBe(window * 8 + 3)
      expect(c.status(id).detail?.['missingBatches']).toBe(0)
    }
    c.assertAgreement(['r1', 'r2', 'r3'])
    expect(bodiesTo.get('r3') ?? 0).toBeGreaterThanOrEqual(2)
    // Measured: 27.6 MB before (2f+1 VIEW-CHANGEs with every batch, over the runtime's 16 MiB limit), 13 KB after.
    expect(newViewBytes).toBeGreaterThan(0)
    expect(newViewBytes).toBeLessThan(64 * 1024)
  })
})
