// Learning and catch-up: a lagging replica fetches the chosen slots it
// missed (Learn), or the leader's snapshot when the log was truncated past
// it; the log is truncated after each snapshot.
import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']

function lagging(snapshotEvery: number) {
  const c = new TestCluster(ids, { latencyMs: 2, paxos: { snapshotEvery } })
  c.startAll()
  const leader = c.waitForLeader()
  c.tick(60)
  const slow = ids.find((id) => id !== leader)!
  c.isolate(slow)
  const expected: string[] = []
  for (let i = 0; i < 120; i++) {
    c.propose(leader, `v${i}`)
    expected.push(`v${i}`)
    if (i % 8 === 7) c.tick(3)
  }
  c.tick(100)
  expect(c.node(leader).status.commitIndex).toBe(120)
  expect(c.node(slow).status.commitIndex).toBe(0)
  return { c, leader, slow, expected }
}

describe('catch-up', () => {
  it('a replica that missed slots learns them from the leader (no truncation)', () => {
    const { c, leader, slow, expected } = lagging(0)
    c.heal()
    c.tick(300)
    expect(c.appliedCommands(slow)).toEqual(expected)
    expect(c.node(leader).status.detail!['learnsSent']).toBeGreaterThan(0)
    expect(c.node(slow).status.detail!['snapshotsInstalled']).toBe(0)
  })

  it('after truncation it gets the snapshot, then the slots after it, and executes the same commands', () => {
    const { c, leader, slow, expected } = lagging(16)
    // The leader truncated its log past everything the slow replica has.
    expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(100)
    expect(c.node(leader).storage.snapshot()!.index).toBe(112)
    c.heal()
    c.tick(300)
    expect(c.node(slow).status.detail!['snapshotsInstalled']).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(expected)
    expect(c.node(slow).status.commitIndex).toBe(120)
    // And it keeps up with new slots afterwards.
    c.propose(leader, 'after')
    c.tick(100)
    expect(c.appliedCommands(slow).at(-1)).toBe('after')
  })

  it('truncation bounds the log: once settled every replica keeps fewer than snapshotEvery entries', () => {
    const c = new TestCluster(ids, { paxos: { snapshotEvery: 20 } })
    c.startAll()
    const leader = c.waitForLeader()
    for (let i = 0; i < 500; i++) {
      c.propose(leader, `x${i}`)
      if (i % 10 === 9) c.tick(2)
    }
    c.tick(200)
    for (const id of ids) {
      const s = c.node(id).storage
      expect(c.node(id).appliedIndex).toBe(500)
      expect(s.lastIndex() - s.firstIndex() + 1).toBeLessThan(20)
    }
  })

  it('a restarted replica recovers from its snapshot and its log, and catches up on what it missed', () => {
    const c = new TestCluster(ids, { paxos: { snapshotEvery: 10 } })
    c.startAll()
    const leader = c.waitForLeader()
    for (let i = 0; i < 25; i++) c.propose(leader, `r${i}`)
    c.tick(100)
    const other = ids.find((id) => id !== leader)!
    c.node(other).crash()
    for (let i = 25; i < 40; i++) c.propose(leader, `r${i}`)
    c.tick(50)
    c.node(other).start()
    expect(c.node(other).status.commitIndex).toBe(25) // snapshot at 20 + log 21..25
    c.tick(200)
    expect(c.appliedCommands(other)).toEqual(Array.from({ length: 40 }, (_, i) => `r${i}`))
  })

  it('after the leader crashes, a replica that was away and one that is up to date converge on every decided slot', () => {
    // b and c decide 30 slots while a is away; then the others crash and a must lead with one of them.
    const c = new TestCluster(ids, { paxos: { snapshotEvery: 8 } })
    c.startAll()
    c.waitForLeader()
    c.tick(60)
    c.isolate('a')
    c.runUntil(() => c.leaders().some((id) => id !== 'a'), 2000)
    const leader = c.leaders().find((id) => id !== 'a')!
    for (let i = 0; i < 30; i++) c.propose(leader, `k${i}`)
    c.tick(100)
    const other = ids.find((id) => id !== 'a' && id !== leader)!
    c.node(leader).crash()
    c.heal()
    c.runUntil(() => c.leaders().length === 1, 3000)
    c.tick(300)
    for (const id of ['a', other]) expect(c.appliedCommands(id)).toEqual(Array.from({ length: 30 }, (_, i) => `k${i}`))
  })
})
