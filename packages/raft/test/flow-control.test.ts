// Leader flow control details (etcd-io/raft's Progress): messages the leader
// sends only when they do something.
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

describe('flow control: heartbeat answers while entries are in flight', () => {
  // 5 ms one-way latency and a write every millisecond: at every heartbeat answer the leader
  // has sent its whole log and the last few appends are still unacknowledged.
  function emptyAppendsUnderSteadyWrites(): { empty: number; appends: number; caughtUp: boolean } {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 3, latencyMs: 5 })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(50)
    let empty = 0
    let appends = 0
    let n = 0
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type !== MessageType.Append || e.from !== leader) return true
      if (m.entries.length === 0) empty++
      else appends++
      return true
    }
    for (let t = 0; t < 500; t++) {
      c.propose(leader, `v${n++}`)
      c.tick(1)
    }
    c.filter = undefined
    c.tick(300)
    const caughtUp = [...c.nodes.keys()].every((id) => c.appliedCommands(id).length === c.appliedCommands(leader).length)
    return { empty, appends, caughtUp }
  }

  it('sends no empty append on a heartbeat answer while appends are being acknowledged', () => {
    const { empty, appends, caughtUp } = emptyAppendsUnderSteadyWrites()
    expect(appends).toBeGreaterThan(900) // ~500 writes to each of 2 followers
    // 500 ms at a 50 ms heartbeat is 20 heartbeat answers per follower: one empty append each before the fix.
    expect(empty).toBe(0)
    expect(caughtUp).toBe(true)
  })

  it('still repairs a lost last append through the stall check (empty append, reject, probe)', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 3, latencyMs: 5 })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(50)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    for (let i = 0; i < 5; i++) {
      c.propose(leader, `v${i}`)
      c.tick(1)
    }
    c.tick(100) // settled: every follower on plain replication with nothing in flight
    // The append of the last write to `follower` is lost and nothing is written after it.
    let dropped = 0
    let empty = 0
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (e.from !== leader || m.type !== MessageType.Append) return true
      if (m.entries.length === 0) empty++
      else if (dropped === 0 && e.to === follower) {
        dropped++
        return false
      }
      return true
    }
    c.propose(leader, 'last')
    c.tick(200)
    expect(dropped).toBe(1)
    expect(empty).toBeGreaterThan(0)
    expect(c.appliedCommands(follower).at(-1)).toBe('last')
  })
})
