// The README's "HotStuff next to PBFT" figures: messages per decision (one
// block) under steady closed-loop load, counted by kind on the simulator with
// every link delaying each message by the same D, and the latency of one
// command in an idle cluster in units of D.
import { decodeCanonical } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { isResult, TestCluster } from './helpers.js'

const T = 60_000
const D = 10

function cluster(n: number): TestCluster {
  // Timeouts far above the link delay: no view ends for lack of time, nothing is retransmitted.
  return new TestCluster({ n, faults: { delay: { kind: 'uniform', minMs: D, maxMs: D } }, options: { viewTimeoutMs: 2000, retransmitMs: 2000 } })
}

const height = (c: TestCluster) => c.status('r0').detail!['committedHeight'] as number

async function messagesPerDecision(n: number): Promise<Record<string, number>> {
  const c = cluster(n)
  await c.start()
  let running = true
  for (const id of c.ids)
    for (let k = 0; k < 2; k++)
      void (async () => {
        for (let i = 0; running; i++) await c.propose(id, `set ${id}-${k} ${i}`)
      })()
  await c.runFor(500)
  const kinds: Record<string, number> = {}
  for (const id of c.ids)
    c.sim.network.setOutboundFilter(id, (out) => {
      const kind = String((decodeCanonical(out.message) as Record<string, unknown>)['k'])
      kinds[kind] = (kinds[kind] ?? 0) + 1
      return [out]
    })
  const before = height(c)
  await c.runFor(1500)
  running = false
  const decisions = height(c) - before
  expect(decisions).toBeGreaterThan(50)
  c.assertAgreement()
  const per: Record<string, number> = {}
  for (const [kind, count] of Object.entries(kinds)) per[kind] = count / decisions
  per['total'] = Object.values(kinds).reduce((a, b) => a + b, 0) / decisions
  return per
}

describe('message complexity and latency (README figures)', () => {
  for (const n of [4, 7]) {
    it(`n = ${n}: one proposal to n−1 replicas and each replica's vote to the next f+1 leaders per block`, async () => {
      const f = Math.floor((n - 1) / 3)
      const per = await messagesPerDecision(n)
      console.log(`hotstuff n = ${n}, messages per decision:`, Object.fromEntries(Object.entries(per).map(([k, v]) => [k, v.toFixed(2)])))
      expect(per['p']).toBeCloseTo(n - 1, 0)
      // Every replica votes once per view; f+1 collectors, one of which may be the voter itself.
      expect(per['v']).toBeCloseTo((f + 1) * (n - 1), 0)
      // Reply signatures are broadcast by every replica, once per block that carries commands: at most n(n−1).
      expect(per['r']!).toBeLessThanOrEqual(n * (n - 1) + 0.01)
    }, T)
  }

  it('n = 4: an idle cluster answers a command in 7–8 message delays (3 views of proposal and vote, plus dissemination and reply)', async () => {
    const c = cluster(4)
    await c.start()
    const delays: number[] = []
    for (const via of ['r1', 'r2']) {
      for (let i = 0; i < 3; i++) {
        const start = c.sim.now()
        const [answer] = await c.settle([c.propose(via, `set lat${i} ${i}`)], 20_000)
        expect(isResult(answer!)).toBe(true)
        delays.push((c.sim.now() - start) / D)
        await c.runFor(200)
      }
    }
    console.log('hotstuff n = 4, latency in message delays:', delays)
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(6)
      expect(d).toBeLessThanOrEqual(9)
    }
  }, T)
})
