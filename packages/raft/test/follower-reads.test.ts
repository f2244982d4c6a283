// Follower reads: ReadIndex on a follower through the leader (dissertation §6.4;
// etcd's MsgReadIndex / MsgReadIndexResp). Each defence is also switched off
// (test-only switches in src/follower-reads.ts) to show the stale read it prevents.
import { NotLeaderError, type NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { followerReadTesting } from '../src/follower-reads.js'
import type { RaftOptions } from '../src/index.js'
import { decode, encodeMessage, MessageType, TestCluster, type Outcome } from './helpers/cluster.js'

afterEach(() => {
  followerReadTesting.skipLeaderConfirmation = false
  followerReadTesting.serveAtOwnCommit = false
})

const FIVE = ['a', 'b', 'c', 'd', 'e']
/** Measured: seeds of 10 in which the naive follower read (no quorum round) served the old leader's state under CheckQuorum. */
const STALE_SEEDS_WITH_CHECK_QUORUM = 10

function committedIndex(c: TestCluster, ref: number): number {
  const outcome = c.outcomes.get(ref)
  if (outcome?.kind !== 'committed') throw new Error(`write ${ref} not committed: ${JSON.stringify(outcome)}`)
  return outcome.index
}

/** Propose at the current leader until committed; returns its index (acknowledged to the client). */
function write(c: TestCluster, leader: NodeId, command: string, budgetMs = 1000): number {
  const ref = c.propose(leader, command)
  c.runUntil(() => c.outcomes.has(ref), budgetMs)
  return committedIndex(c, ref)
}

/** A refusal whose one-byte hint is 0xff. */
function notUtf8Hint(term: number): Uint8Array {
  const bytes = encodeMessage({ type: MessageType.ReadIndexResponse, term, nonce: 1, counter: 1, reject: true, index: 0, leader: 'a' })
  bytes[bytes.length - 1] = 0xff
  return bytes
}

function followerOf(c: TestCluster, leader: NodeId): NodeId {
  return [...c.nodes.keys()].find((id) => id !== leader)!
}

describe('follower reads (§6.4, MsgReadIndex)', () => {
  it('a follower serves a linearizable read reflecting every write acknowledged before it, one request per batch', () => {
    const c = new TestCluster(['a', 'b', 'c'], { latencyMs: 2 })
    c.startAll()
    const leader = c.waitForLeader()
    const follower = followerOf(c, leader)
    for (let i = 0; i < 5; i++) {
      const acknowledged = write(c, leader, `w${i}`)
      // Acknowledged at the leader; the follower may not even have heard the commit yet.
      let requests = 0
      c.filter = (e) => {
        if (decode(e.bytes).type === MessageType.ReadIndex) requests++
        return true
      }
      const node = c.node(follower)
      const refs = [0, 1, 2].map((k) => 9000 + i * 10 + k)
      node.batch(() => {
        for (const id of refs) node.raft.read(new Uint8Array(0), { id })
      })
      c.runUntil(() => refs.every((r) => c.outcomes.has(r)), 500)
      c.filter = undefined
      for (const r of refs) {
        const outcome = c.outcomes.get(r) as Outcome
        expect(outcome.kind).toBe('read')
        expect((outcome as { applied: number }).applied).toBeGreaterThanOrEqual(acknowledged)
      }
      expect(requests).toBe(1)
    }
    const stats = (c.node(follower).status.detail as { followerReads: { requests: number; served: number } }).followerReads
    expect(stats).toMatchObject({ requests: 5, served: 15 })
    expect((c.node(leader).status.detail as { followerReads: { answered: number } }).followerReads.answered).toBe(5)
  })

  it('the leader confirms follower reads with one quorum round shared with its own reads of the batch', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const [f1, f2] = ['a', 'b', 'c'].filter((id) => id !== leader) as [NodeId, NodeId]
    c.tick(10)
    // Hold both followers' requests, then hand them to the leader in one batch with a read of its own.
    const held: Array<{ from: NodeId; bytes: Uint8Array }> = []
    c.filter = (e) => {
      if (decode(e.bytes).type !== MessageType.ReadIndex) return true
      held.push(e)
      return false
    }
    c.node(f1).batch(() => c.node(f1).raft.read(new Uint8Array(0), { id: 7001 }))
    c.node(f2).batch(() => c.node(f2).raft.read(new Uint8Array(0), { id: 7002 }))
    c.deliver()
    expect(held.length).toBe(2)
    let heartbeats = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.Heartbeat) heartbeats++
      return true
    }
    const node = c.node(leader)
    node.batch(() => {
      for (const e of held) node.raft.receive(e.from, e.bytes)
      node.raft.read(new Uint8Array(0), { id: 7003 })
    })
    c.deliver()
    expect(heartbeats).toBe(2) // one round: one heartbeat per follower
    for (const id of [7001, 7002, 7003]) expect(c.outcomes.get(id)?.kind).toBe('read')
  })

  it('a follower cut off from every other node never answers a linearizable read while the majority elects a new leader and commits', () => {
    for (const naive of [false, true]) {
      followerReadTesting.serveAtOwnCommit = naive
      const c = new TestCluster(FIVE, { seed: 3 })
      c.startAll()
      const leader = c.waitForLeader()
      write(c, leader, 'before')
      const cutOff = followerOf(c, leader)
      c.isolate(cutOff)
      // The majority side moves on: a new leader (by transfer) and new acknowledged writes.
      const next = FIVE.find((id) => id !== leader && id !== cutOff)!
      c.transfer(leader, next)
      c.runUntil(() => c.node(next).status.role === 'leader', 1000)
      const acknowledged = write(c, next, 'after')
      const reads: number[] = []
      for (let t = 0; t < 1000; t += 10) {
        reads.push(c.read(cutOff))
        c.tick(10)
      }
      c.tick(400)
      const served = reads.map((r) => c.outcomes.get(r)).filter((o): o is Outcome & { kind: 'read' } => o?.kind === 'read')
      const stale = served.filter((o) => o.applied < acknowledged)
      if (naive) {
        // Served at the follower's own commit index: stale.
        expect(stale.length).toBeGreaterThan(0)
        continue
      }
      expect(served).toEqual([])
      for (const r of reads) {
        const outcome = c.outcomes.get(r)
        expect(outcome?.kind).toBe('rejected')
        expect((outcome as { error: unknown }).error).toBeInstanceOf(NotLeaderError)
      }
    }
  })

  /**
   * The attack: an old leader and a follower on the minority side. Without CheckQuorum the old
   * leader never learns it was deposed, so it keeps leading its side for as long as the partition
   * lasts; the majority elects a new leader and commits. The follower asks the old leader.
   */
  function minorityScenario(raft: Partial<RaftOptions>, seed: number) {
    const c = new TestCluster(FIVE, { seed, raft })
    c.startAll()
    const oldLeader = c.waitForLeader()
    write(c, oldLeader, 'v1')
    const follower = followerOf(c, oldLeader)
    const majority = FIVE.filter((id) => id !== oldLeader && id !== follower)
    c.partition([oldLeader, follower], majority)
    c.runUntil(() => majority.some((id) => c.node(id).status.role === 'leader'), 5000)
    const newLeader = majority.find((id) => c.node(id).status.role === 'leader')!
    const acknowledged = write(c, newLeader, 'v2')
    const reads: number[] = []
    const start = c.now
    while (c.now < start + 600) {
      reads.push(c.read(follower))
      c.tick(20)
    }
    c.tick(400)
    const outcomes = reads.map((r) => c.outcomes.get(r))
    const stale = outcomes.filter((o) => o?.kind === 'read' && o.applied < acknowledged)
    const fresh = outcomes.filter((o) => o?.kind === 'read' && o.applied >= acknowledged)
    return { c, oldLeader, newLeader, outcomes, stale, fresh }
  }

  it('a follower partitioned with the old leader never answers with the old state; without the quorum round it does', () => {
    // Without CheckQuorum the old leader stays leader on the minority side for the whole partition.
    followerReadTesting.skipLeaderConfirmation = true
    const naive = minorityScenario({ checkQuorum: false }, 1)
    expect(naive.c.node(naive.oldLeader).status.role).toBe('leader')
    expect(naive.stale.length).toBeGreaterThan(20) // every read of the 600 ms served the old state
    followerReadTesting.skipLeaderConfirmation = false

    const real = minorityScenario({ checkQuorum: false }, 1)
    expect(real.c.node(real.oldLeader).status.role).toBe('leader')
    expect(real.stale).toEqual([])
    expect(real.fresh).toEqual([])
    for (const o of real.outcomes) {
      expect(o?.kind).toBe('rejected')
      // Retryable, naming the leader the follower knows (a caller retries there or elsewhere).
      expect((o as unknown as { error: NotLeaderError }).error).toBeInstanceOf(NotLeaderError)
    }
  })

  it('with CheckQuorum (the default) a follower on the minority side never serves a stale read either, over 10 seeds', () => {
    let staleSeeds = 0
    for (let seed = 1; seed <= 10; seed++) {
      const { stale, fresh } = minorityScenario({}, seed)
      expect(stale, `seed ${seed}`).toEqual([])
      expect(fresh, `seed ${seed}`).toEqual([])
      // The same seed without the leader's quorum round: the old leader answers until CheckQuorum deposes it.
      followerReadTesting.skipLeaderConfirmation = true
      if (minorityScenario({}, seed).stale.length > 0) staleSeeds++
      followerReadTesting.skipLeaderConfirmation = false
    }
    expect(staleSeeds).toBe(STALE_SEEDS_WITH_CHECK_QUORUM)
  })

  it('reads pending when the leader changes fail with NotLeaderError (before their timeout)', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const [follower, other] = ['a', 'b', 'c'].filter((id) => id !== leader) as [NodeId, NodeId]
    write(c, leader, 'w')
    // The leader cannot confirm its round (heartbeat answers are lost), and its refusal when it steps down is lost too.
    c.filter = (e) => decode(e.bytes).type !== MessageType.HeartbeatResponse && decode(e.bytes).type !== MessageType.ReadIndexResponse
    const refs = [c.read(follower), c.read(follower)]
    c.tick(20)
    expect(refs.map((r) => c.outcomes.has(r))).toEqual([false, false])
    const asked = c.now
    c.transfer(leader, other)
    c.runUntil(() => refs.every((r) => c.outcomes.has(r)), 1000)
    // At the term change, not at the timeout (an election timeout after they were asked).
    expect(c.now - asked).toBeLessThan(10)
    for (const r of refs) {
      const outcome = c.outcomes.get(r) as { kind: string; error: unknown }
      expect(outcome.kind).toBe('rejected')
      expect(outcome.error).toBeInstanceOf(NotLeaderError)
    }
    // Under the new leader the follower reads again.
    c.filter = undefined
    c.runUntil(() => c.node(follower).status.leader === other, 1000)
    const again = c.read(follower)
    c.runUntil(() => c.outcomes.has(again), 500)
    expect(c.outcomes.get(again)?.kind).toBe('read')
  })

  it('no answer within an election timeout fails the read with NotLeaderError naming the leader', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const follower = followerOf(c, leader)
    c.filter = (e) => decode(e.bytes).type !== MessageType.ReadIndex
    const r = c.read(follower)
    c.tick(149)
    expect(c.outcomes.has(r)).toBe(false)
    c.tick(2)
    const outcome = c.outcomes.get(r) as { kind: string; error: NotLeaderError }
    expect(outcome.kind).toBe('rejected')
    expect(outcome.error).toBeInstanceOf(NotLeaderError)
    expect(outcome.error.leaderHint).toBe(leader)
  })

  it('a node that does not lead refuses a ReadIndex request with its hint; a stale-term request is refused with the new term', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const [f1, f2] = ['a', 'b', 'c'].filter((id) => id !== leader) as [NodeId, NodeId]
    c.recordTraffic = true
    const term = c.node(leader).status.term
    c.node(f2).batch(() => c.node(f2).raft.receive(f1, encodeMessage({ type: MessageType.ReadIndex, term, nonce: 5, counter: 1 })))
    c.node(leader).batch(() => c.node(leader).raft.receive(f1, encodeMessage({ type: MessageType.ReadIndex, term: term - 1, nonce: 5, counter: 2 })))
    const answers = c.sent.map((e) => ({ from: e.from, m: decode(e.bytes) })).filter((x) => x.m.type === MessageType.ReadIndexResponse)
    expect(answers).toEqual([
      { from: f2, m: { type: MessageType.ReadIndexResponse, term, nonce: 5, counter: 1, reject: true, index: 0, leader } },
      { from: leader, m: { type: MessageType.ReadIndexResponse, term, nonce: 5, counter: 2, reject: true, index: 0, leader } },
    ])
  })

  it('an answer that matches no request (replayed, another nonce, another leader) is ignored; the read is not served by it', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const [follower, other] = ['a', 'b', 'c'].filter((id) => id !== leader) as [NodeId, NodeId]
    write(c, leader, 'w')
    let captured: Uint8Array | undefined
    c.filter = (e) => {
      const m = decode(e.bytes)
      if (m.type === MessageType.ReadIndexResponse) captured = e.bytes
      return true
    }
    const first = c.read(follower)
    c.deliver()
    expect(c.outcomes.get(first)?.kind).toBe('read')
    // Hold the leader's answers back, then replay the old one and forge others.
    c.filter = (e) => decode(e.bytes).type !== MessageType.ReadIndexResponse
    const second = c.read(follower)
    c.deliver()
    const m = decode(captured!) as { term: number; nonce: number; counter: number; index: number }
    const node = c.node(follower)
    node.batch(() => {
      node.raft.receive(leader, captured!) // replay of the answer to the first request
      node.raft.receive(leader, encodeMessage({ ...m, type: MessageType.ReadIndexResponse, nonce: m.nonce + 1, counter: m.counter + 1, reject: false, leader: '' }))
      node.raft.receive(other, encodeMessage({ ...m, type: MessageType.ReadIndexResponse, counter: m.counter + 1, reject: false, leader: '' }))
    })
    expect(c.outcomes.has(second)).toBe(false)
    expect((node.status.detail as { followerReads: { unmatched: number } }).followerReads.unmatched).toBe(3)
  })

  it('malformed ReadIndex messages are dropped and counted, and change nothing', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const follower = followerOf(c, leader)
    const term = c.node(leader).status.term
    const good = encodeMessage({ type: MessageType.ReadIndex, term, nonce: 1, counter: 1 })
    const answer = encodeMessage({ type: MessageType.ReadIndexResponse, term, nonce: 1, counter: 1, reject: false, index: 3, leader: '' })
    const bad: Uint8Array[] = [
      good.subarray(0, good.length - 1), // truncated
      new Uint8Array([...good, 0]), // trailing byte
      encodeMessage({ type: MessageType.ReadIndex, term, nonce: 0, counter: 1 }), // nonce 0
      encodeMessage({ type: MessageType.ReadIndexResponse, term, nonce: 1, counter: 0, reject: false, index: 3, leader: '' }),
      encodeMessage({ type: MessageType.ReadIndexResponse, term, nonce: 1, counter: 1, reject: true, index: 3, leader: 'a' }), // a refusal with an index
      encodeMessage({ type: MessageType.ReadIndexResponse, term, nonce: 1, counter: 1, reject: false, index: 3, leader: 'a' }), // an answer with a hint
      encodeMessage({ type: MessageType.ReadIndexResponse, term, nonce: 1, counter: 1, reject: true, index: 0, leader: 'x'.repeat(2000) }), // hint too long
      Uint8Array.from(answer.map((b, i) => (i === 2 + 8 + 16 ? 2 : b))), // reject flag 2
      notUtf8Hint(term), // hint not UTF-8
    ]
    const before = { leader: c.node(leader).status, follower: c.node(follower).status }
    for (const [to, from] of [
      [leader, follower],
      [follower, leader],
    ] as const) {
      const node = c.node(to)
      node.batch(() => {
        for (const bytes of bad) {
          try {
            node.raft.receive(from, bytes)
          } catch (error) {
            if ((error as { code?: string }).code === 'INVALID_MESSAGE') node.invalidMessages++
            else throw error
          }
        }
      })
      expect(node.invalidMessages).toBe(bad.length)
    }
    expect(c.node(leader).status.term).toBe(before.leader.term)
    expect(c.node(follower).status.role).toBe('follower')
    expect((c.node(leader).status.detail as { followerReads: { answered: number; refused: number } }).followerReads).toMatchObject({ answered: 0, refused: 0 })
  })

  it('with followerReads off a follower refuses at once, as before', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { followerReads: false } })
    c.startAll()
    const leader = c.waitForLeader()
    c.recordTraffic = true
    const r = c.read(followerOf(c, leader))
    expect((c.outcomes.get(r) as unknown as { error: NotLeaderError }).error.leaderHint).toBe(leader)
    expect(c.sent.filter((e) => decode(e.bytes).type === MessageType.ReadIndex)).toEqual([])
  })
})
