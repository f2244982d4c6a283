import { describe, expect, it } from 'vitest'
import type { PbftOptions } from '../src/index.js'
import { isResult, TestCluster } from './helpers.js'

// issue 20, found live by `synod-conformance --cluster --protocol pbft --nemesis partition --seed 11`
// (docs/conformance/cluster/pbft-partition-seed11-before): after a 2 | 2 split of 4 replicas, every replica
// had asked for view 1, each side holding 2 of the 3 VIEW-CHANGEs it needs; once healed, nobody sent
// theirs again until the backed-off re-broadcast (1, 2, 4, 8, 16 status ticks), so the cluster stayed
// without a view for up to 8 s after every heal — longer than the runner's quiet time between faults.
// The daemon's default timers (1 s view-change timeout, 500 ms status interval); virtual time.

/** Closed-loop clients through every replica (each retries after a timeout); the times of answered writes. */
function clients(c: TestCluster): { stop: () => void; answers: number[] } {
  const answers: number[] = []
  let running = true
  for (const via of c.ids) {
    void (async () => {
      for (let i = 0; running; i++) if (isResult(await c.propose(via, `set k${i % 3} ${via}-${i}`))) answers.push(c.sim.now())
    })()
  }
  return { stop: () => (running = false), answers }
}

async function splitAndHeal(options: Partial<PbftOptions>): Promise<{ recoveredAfter: number; views: string[] }> {
  const c = new TestCluster({ n: 4, requestTimeoutMs: 2000, options })
  await c.start()
  const load = clients(c)
  await c.runUntil(() => load.answers.length >= 8, 5_000)
  c.sim.network.partition([
    ['r0', 'r1'],
    ['r2', 'r3'],
  ])
  // 10 s: every replica times out on its proxy's request, asks for view 1, and its re-broadcasts back off.
  await c.sim.runFor(10_000)
  const views = c.ids.map((id) => `${c.status(id).term}/${c.status(id).role}`)
  c.sim.network.heal()
  const healedAt = c.sim.now()
  await c.runUntil(() => load.answers.some((t) => t > healedAt), 15_000)
  load.stop()
  c.assertAgreement()
  const first = load.answers.find((t) => t > healedAt)
  return { recoveredAfter: first === undefined ? Infinity : first - healedAt, views }
}

describe('pbft: a view change pending on both sides of a healed partition completes at once (issue 20)', () => {
  it('4 replicas, 2 | 2 for 10 s: writes are answered again within 2 s of the heal', async () => {
    const { recoveredAfter, views } = await splitAndHeal({})
    // The split really left every replica changing view, each side short of a quorum.
    expect(views).toEqual(['1/view-change', '1/view-change', '1/view-change', '1/view-change'])
    expect(recoveredAfter).toBeLessThan(2_000)
  }, 60_000)

  it('without sending the VIEW-CHANGE on a peer status (test-only switch) the same run stays stuck for seconds', async () => {
    const { recoveredAfter } = await splitAndHeal({ unsafeDisableDefences: ['view-change-on-status'] })
    expect(recoveredAfter).toBeGreaterThan(4_000)
  }, 60_000)
})
