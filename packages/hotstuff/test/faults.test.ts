import { describe, expect, it } from 'vitest'
import { isResult, TestCluster } from './helpers.js'

// Simulator tests budget in virtual time; the wall-clock timeout is generous for a busy machine.
const T = 60_000

describe('pacemaker: leader failures and partitions (timeouts, TCs, view synchronization)', () => {
  it('n = 4: a crashed replica (leader every 4th view) costs a timeout per turn, never safety', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    await c.settle([c.propose('r1', 'set a 1')])
    c.node('r2').crash()
    const answers = await c.settle(Array.from({ length: 20 }, (_, i) => c.propose(i % 2 === 0 ? 'r0' : 'r3', `set k${i} v`)), 20_000)
    expect(answers.every(isResult)).toBe(true)
    expect(c.status('r0').detail!['lastTCView'] as number).toBeGreaterThan(0)
    c.assertAgreement()
  }, T)

  it('n = 7: two crashed replicas with adjacent leader turns (f = 2) do not stop progress', async () => {
    const c = new TestCluster({ n: 7 })
    await c.start()
    c.node('r1').crash()
    c.node('r2').crash()
    const answers = await c.settle(Array.from({ length: 20 }, (_, i) => c.propose(`r${3 + (i % 4)}`, `set k${i} v`)), 30_000)
    expect(answers.every(isResult)).toBe(true)
    c.assertAgreement()
  }, T)

  it('a partition without a quorum stops commits; after the heal views synchronize and everything commits', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    await c.settle([c.propose('r0', 'set a 1')])
    c.sim.network.partition([
      ['r0', 'r1'],
      ['r2', 'r3'],
    ])
    const pending = [c.propose('r0', 'set b 1'), c.propose('r2', 'set c 1')]
    await c.runFor(3000)
    const during = c.ids.map((id) => c.status(id).commitIndex)
    expect(Math.max(...during)).toBe(1)
    c.sim.network.heal()
    const answers = await c.settle(pending, 20_000)
    expect(answers.every(isResult)).toBe(true)
    c.assertAgreement()
  }, T)

  it('a minority partitioned away catches up by fetching blocks after the heal', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    c.sim.network.isolate('r3')
    const answers = await c.settle(Array.from({ length: 40 }, (_, i) => c.propose(`r${i % 3}`, `set k${i} v`)), 20_000)
    expect(answers.every(isResult)).toBe(true)
    expect(c.status('r3').commitIndex).toBe(0)
    c.sim.network.heal()
    await c.settle([c.propose('r0', 'set last 1')], 20_000)
    await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 10_000)
    expect(c.status('r3').commitIndex).toBe(c.status('r0').commitIndex)
    c.assertAgreement()
  }, T)

  it('a replica behind the retained history installs a snapshot vouched for by f+1 replicas', async () => {
    const c = new TestCluster({ n: 4, options: { snapshotInterval: 4, retainCommittedBlocks: 4, maxBlockCommands: 2 } })
    await c.start()
    c.sim.network.isolate('r3')
    for (let round = 0; round < 10; round++) await c.settle(Array.from({ length: 6 }, (_, i) => c.propose(`r${i % 3}`, `set k${i} ${round}`)), 20_000)
    c.sim.network.heal()
    await c.settle([c.propose('r0', 'set last 1')], 20_000)
    await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 20_000)
    expect(c.status('r3').commitIndex, JSON.stringify(c.status('r3').detail)).toBe(c.status('r0').commitIndex)
    expect(c.status('r3').counters['snapshots.installed']).toBeGreaterThan(0)
    c.assertAgreement()
  }, T)
})
