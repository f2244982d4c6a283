// Learning and catch-up: a lagging replica fetches the chosen slots it
// missed (Learn), or the leader's snapshot when the log was truncated past
// it; the log is truncated after each snapshot.
import { describe, expect, it } from 'vitest'
import { forceCampaign, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']

function lagging(snapshotEvery: number, snapshotCatchUpSlots = 0) {
  // No trailing log unless asked: these tests are about the snapshot path (trailing-log.test.ts for the window).
  const c = new TestCluster(ids, { latencyMs: 2, paxos: { snapshotEvery, snapshotCatchUpSlots } })
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

  it('a candidate behind a truncated promiser fetches its snapshot instead of filling chosen slots with no-ops', () => {
    // a is away while b and c decide 30 slots (c truncates at 24); then b crashes and a campaigns at once.
    const c = new TestCluster(ids, { paxos: { snapshotEvery: 8, snapshotCatchUpSlots: 0, checkQuorum: false } })
    c.startAll()
    c.runUntil(() => c.leaders().length === 1 && c.leaders()[0] !== 'a', 3000)
    c.tick(60)
    c.isolate('a')
    const leader = c.leaders()[0]!
    const other = ids.find((id) => id !== 'a' && id !== leader)!
    for (let i = 0; i < 30; i++) c.propose(leader, `k${i}`)
    c.tick(100)
    expect(c.node(other).storage.firstIndex()).toBeGreaterThan(1)
    c.node(leader).crash()
    c.heal()
    forceCampaign(c, 'a')
    c.deliver()
    // c's promise said "behind": a fetched and installed c's snapshot before counting it.
    expect(c.node('a').status.detail!['snapshotsInstalled']).toBe(1)
    expect(c.node('a').status.role).toBe('candidate')
    c.runUntil(() => c.leaders().length === 1, 3000)
    c.tick(300)
    const expected = Array.from({ length: 30 }, (_, i) => `k${i}`)
    for (const id of ['a', other]) expect(c.appliedCommands(id)).toEqual(expected)
  })
})
