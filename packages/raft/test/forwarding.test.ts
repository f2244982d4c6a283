// Proposal forwarding (etcd's MsgProp): a follower hands its clients' commands
// to the leader and answers them when it applies them.
import { NotLeaderError, ProposalDroppedError, type SynodError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeMessage, MessageType } from '../src/index.js'
import { TestCluster } from './helpers/cluster.js'

const limits = { maxEntryBytes: 1 << 20, maxSnapshotBytes: 1 << 20 }

function errorOf(c: TestCluster, id: number): SynodError {
  const outcome = c.outcomes.get(id)
  expect(outcome?.kind).toBe('rejected')
  return (outcome as { error: SynodError }).error
}

describe('proposal forwarding', () => {
  it('a follower forwards its proposals in one message per batch and answers them when it applies them', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const node = c.node(follower)
    const proposes: number[] = []
    c.filter = (e) => {
      const m = decodeMessage(e.bytes, limits)
      if (m.type === MessageType.Propose) proposes.push(m.commands.length)
      return true
    }
    const ids: number[] = []
    node.batch(() => {
      for (let i = 0; i < 20; i++) {
        const client = { id: 50_000 + i }
        ids.push(client.id)
        node.raft.propose(new TextEncoder().encode(`f${i}`), client)
      }
    })
    c.tick(30)
    expect(proposes).toEqual([20])
    for (const id of ids) expect(c.outcomes.get(id)?.kind).toBe('committed')
    const expected = Array.from({ length: 20 }, (_, i) => `f${i}`)
    for (const n of ['a', 'b', 'c']) expect(c.appliedCommands(n)).toEqual(expected)
    // Each answer carries the index the entry was applied at on the follower.
    const indexes = ids.map((id) => (c.outcomes.get(id) as { index: number }).index)
    expect(indexes).toEqual([...indexes].sort((x, y) => x - y))
  })

  it('mixes forwarded and local proposals in one log order, every client answered once', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const ids: number[] = []
    for (let round = 0; round < 5; round++) for (const n of ['a', 'b', 'c']) ids.push(c.propose(n, `${n}${round}`))
    c.tick(50)
    for (const id of ids) expect(c.outcomes.get(id)?.kind).toBe('committed')
    expect(c.appliedCommands('a')).toEqual(c.appliedCommands(leader))
    expect(c.appliedCommands('a')).toHaveLength(15)
  })

  it('rejects with NotLeaderError when no leader is known, and when the receiver is not the leader any more', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    expect(errorOf(c, c.propose('a', 'early'))).toBeInstanceOf(NotLeaderError) // nobody leads yet
    const leader = c.waitForLeader()
    c.tick(10)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    // The leader is cut off from the follower's proposals' answers but not its own: make it step down first.
    c.isolate(leader)
    c.tick(1000) // the others elect a new leader; the old one steps down (CheckQuorum)
    const fresh = c.leaders().find((id) => id !== leader)!
    expect(fresh).toBeDefined()
    c.heal()
    c.tick(100)
    const id = c.propose(follower === fresh ? leader : follower, 'x')
    c.tick(50)
    expect(c.outcomes.get(id)?.kind).toBe('committed')
  })

  it('a leader that refuses (transfer in progress) tells the follower, which rejects its client', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const [f1, f2] = ['a', 'b', 'c'].filter((id) => id !== leader)
    c.isolate(f2!) // the transfer target cannot catch up, so the transfer stays in progress
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(f2!))
    const id = c.propose(f1!, 'during-transfer')
    c.tick(5)
    expect(errorOf(c, id)).toBeInstanceOf(ProposalDroppedError)
  })

  it('a forwarded entry overwritten by a new leader is never answered as committed', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const other = ['a', 'b', 'c'].find((id) => id !== leader && id !== follower)!
    // The leader takes the proposal but cannot replicate it: only the follower→leader link works.
    c.filter = (e) => e.from !== leader && !(e.to === leader && e.from === other)
    const id = c.propose(follower, 'doomed')
    c.tick(3)
    c.filter = (e) => e.from !== leader && e.to !== leader // the leader is cut off; the others elect one
    c.tick(1500)
    const fresh = c.leaders().find((n) => n !== leader)
    expect(fresh).toBeDefined()
    c.filter = undefined
    c.tick(500)
    expect(c.outcomes.get(id)?.kind).not.toBe('committed')
    for (const n of ['a', 'b', 'c']) expect(c.appliedCommands(n)).not.toContain('doomed')
    expect(c.node(leader).status.detail?.['forwarding']).toMatchObject({ accepted: 1 }) // it did reach the old leader
  })

  it('with forwarding off, a follower refuses', () => {
    const c = new TestCluster(['a', 'b', 'c'], { raft: { forwardProposals: false } })
    c.startAll()
    const leader = c.waitForLeader()
    const follower = ['a', 'b', 'c'].find((id) => id !== leader)!
    const error = errorOf(c, c.propose(follower, 'x'))
    expect(error).toBeInstanceOf(NotLeaderError)
    expect((error as NotLeaderError).leaderHint).toBe(leader)
  })
})
