// RaftNode.reportUnreachable (etcd's ReportUnreachable, and ReportSnapshot's
// failure case): the runtime tells the leader a link is broken, and the
// leader stops pipelining into it.
import type { NodeId } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const progressOf = (c: TestCluster, leader: NodeId, id: NodeId) =>
  (c.node(leader).status.detail!['progress'] as Record<string, { state: string; match: number }>)[id]!

/**
 * The link between the leader and one follower breaks for `breakMs` while the leader writes every
 * 2 ms; with `report`, every message the "transport" fails to deliver on that link is reported.
 */
function brokenLink(report: boolean, breakMs: number) {
  const c = new TestCluster(['a', 'b', 'c'], { seed: 5 })
  c.startAll()
  const leader = c.waitForLeader()
  const peer = ['a', 'b', 'c'].find((id) => id !== leader)!
  c.propose(leader, 'before')
  c.tick(20)
  expect(progressOf(c, leader, peer).state).toBe('replicate')
  let broken = true
  let appendsIntoBrokenLink = 0
  const failed: NodeId[] = []
  c.filter = (e) => {
    const across = (e.from === leader && e.to === peer) || (e.from === peer && e.to === leader)
    if (!broken || !across) return true
    if (e.from === leader && decode(e.bytes).type === MessageType.Append) appendsIntoBrokenLink++
    if (e.from === leader) failed.push(e.to)
    return false
  }
  const reportFailures = () => {
    if (!report) return
    const node = c.node(leader)
    for (const to of failed.splice(0)) node.batch(() => node.raft.reportUnreachable(to))
  }
  let n = 0
  for (let t = 0; t < breakMs; t += 2) {
    c.propose(leader, `v${n++}`)
    c.tick(2)
    reportFailures()
  }
  const stateWhileBroken = progressOf(c, leader, peer).state
  broken = false
  const healedAt = c.now
  c.runUntil(() => c.appliedCommands(peer).length === c.appliedCommands(leader).length, 1000)
  return { c, leader, peer, appendsIntoBrokenLink, stateWhileBroken, catchUpMs: c.now - healedAt, writes: n }
}

describe('reportUnreachable', () => {
  it('a follower reported unreachable goes back to probing: one append per heartbeat answer, not one per batch, into the broken link', () => {
    const reported = brokenLink(true, 200)
    expect(reported.stateWhileBroken).toBe('probe')
    expect(reported.appendsIntoBrokenLink).toBeLessThanOrEqual(3)
    expect(reported.catchUpMs).toBeLessThanOrEqual(60) // the next heartbeat answer restarts replication
    expect(reported.c.node(reported.leader).status.detail!['unreachableReports']).toBeGreaterThan(0)
    // Without reports the leader keeps pipelining into the broken link, one append per write.
    const unreported = brokenLink(false, 200)
    expect(unreported.stateWhileBroken).toBe('replicate')
    expect(unreported.appendsIntoBrokenLink).toBeGreaterThanOrEqual(unreported.writes - 1)
  })

  it('is ignored on a follower and for an unknown peer, and changes no term, vote or leader', () => {
    const c = new TestCluster(['a', 'b', 'c'], { seed: 5 })
    c.startAll()
    const leader = c.waitForLeader()
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const before = c.node(follower).status
    c.node(follower).batch(() => c.node(follower).raft.reportUnreachable(leader))
    c.node(leader).batch(() => c.node(leader).raft.reportUnreachable('nobody'))
    c.tick(100)
    expect(c.leaders()).toEqual([leader])
    expect(c.node(follower).status.term).toBe(before.term)
    expect(c.node(leader).status.detail!['unreachableReports']).toBe(0)
  })

  /** A chunked snapshot transfer whose link breaks for 30 ms (less than the 2 heartbeats of the stall check). */
  function snapshotLinkBreak(report: boolean) {
    const c = new TestCluster(['a', 'b', 'c'], {
      seed: 6,
      latencyMs: 1,
      raft: { snapshotThreshold: 10, snapshotCatchUpEntries: 0, snapshotChunkBytes: 32, maxInflightMessages: 4 },
    })
    c.startAll()
    const leader = c.waitForLeader()
    const slow = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.tick(20)
    c.isolate(slow)
    // Spread over more than an election timeout, so the leader stops holding compaction back for it.
    for (let i = 0; i < 80; i++) {
      c.propose(leader, `value-${i}`)
      c.tick(3)
    }
    expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(c.node(slow).storage.lastIndex() + 1)
    c.heal()
    c.runUntil(() => progressOf(c, leader, slow).state === 'snapshot', 200)
    c.tick(3) // a few chunks acknowledged
    // The link breaks: chunks and acknowledgements in flight are lost.
    let broken = true
    c.filter = (e) => !broken || !((e.from === leader && e.to === slow) || (e.from === slow && e.to === leader))
    if (report) c.node(leader).batch(() => c.node(leader).raft.reportUnreachable(slow))
    c.tick(30)
    broken = false
    const healedAt = c.now
    c.runUntil(() => c.node(slow).events.some((e) => e.type === 'custom' && e.name === 'snapshot-installed'), 1000)
    const installedAfterMs = c.now - healedAt
    c.tick(100)
    expect(c.appliedCommands(slow)).toEqual(c.appliedCommands(leader))
    return installedAfterMs
  }

  it('a snapshot transfer reported broken resends from the acknowledged chunk at the first heartbeat answer', () => {
    const reported = snapshotLinkBreak(true)
    const unreported = snapshotLinkBreak(false)
    expect(reported).toBeLessThan(unreported)
    expect(reported).toBeLessThanOrEqual(60) // within a heartbeat interval and the transfer itself
  })
})
