// Normal operation of Multi-Paxos (Paxos Made Simple §3): one phase 1 per
// leadership, then phase 2 per batch of slots, chosen index piggybacked,
// execution in slot order on every replica, proposals forwarded to the leader.
import { NotLeaderError, ProposalDroppedError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']

describe('replication', () => {
  it('elects a leader and every replica executes the same commands in slot order', () => {
    const c = new TestCluster(ids)
    c.startAll()
    const leader = c.waitForLeader()
    const clients = Array.from({ length: 20 }, (_, i) => c.propose(leader, `v${i}`))
    c.tick(200)
    for (const id of clients) expect(c.outcomes.get(id)?.kind).toBe('committed')
    const expected = Array.from({ length: 20 }, (_, i) => `v${i}`)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(expected)
    // Slots are consecutive from 1 (no gaps in a stable leadership).
    expect(c.node(leader).applied.map((a) => a.index)).toEqual(expected.map((_, i) => i + 1))
  })

  it('an acceptor answers the Accepts of one batch with one Accepted, and the leader sends every follower the same bytes', () => {
    const c = new TestCluster(ids)
    c.recordTraffic = true
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(100)
    c.sent.length = 0
    // Five proposals, each its own batch at the leader: five Accepts per follower, delivered together.
    for (let i = 0; i < 5; i++) c.propose(leader, `p${i}`)
    c.deliver()
    const accepts = c.sent.filter((e) => e.from === leader && decode(e.bytes).type === MessageType.Accept)
    expect(accepts).toHaveLength(10)
    const followers = ids.filter((id) => id !== leader)
    for (let i = 0; i < 5; i++) expect(accepts[2 * i]!.bytes).toBe(accepts[2 * i + 1]!.bytes) // encoded once
    for (const f of followers) {
      // (Later answers acknowledge the heartbeat carrying the chosen index: no slots.)
      const answers = c.sent.filter((e) => e.from === f && decode(e.bytes).type === MessageType.Accepted).map((e) => decode(e.bytes) as { count: number })
      expect(answers.filter((a) => a.count > 0)).toEqual([expect.objectContaining({ ok: true, first: 1, count: 5 })])
    }
    c.tick(50)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4'])
  })

  it('phase 1 runs once per leadership; a batch of proposals goes out as one Accept per follower', () => {
    const c = new TestCluster(ids)
    c.recordTraffic = true
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(100)
    const prepares = c.sent.filter((e) => decode(e.bytes).type === MessageType.Prepare).length
    c.sent.length = 0
    const node = c.node(leader)
    node.batch(() => {
      for (let i = 0; i < 50; i++) node.paxos.propose(new TextEncoder().encode(`b${i}`), { id: 10_000 + i })
    })
    c.tick(100)
    const accepts = c.sent.filter((e) => e.from === leader && decode(e.bytes).type === MessageType.Accept)
    expect(accepts).toHaveLength(2) // one per follower, 50 slots each
    expect(accepts.map((e) => (decode(e.bytes) as unknown as { values: unknown[] }).values.length)).toEqual([50, 50])
    expect(c.sent.filter((e) => decode(e.bytes).type === MessageType.Prepare)).toHaveLength(0)
    expect(prepares).toBeGreaterThan(0)
    for (const id of ids) expect(c.appliedCommands(id)).toHaveLength(50)
  })

  it('followers learn the chosen index piggybacked on the next Accept or heartbeat, never by an extra Learn', () => {
    const c = new TestCluster(ids)
    c.recordTraffic = true
    c.startAll()
    const leader = c.waitForLeader()
    c.propose(leader, 'x')
    c.deliver()
    // The leader chose it on the first Accepted and told the followers in the same batch's heartbeat.
    expect(c.node(leader).status.commitIndex).toBe(1)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['x'])
    c.propose(leader, 'y')
    c.propose(leader, 'z')
    c.deliver()
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['x', 'y', 'z'])
    const learns = c.sent.filter((e) => decode(e.bytes).type === MessageType.Learn)
    expect(learns).toHaveLength(0) // no extra message: the commit rode on the heartbeat
  })

  it('a follower forwards its clients’ proposals to the leader and answers them when it executes them', () => {
    const c = new TestCluster(ids)
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60) // followers know the leader from its heartbeat
    const follower = ids.find((id) => id !== leader)!
    const clients = [c.propose(follower, 'f1'), c.propose(follower, 'f2')]
    c.tick(200)
    for (const id of clients) expect(c.outcomes.get(id)?.kind).toBe('committed')
    expect(c.node(follower).status.detail!['forwarded']).toBe(2)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['f1', 'f2'])
  })

  it('without forwarding, a follower refuses with NotLeaderError naming the leader', () => {
    const c = new TestCluster(ids, { paxos: { forwardProposals: false } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const follower = ids.find((id) => id !== leader)!
    const client = c.propose(follower, 'nope')
    const outcome = c.outcomes.get(client)
    expect(outcome?.kind).toBe('rejected')
    const error = (outcome as unknown as { error: NotLeaderError }).error
    expect(error).toBeInstanceOf(NotLeaderError)
    expect(error.leaderHint).toBe(leader)
  })

  it('a single-node cluster leads at once and decides alone', () => {
    const c = new TestCluster(['solo'])
    c.startAll()
    expect(c.leaders()).toEqual(['solo'])
    const client = c.propose('solo', 'x')
    expect(c.outcomes.get(client)).toEqual({ kind: 'committed', index: 1 })
  })
})

describe('pipelining window', () => {
  it('never has more than maxInflightSlots slots in flight; the rest waits in the queue and is proposed as slots are chosen', () => {
    const c = new TestCluster(ids, { latencyMs: 5, paxos: { maxInflightSlots: 4 } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(20)
    const node = c.node(leader)
    const clients = Array.from({ length: 30 }, (_, i) => c.propose(leader, `w${i}`))
    let maxInflight = 0
    let maxQueued = 0
    for (let t = 0; t < 300; t++) {
      c.tick(1)
      maxInflight = Math.max(maxInflight, node.status.detail!['inflight'] as number)
      maxQueued = Math.max(maxQueued, node.status.detail!['queued'] as number)
    }
    expect(maxInflight).toBe(4)
    expect(maxQueued).toBeGreaterThan(20)
    for (const id of clients) expect(c.outcomes.get(id)?.kind).toBe('committed')
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(Array.from({ length: 30 }, (_, i) => `w${i}`))
  })

  it('refuses proposals with ProposalDroppedError once the window and the queue are full', () => {
    const c = new TestCluster(ids, { latencyMs: 5, paxos: { maxInflightSlots: 2, maxQueuedProposals: 3 } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(20)
    const node = c.node(leader)
    const clients: number[] = []
    node.batch(() => {
      for (let i = 0; i < 7; i++) {
        const client = { id: 50_000 + i }
        clients.push(client.id)
        node.paxos.propose(new TextEncoder().encode(`q${i}`), client)
      }
    })
    const refused = clients.filter((id) => c.outcomes.get(id)?.kind === 'rejected')
    expect(refused).toEqual([50_005, 50_006])
    expect((c.outcomes.get(50_005) as { error: unknown }).error).toBeInstanceOf(ProposalDroppedError)
    c.tick(200)
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4'])
  })
})
