// Membership changes, dissertation §4 (single-server changes, learners, removing the leader).
import { ProposalDroppedError, type Member } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers/cluster.js'

const member = (id: string): Member => ({ id, publicKey: new Uint8Array(0) })

function voterIds(c: TestCluster, id: string): string[] {
  return c.node(id).status.membership.voters.map((m) => m.id).sort()
}

describe('§4 membership changes', () => {
  it('adds a learner that catches up, then promotes it to voter', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    for (let i = 0; i < 5; i++) c.propose(leader, `v${i}`)
    c.tick(20)
    // The new node starts knowing only the old configuration, which does not include it.
    const d = c.addNode('d', c.node('a').membership)
    d.start()
    const node = c.node(leader)
    node.batch(() => node.raft.proposeConfigChange({ type: 'add-learner', member: member('d') }))
    c.tick(100)
    expect(c.appliedCommands('d')).toEqual(c.appliedCommands(leader))
    expect(d.status.membership.learners.map((m) => m.id)).toEqual(['d'])
    expect(d.status.role).toBe('follower')
    node.batch(() => node.raft.proposeConfigChange({ type: 'add-voter', member: member('d') }))
    c.tick(100)
    for (const id of ['a', 'b', 'c', 'd']) expect(voterIds(c, id)).toEqual(['a', 'b', 'c', 'd'])
    expect(c.events.some((e) => e.event.type === 'membership' && e.node === 'd')).toBe(true)
  })

  it('allows one pending change at a time', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const node = c.node(leader)
    c.isolate(leader) // nothing commits
    node.raft.proposeConfigChange({ type: 'add-learner', member: member('d') })
    expect(() => node.raft.proposeConfigChange({ type: 'add-learner', member: member('e') })).toThrow(ProposalDroppedError)
  })

  it('learners never vote and never campaign', () => {
    const c = new TestCluster(['a', 'b', 'l'], { learners: ['l'] })
    c.startAll()
    const leader = c.waitForLeader()
    c.propose(leader, 'x')
    c.tick(50)
    expect(c.appliedCommands('l')).toEqual(['x'])
    // With one of the two voters down, the survivor cannot win even though the learner has the log.
    const other = leader === 'a' ? 'b' : 'a'
    c.node(leader).crash()
    c.tick(3000)
    expect(c.leaders()).toEqual([])
    expect(c.node('l').events.some((e) => e.type === 'role' && e.role !== 'follower')).toBe(false)
    expect(c.node(other).status.role).not.toBe('leader')
  })

  it('removes a follower; the rest keep committing with the smaller quorum', () => {
    const c = new TestCluster(['a', 'b', 'c', 'd'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const gone = ['a', 'b', 'c', 'd'].find((id) => id !== leader)!
    const node = c.node(leader)
    node.batch(() => node.raft.proposeConfigChange({ type: 'remove', id: gone }))
    c.tick(50)
    expect(voterIds(c, leader)).not.toContain(gone)
    c.node(gone).crash()
    const rest = ['a', 'b', 'c', 'd'].filter((id) => id !== gone && id !== leader)
    c.node(rest[0]!).crash() // 2 of the remaining 3 are still a quorum
    const w = c.propose(leader, 'still')
    c.tick(50)
    expect(c.outcomes.get(w)?.kind).toBe('committed')
  })

  it('removing the leader makes it step down once the change commits; the others elect a new leader', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const node = c.node(leader)
    node.batch(() => node.raft.proposeConfigChange({ type: 'remove', id: leader }))
    c.tick(20)
    expect(node.status.role).toBe('follower')
    const next = c.waitForLeader(2000)
    expect(next).not.toBe(leader)
    const w = c.propose(next, 'after')
    c.tick(50)
    expect(c.outcomes.get(w)?.kind).toBe('committed')
    expect(voterIds(c, next)).toEqual(['a', 'b', 'c'].filter((id) => id !== leader))
    // The removed node never campaigns again.
    c.tick(2000)
    expect(c.leaders()).toEqual([next])
  })

  it('a configuration survives a restart of the whole cluster', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const node = c.node(leader)
    node.batch(() => node.raft.proposeConfigChange({ type: 'add-learner', member: member('z') }))
    c.tick(50)
    for (const n of c.nodes.values()) n.crash()
    for (const n of c.nodes.values()) n.start()
    c.deliver()
    for (const id of ['a', 'b', 'c']) expect(c.node(id).status.membership.learners.map((m) => m.id)).toEqual(['z'])
  })
})
