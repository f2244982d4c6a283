// Leader change (Paxos Made Simple §3; Paxos Made Moderately Complex §3):
// the new leader adopts, per slot above its chosen index, the accepted value
// of the highest ballot in a quorum of promises, fills gaps with no-ops and
// re-proposes them all in its own ballot. Each test also runs with the
// defence off to show what it prevents.
import type { NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { acceptorTesting, paxosTesting } from '../src/index.js'
import { decode, MessageType, TestCluster, type Envelope } from './helpers/cluster.js'

afterEach(() => {
  paxosTesting.skipRecovery = false
  acceptorTesting.skipPersist = false
})

const ids = ['a', 'b', 'c']

function stableCluster(seed = 1): { c: TestCluster; leader: NodeId; f1: NodeId; f2: NodeId } {
  const c = new TestCluster(ids, { seed })
  c.startAll()
  const leader = c.waitForLeader()
  c.tick(60)
  const [f1, f2] = ids.filter((id) => id !== leader) as [NodeId, NodeId]
  return { c, leader, f1, f2 }
}

const isAccept = (e: Envelope) => decode(e.bytes).type === MessageType.Accept

/**
 * The leader proposes X; only f1 receives the Accept and f1 crashes right after persisting it,
 * before its Accepted leaves. X is now chosen (leader + f1 accepted it in one ballot) though no
 * one knows. The leader crashes; f1 restarts; f1 and f2 elect a new leader.
 */
function chosenButUnknown(seed = 1) {
  const { c, leader, f1, f2 } = stableCluster(seed)
  c.filter = (e) => !(e.from === leader && e.to === f2 && isAccept(e))
  c.node(f1).crashAfterNextSync = true
  c.propose(leader, 'X')
  c.deliver()
  expect(c.node(f1).running).toBe(false)
  expect(c.node(leader).status.commitIndex).toBe(0) // nobody learned it
  c.node(leader).crash()
  c.filter = undefined
  c.node(f1).start()
  c.runUntil(() => c.leaders().length === 1 && c.leaders()[0] !== leader, 3000)
  c.tick(200)
  return { c, leader, f1, f2, next: c.leaders()[0]! }
}

describe('recovery on leader change', () => {
  it('a new leader re-proposes a value accepted by a minority (crash between accept and reply included)', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { c, f1, f2, next } = chosenButUnknown(seed)
      for (const id of [f1, f2]) expect(c.appliedCommands(id)).toEqual(['X'])
      expect(c.node(f1).applied[0]!.index).toBe(1)
      expect(c.node(next).status.detail!['recovered']).toBeGreaterThanOrEqual(1)
    }
  })

  it('with recovery off, the chosen X is lost: the defence is what keeps it', () => {
    paxosTesting.skipRecovery = true
    const { c, f1, f2 } = chosenButUnknown()
    for (const id of [f1, f2]) expect(c.appliedCommands(id)).toEqual([])
  })

  it('with the acceptor not persisting, f1 forgets X across its crash and X is lost', () => {
    acceptorTesting.skipPersist = true
    const { c, f1, f2 } = chosenButUnknown()
    for (const id of [f1, f2]) expect(c.appliedCommands(id)).toEqual([])
  })

  it('fills gaps with no-ops: slots around the only accepted one are decided as no-ops, later slots continue after it', () => {
    const { c, leader, f1, f2 } = stableCluster()
    // Three proposals in three batches (three Accepts). f1 gets only slot 2, f2 none; no Accepted reaches the leader.
    c.filter = (e) => {
      if (e.from === leader && isAccept(e)) return e.to === f1 && (decode(e.bytes) as { first: number }).first === 2
      return !(e.from === f1 && e.to === leader)
    }
    for (const v of ['p1', 'p2', 'p3']) {
      c.propose(leader, v)
      c.deliver()
    }
    expect(c.node(leader).status.commitIndex).toBe(0)
    c.node(leader).crash()
    c.filter = undefined
    c.runUntil(() => c.leaders().length === 1, 3000)
    const next = c.leaders()[0]!
    c.tick(200)
    // Slot 1 was a gap: a no-op (not executed by the state machine). Slot 2 keeps p2. p3 reached no one alive.
    for (const id of [f1, f2]) {
      expect(c.node(id).applied).toEqual([{ index: 2, command: 'p2' }])
      expect(c.node(id).status.commitIndex).toBe(2)
    }
    expect(c.node(next).status.detail!['noops']).toBe(1)
    c.propose(next, 'after')
    c.tick(200)
    expect(c.node(f1).applied.at(-1)).toEqual({ index: 3, command: 'after' })
    // The old leader comes back and learns the decided slots, not its own p1 and p3.
    c.node(leader).start()
    c.tick(300)
    expect(c.node(leader).applied).toEqual([
      { index: 2, command: 'p2' },
      { index: 3, command: 'after' },
    ])
  })

  it('the old leader’s clients whose slots went to other values are told (NotLeaderError), never answered as committed', () => {
    const { c, leader, f1, f2 } = stableCluster()
    // The leader is cut off with p in flight; the others elect a new leader and decide slot 1 themselves.
    c.cut(leader, [f1, f2])
    const lost = c.propose(leader, 'p')
    c.tick(400)
    const next = c.leaders().find((id) => id !== leader)!
    c.propose(next, 'q')
    c.tick(100)
    c.heal()
    c.tick(400)
    const outcome = c.outcomes.get(lost)
    expect(outcome?.kind).toBe('rejected')
    for (const id of ids) expect(c.appliedCommands(id)).toEqual(['q'])
  })
})
