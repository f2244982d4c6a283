// Linearizable reads, dissertation §6.4 (ReadIndex) and §6.4.1 (leases).
import { NotLeaderError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

describe('§6.4 ReadIndex', () => {
  it('a leader serves a read after a quorum confirms its leadership and it has applied the read index', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const w = c.propose(leader, 'w')
    c.deliver()
    let heartbeats = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.Heartbeat) heartbeats++
      return true
    }
    const r = c.read(leader)
    c.deliver()
    expect(c.outcomes.get(w)?.kind).toBe('committed')
    // The read reflects the write that completed before it started.
    const index = (c.outcomes.get(w) as { index: number }).index
    expect(c.outcomes.get(r)).toEqual({ kind: 'read', applied: index })
    expect(heartbeats).toBe(2) // one confirmation round
  })

  it('reads of one batch share a single heartbeat round', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    let heartbeats = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.Heartbeat) heartbeats++
      return true
    }
    const node = c.node(leader)
    node.batch(() => {
      for (let i = 0; i < 20; i++) node.raft.read(new Uint8Array(0), { id: 5000 + i })
    })
    c.deliver()
    expect(heartbeats).toBe(2)
    for (let i = 0; i < 20; i++) expect(c.outcomes.get(5000 + i)?.kind).toBe('read')
  })

  it('one read round in flight: reads that arrive in separate batches meanwhile share the next round', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    let heartbeats = 0
    // Hold every heartbeat answer until released: the first round stays in flight.
    let holding = true
    const held: Parameters<NonNullable<typeof c.filter>>[0][] = []
    c.filter = (e) => {
      const type = decode(e.bytes).type
      if (type === MessageType.Heartbeat) heartbeats++
      if (holding && type === MessageType.HeartbeatResponse) {
        held.push(e)
        return false
      }
      return true
    }
    const node = c.node(leader)
    // 30 reads, each in a batch of its own (as a daemon's HTTP requests arrive).
    for (let i = 0; i < 30; i++) {
      node.batch(() => node.raft.read(new Uint8Array(0), { id: 6000 + i }))
      c.deliver()
    }
    expect(heartbeats).toBe(2) // the first read's round only; the other 29 wait for it
    for (let i = 0; i < 30; i++) expect(c.outcomes.has(6000 + i)).toBe(false)
    holding = false
    c.enqueue(held)
    c.deliver()
    // The first round confirmed the first read; the next round, sent then, confirmed the other 29.
    expect(heartbeats).toBe(4)
    for (let i = 0; i < 30; i++) expect(c.outcomes.get(6000 + i)?.kind).toBe('read')
  })

  it('a new leader serves no read before it has committed an entry of its own term', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    // Hide every acknowledgement so the new leader cannot commit its no-op.
    c.filter = (e) => decode(e.bytes).type !== MessageType.AppendResponse
    c.startAll()
    const leader = c.waitForLeader()
    const r = c.read(leader)
    c.tick(100)
    expect(c.outcomes.has(r)).toBe(false)
    c.filter = undefined
    c.tick(100)
    expect(c.outcomes.get(r)?.kind).toBe('read')
  })

  it('an isolated leader cannot serve reads and fails them when it steps down', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(20)
    c.isolate(leader)
    const r = c.read(leader)
    c.tick(50)
    expect(c.outcomes.has(r)).toBe(false)
    c.tick(400)
    const outcome = c.outcomes.get(r)
    expect(outcome?.kind).toBe('rejected')
    expect((outcome as { error: unknown }).error).toBeInstanceOf(NotLeaderError)
  })

  it('with followerReads off, followers refuse reads with NotLeaderError naming the leader', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { followerReads: false } })
    c.startAll()
    const leader = c.waitForLeader()
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const outcome = c.outcomes.get(c.read(follower)) as { kind: string; error: NotLeaderError }
    expect(outcome.kind).toBe('rejected')
    expect(outcome.error.leaderHint).toBe(leader)
  })

  it('lease reads need no heartbeat round (and require CheckQuorum)', () => {
    expect(() => new TestCluster(['a'], { raft: { readMode: 'lease', checkQuorum: false } }).startAll()).toThrow(/checkQuorum/)
    const c = new TestCluster(['a', 'b', 'c'], { raft: { readMode: 'lease' } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    let sent = 0
    c.filter = () => {
      sent++
      return true
    }
    const r = c.read(leader)
    expect(c.outcomes.get(r)?.kind).toBe('read')
    expect(sent).toBe(0)
  })
})
