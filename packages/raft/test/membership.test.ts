// Membership changes, dissertation §4 (single-server changes, learners, removing the leader).
import { ConfigError, NotLeaderError, ProposalDroppedError, utf8, type Member } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

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

  it('a new leader appends no change before its no-op commits (§4.1 errata), even knowing its whole log committed', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.propose(leader, 'x')
    c.tick(60) // a heartbeat round: the followers know everything is committed
    const next = ['a', 'b', 'c'].find((id) => id !== leader)!
    expect(c.node(next).status.commitIndex).toBe(c.node(next).status.lastIndex)
    // The new leader's no-op cannot commit: nobody's acknowledgement reaches it.
    c.filter = (e) => !(e.to === next && decode(e.bytes).type === MessageType.AppendResponse)
    const old = c.node(leader)
    old.batch(() => old.raft.transferLeadership(next))
    c.runUntil(() => c.node(next).status.role === 'leader', 100)
    const node = c.node(next)
    expect(() => node.raft.proposeConfigChange({ type: 'add-learner', member: member('d') })).toThrow(ProposalDroppedError)
    c.filter = undefined
    c.tick(60)
    expect(() => node.batch(() => node.raft.proposeConfigChange({ type: 'add-learner', member: member('d') }))).not.toThrow()
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

  it('reconfigure answers its client when the change commits, and the member meta travels with the membership', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const meta = utf8('{"addrs":["/ip4/127.0.0.1/tcp/9"]}')
    const id = c.reconfigure(leader, { type: 'add-learner', member: { id: 'd', publicKey: new Uint8Array([1, 2]), meta } })
    c.tick(50)
    const outcome = c.outcomes.get(id)
    expect(outcome?.kind).toBe('committed')
    for (const n of ['a', 'b', 'c']) {
      const learner = c.node(n).status.membership.learners[0]!
      expect(learner.id).toBe('d')
      expect([...learner.publicKey]).toEqual([1, 2])
      expect(learner.meta).toEqual(meta)
    }
    // The meta survives a restart (the config entry is replayed from the log).
    const other = ['a', 'b', 'c'].find((n) => n !== leader)!
    c.node(other).crash()
    c.node(other).start()
    c.deliver()
    expect(c.node(other).status.membership.learners[0]?.meta).toEqual(meta)
  })

  it('reconfigure is refused on a follower with the leader hint, and while a change is pending', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const follower = ['a', 'b', 'c'].find((n) => n !== leader)!
    const refused = c.reconfigure(follower, { type: 'remove', id: 'c' })
    const error = (c.outcomes.get(refused) as { error: unknown }).error
    expect(error).toBeInstanceOf(NotLeaderError)
    expect((error as NotLeaderError).leaderHint).toBe(leader)
    c.isolate(leader)
    const first = c.reconfigure(leader, { type: 'add-learner', member: member('d') })
    const second = c.reconfigure(leader, { type: 'add-learner', member: member('e') })
    expect(c.outcomes.has(first)).toBe(false)
    expect((c.outcomes.get(second) as { error: unknown }).error).toBeInstanceOf(ProposalDroppedError)
    const nonsense = c.reconfigure(leader, { type: 'remove', id: 'zz' })
    expect(c.outcomes.get(nonsense)?.kind).toBe('rejected')
  })

  it('a change overwritten by a new leader is rejected, not reported as done', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    c.isolate(leader)
    const id = c.reconfigure(leader, { type: 'remove', id: leader === 'a' ? 'b' : 'a' })
    c.tick(3000) // the others elect a new leader and commit their own entries
    c.heal()
    c.tick(2000)
    const outcome = c.outcomes.get(id)
    expect(outcome?.kind).toBe('rejected')
    expect(voterIds(c, leader)).toEqual(['a', 'b', 'c'])
  })

  it('refuses a member meta over the limit', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const id = c.reconfigure(leader, { type: 'add-learner', member: { id: 'd', publicKey: new Uint8Array(0), meta: new Uint8Array(5000) } })
    expect((c.outcomes.get(id) as { error: unknown }).error).toBeInstanceOf(ConfigError)
  })
})

describe('§4 membership changes on a single-voter cluster', () => {
  it('answers reconfigure when the sole voter commits the change on the spot (single and joint)', () => {
    const c = new TestCluster(['a'])
    c.startAll()
    c.waitForLeader()
    c.tick(10)
    const single = c.reconfigure('a', { type: 'add-learner', member: member('b') })
    expect(c.outcomes.get(single)?.kind).toBe('committed')
    const joint = c.reconfigure('a', { type: 'joint', changes: [{ type: 'add-learner', member: member('c') }] })
    c.tick(10)
    expect(c.outcomes.get(joint)?.kind).toBe('committed')
    expect(c.node('a').status.membership.learners.map((m) => m.id).sort()).toEqual(['b', 'c'])
  })
})
