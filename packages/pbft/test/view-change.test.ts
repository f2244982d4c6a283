import { describe, expect, it } from 'vitest'
import { isResult, TestCluster } from './helpers.js'

const leaderEvents = (c: TestCluster) =>
  c.events.filter((e) => e.event.type === 'leader').map((e) => ({ node: e.node, term: (e.event as { term: number }).term }))

// TOCS'02 §4.4–4.5: view changes.
describe('pbft view change (§4.4)', () => {
  it('primary crash: the backups change view, r1 leads view 1, and requests proposed anywhere commit', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    expect((await c.settle([c.propose('r1', 'set a 1')])).every(isResult)).toBe(true)
    c.node('r0').crash()
    const answers = ['r1', 'r2', 'r3'].map((via, i) => c.propose(via, `set b ${i}`))
    const results = await c.settle(answers, 10_000)
    expect(results.every(isResult), String(results)).toBe(true)
    expect(leaderEvents(c)).toContainEqual({ node: 'r1', term: 1 })
    for (const id of ['r1', 'r2', 'r3']) expect(c.status(id).term).toBe(1)
    c.assertAgreement()
  })

  it('silent primary (alive but says nothing): view change and progress', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    c.sim.network.setOutboundFilter('r0', () => [])
    const results = await c.settle(['r1', 'r2', 'r3'].map((via) => c.propose(via, `set x ${via}`)), 10_000)
    expect(results.every(isResult)).toBe(true)
    c.assertAgreement(['r1', 'r2', 'r3'])
    expect(c.status('r1').role).toBe('primary')
  })

  it('two successive primaries fail: timeouts double and view 2 is installed', async () => {
    const c = new TestCluster({ n: 7, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100 } })
    await c.start()
    c.node('r0').crash()
    c.node('r1').crash()
    const results = await c.settle(['r2', 'r3', 'r4'].map((via) => c.propose(via, `set y ${via}`)), 20_000)
    expect(results.every(isResult)).toBe(true)
    expect(leaderEvents(c)).toContainEqual({ node: 'r2', term: 2 })
    c.assertAgreement()
  })

  it('keeps committed requests across a view change and continues the sequence after them', async () => {
    const c = new TestCluster({ n: 4, options: { viewChangeTimeoutMs: 300, requestRetransmitMs: 100, checkpointInterval: 4, logWindow: 8 } })
    await c.start()
    for (let i = 0; i < 5; i++) await c.settle(c.ids.map((via) => c.propose(via, `set k${via} ${i}`)))
    c.node('r0').crash()
    const after = await c.settle(['r1', 'r2', 'r3'].map((via) => c.propose(via, `set z ${via}`)), 10_000)
    expect(after.every(isResult)).toBe(true)
    for (const id of ['r1', 'r2', 'r3']) expect(c.committedCount(id)).toBe(23)
    c.assertAgreement()
  })
})
