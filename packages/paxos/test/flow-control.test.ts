// Per-acceptor flow control (src/flow-control.ts): an unreachable acceptor gets at most
// maxInflightAccepts Accept messages, however long the partition and the load; once it answers
// again it learns every chosen slot it missed and is back to pipelining.
import { afterEach, describe, expect, it } from 'vitest'
import { flowTesting } from '../src/index.js'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']
const WINDOW = 8

afterEach(() => {
  flowTesting.unbounded = false
})

const BULK: readonly number[] = [MessageType.Accept, MessageType.Learn, MessageType.Snapshot]

/** Accept, Learn and Snapshot messages from `from` to `to` recorded so far. */
function bulkSends(c: TestCluster, from: string, to: string): number {
  return c.sent.filter((e) => e.from === from && e.to === to && BULK.includes(decode(e.bytes).type)).length
}

function partitionRun(unbounded: boolean) {
  flowTesting.unbounded = unbounded
  const c = new TestCluster(ids, { latencyMs: 2, paxos: { maxInflightAccepts: WINDOW, snapshotEvery: 0 } })
  c.startAll()
  const leader = c.waitForLeader()
  c.tick(60)
  const slow = ids.find((id) => id !== leader)!
  c.isolate(slow)
  c.recordTraffic = true
  const expected: string[] = []
  const load = (n: number) => {
    for (let i = 0; i < n; i++) {
      const v = `v${expected.length}`
      c.propose(leader, v)
      expected.push(v)
      if (i % 4 === 3) c.tick(3)
    }
    c.tick(100)
  }
  load(200)
  const afterFirst = bulkSends(c, leader, slow)
  load(200)
  const afterSecond = bulkSends(c, leader, slow)
  return { c, leader, slow, expected, afterFirst, afterSecond }
}

describe('per-acceptor flow control', () => {
  it('a partitioned acceptor gets a bounded number of Accepts, then catches up and agrees', () => {
    const { c, leader, slow, expected, afterFirst, afterSecond } = partitionRun(false)
    expect(c.node(leader).status.commitIndex).toBe(400)
    expect(afterFirst).toBeLessThanOrEqual(WINDOW)
    expect(afterSecond).toBe(afterFirst) // no growth with the partition's length or the load
    expect(c.node(leader).status.detail!['acceptsHeld']).toBeGreaterThan(0)
    c.heal()
    c.tick(400)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(expected)
    // Back to pipelining: a new slot reaches it by Accept, and its window drains.
    c.sent.length = 0
    c.propose(leader, 'after')
    c.tick(50)
    expect(c.sent.some((e) => e.from === leader && e.to === slow && decode(e.bytes).type === MessageType.Accept)).toBe(true)
    expect(c.appliedCommands(slow).at(-1)).toBe('after')
    const progress = c.node(leader).status.detail!['progress'] as Record<string, { inflightAccepts: number }>
    expect(progress[slow]!.inflightAccepts).toBe(0)
  })

  it('without it (test switch) the sends to the partitioned acceptor grow with the partition', () => {
    const { c, slow, expected, afterFirst, afterSecond } = partitionRun(true)
    expect(afterFirst).toBeGreaterThan(WINDOW)
    expect(afterSecond).toBeGreaterThan(afterFirst + 50)
    c.heal()
    c.tick(400)
    expect(c.appliedCommands(slow)).toEqual(expected)
  })

  it('after truncation the returning acceptor catches up by snapshot', () => {
    const c = new TestCluster(ids, { latencyMs: 2, paxos: { maxInflightAccepts: WINDOW, snapshotEvery: 32, snapshotCatchUpSlots: 0 } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const slow = ids.find((id) => id !== leader)!
    c.isolate(slow)
    const expected: string[] = []
    for (let i = 0; i < 150; i++) {
      c.propose(leader, `s${i}`)
      expected.push(`s${i}`)
      if (i % 4 === 3) c.tick(3)
    }
    c.tick(100)
    expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(WINDOW * 4)
    c.heal()
    c.tick(400)
    expect(c.node(slow).status.detail!['snapshotsInstalled']).toBe(1)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(expected)
  })

  it('lost Accepts to the acceptor the quorum needs do not stall it: its window starts over', () => {
    // One acceptor is away; the other is the only one left for a quorum, and half of the Accepts to it are lost.
    const c = new TestCluster(ids, { latencyMs: 2, paxos: { maxInflightAccepts: 2, snapshotEvery: 0 } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const [away, needed] = ids.filter((id) => id !== leader) as [string, string]
    c.isolate(away)
    let n = 0
    c.filter = (e) => !(e.to === needed && decode(e.bytes).type === MessageType.Accept && n++ % 2 === 0)
    const expected: string[] = []
    for (let i = 0; i < 60; i++) {
      c.propose(leader, `l${i}`)
      expected.push(`l${i}`)
      if (i % 3 === 2) c.tick(3)
    }
    c.tick(1000)
    expect(c.node(leader).status.commitIndex).toBe(60)
    c.filter = undefined
    c.heal()
    c.tick(300)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(expected)
  })
})
