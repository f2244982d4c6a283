// The trailing log after truncation (src/trailing-log.ts, Raft's snapshotCatchUpEntries): a replica
// a little behind the leader's truncation point learns the slots it missed instead of receiving the
// snapshot; one behind the window still gets the snapshot; the window is bounded and lost on restart.
import { describe, expect, it } from 'vitest'
import { forceCampaign, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']
const detail = (c: TestCluster, id: string, key: string) => c.node(id).status.detail![key] as number

/** 40 slots everywhere, then `slow` misses 80 more (cut off, or crashed) while the others truncate every 16. */
function behindTruncation(snapshotCatchUpSlots: number, how: 'isolate' | 'crash') {
  const c = new TestCluster(ids, { latencyMs: 2, paxos: { snapshotEvery: 16, snapshotCatchUpSlots } })
  c.startAll()
  const leader = c.waitForLeader()
  c.tick(60)
  const slow = ids.find((id) => id !== leader)!
  const expected: string[] = []
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      c.propose(leader, `v${i}`)
      expected.push(`v${i}`)
      if (i % 8 === 7) c.tick(3)
    }
    c.tick(100)
  }
  write(0, 40)
  expect(c.node(slow).status.commitIndex).toBe(40)
  if (how === 'isolate') c.isolate(slow)
  else c.node(slow).crash()
  write(40, 120)
  // The leader's log starts after its last snapshot (112): slot 41, which the slow replica needs next, is truncated.
  expect(c.node(leader).storage.snapshot()!.index).toBe(112)
  expect(c.node(leader).storage.firstIndex()).toBe(113)
  if (how === 'isolate') c.heal()
  else c.node(slow).start()
  c.tick(400)
  return { c, leader, slow, expected }
}

describe('trailing log after truncation', () => {
  it('a replica cut off within the window catches up from it with no snapshot; without the window it takes one', () => {
    const { c, leader, slow, expected } = behindTruncation(100, 'isolate')
    expect(c.appliedCommands(slow)).toEqual(expected)
    expect(detail(c, leader, 'snapshotsSent')).toBe(0)
    expect(detail(c, slow, 'snapshotsInstalled')).toBe(0)
    expect(detail(c, leader, 'trailingLearns')).toBeGreaterThan(0)
    expect(detail(c, leader, 'catchUpFirstIndex')).toBe(13) // 100 slots up to 112

    // The control: with no trailing log the same replica needs the snapshot.
    const off = behindTruncation(0, 'isolate')
    expect(off.c.appliedCommands(off.slow)).toEqual(off.expected)
    expect(detail(off.c, off.leader, 'snapshotsSent')).toBe(1)
    expect(detail(off.c, off.slow, 'snapshotsInstalled')).toBe(1)
  })

  it('a replica behind the window gets the snapshot, then the slots after it', () => {
    const { c, leader, slow, expected } = behindTruncation(20, 'isolate')
    expect(detail(c, leader, 'catchUpFirstIndex')).toBe(93)
    expect(detail(c, leader, 'snapshotsSent')).toBe(1)
    expect(detail(c, slow, 'snapshotsInstalled')).toBe(1)
    expect(c.appliedCommands(slow)).toEqual(expected)
    c.propose(leader, 'after')
    c.tick(100)
    expect(c.appliedCommands(slow).at(-1)).toBe('after')
  })

  it('a replica restarted after the others truncated catches up from the window with no snapshot', () => {
    const { c, leader, slow, expected } = behindTruncation(100, 'crash')
    expect(c.appliedCommands(slow)).toEqual(expected)
    expect(detail(c, leader, 'snapshotsSent')).toBe(0)
    expect(detail(c, slow, 'snapshotsInstalled')).toBe(0)
  })

  it('the window is lost on a restart: the restarted leader-side replica sends the snapshot instead, and all agree', () => {
    const c = new TestCluster(ids, { latencyMs: 2, paxos: { snapshotEvery: 16, snapshotCatchUpSlots: 100, checkQuorum: false } })
    c.startAll()
    c.runUntil(() => c.leaders().length === 1 && c.leaders()[0] !== 'a', 3000)
    c.tick(60)
    const leader = c.leaders()[0]!
    for (let i = 0; i < 40; i++) c.propose(leader, `w${i}`)
    c.tick(100)
    c.isolate('a')
    for (let i = 40; i < 120; i++) c.propose(leader, `w${i}`)
    c.tick(100)
    // Every node that truncated restarts: their windows are gone, their snapshots and logs remain.
    for (const id of ids.filter((x) => x !== 'a')) {
      c.node(id).crash()
      c.node(id).start()
      expect(detail(c, id, 'catchUpFirstIndex')).toBe(c.node(id).storage.firstIndex())
    }
    c.heal()
    c.runUntil(() => c.leaders().length === 1, 3000)
    c.tick(400)
    const expected = Array.from({ length: 120 }, (_, i) => `w${i}`)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(expected)
    expect(ids.reduce((n, id) => n + detail(c, id, 'snapshotsInstalled'), 0)).toBeGreaterThan(0)
  })

  it('a candidate behind a truncated promiser, within its window, fetches the slots instead of a snapshot', () => {
    // As catch-up.test.ts's snapshot case: a is away while b and c decide 30 slots (both truncate at 24).
    const c = new TestCluster(ids, { paxos: { snapshotEvery: 8, snapshotCatchUpSlots: 64, checkQuorum: false } })
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
    c.runUntil(() => c.leaders().length === 1, 3000)
    c.tick(300)
    const expected = Array.from({ length: 30 }, (_, i) => `k${i}`)
    for (const id of ['a', other]) expect(c.appliedCommands(id)).toEqual(expected)
    expect(detail(c, 'a', 'snapshotsInstalled')).toBe(0)
    expect(detail(c, other, 'trailingLearns')).toBeGreaterThan(0)
  })

  it('the window is bounded in slots and in bytes', () => {
    const value = 'x'.repeat(200)
    for (const [slots, bytes, most] of [
      [50, 0, 50],
      [5000, 2000, 10],
    ] as const) {
      const c = new TestCluster(ids, { paxos: { snapshotEvery: 20, snapshotCatchUpSlots: slots, snapshotCatchUpBytes: bytes } })
      c.startAll()
      const leader = c.waitForLeader()
      for (let i = 0; i < 500; i++) {
        c.propose(leader, `${value}${i}`)
        if (i % 10 === 9) c.tick(2)
      }
      c.tick(200)
      for (const id of ids) {
        const held = c.node(id).storage.firstIndex() - detail(c, id, 'catchUpFirstIndex')
        expect(held).toBeGreaterThan(0)
        expect(held).toBeLessThanOrEqual(most)
      }
    }
  })
})
