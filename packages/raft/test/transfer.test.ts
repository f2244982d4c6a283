// Leadership transfer, dissertation §3.10.
import { ConfigError, NotLeaderError, ProposalDroppedError, TimeoutError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

describe('§3.10 leadership transfer', () => {
  it('hands leadership to an up-to-date target with TimeoutNow', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(20)
    const target = ['a', 'b', 'c'].find((id) => id !== leader)!
    const term = c.node(leader).status.term
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(target))
    c.deliver()
    expect(c.leaders()).toEqual([target])
    expect(c.node(target).status.term).toBe(term + 1)
  })

  it('catches a lagging target up first and drops proposals while transferring', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const target = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(target)
    for (let i = 0; i < 10; i++) c.propose(leader, `v${i}`)
    c.tick(20)
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(target))
    const dropped = c.outcomes.get(c.propose(leader, 'during'))
    expect(dropped?.kind).toBe('rejected')
    expect((dropped as { error: unknown }).error).toBeInstanceOf(ProposalDroppedError)
    c.heal()
    c.tick(100)
    expect(c.leaders()).toEqual([target])
    expect(c.appliedCommands(target)).toEqual(c.appliedCommands(leader))
  })

  it('sends TimeoutNow once per transfer, even when the log grows after the target caught up (a joint change leaving joint)', () => {
    const ids = ['a', 'b', 'c', 'd', 'e']
    const c = new TestCluster(ids)
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(20)
    const [target, removed] = ids.filter((id) => id !== leader) as [string, string]
    let timeoutNows = 0
    c.filter = (e) => {
      const type = decode(e.bytes).type
      // The others' acknowledgements wait until the target has caught up and been sent TimeoutNow.
      if (type === MessageType.AppendResponse && e.from !== target && timeoutNows === 0) return false
      if (type !== MessageType.TimeoutNow) return true
      timeoutNows++
      return false // the target never acts on it, so it keeps acknowledging the leader's appends
    }
    const node = c.node(leader)
    // The target acknowledges C(old,new) and is sent TimeoutNow; the leader then commits and applies
    // C(old,new) and appends C(new) by itself, which the target acknowledges too: no second TimeoutNow.
    node.batch(() => {
      node.raft.proposeConfigChange({ type: 'joint', changes: [{ type: 'remove', id: removed }] })
      node.raft.transferLeadership(target)
    })
    c.tick(150)
    expect(node.status.membership.outgoing).toBeUndefined() // C(new) in force on the leader
    expect(node.status.commitIndex).toBe(node.status.lastIndex)
    expect(timeoutNows).toBe(1)
  })

  it('aborts after an election timeout when the target does not respond, and accepts proposals again', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const target = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(target)
    c.propose(leader, 'x')
    c.tick(10)
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(target))
    c.tick(220)
    expect(c.leaders()).toEqual([leader])
    const after = c.propose(leader, 'after')
    c.tick(20)
    expect(c.outcomes.get(after)?.kind).toBe('committed')
  })

  it('with a client (the Replica entry): picks the most up-to-date voter and answers once it leads', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const [behind, ahead] = ['a', 'b', 'c'].filter((id) => id !== leader)
    c.isolate(behind!)
    for (let i = 0; i < 5; i++) c.propose(leader, `v${i}`)
    c.tick(20)
    c.heal()
    const id = c.transfer(leader) // no target: the longest matching log wins, i.e. not the one that was cut off
    expect(c.outcomes.has(id)).toBe(false)
    c.tick(100)
    expect(c.leaders()).toEqual([ahead])
    expect(c.outcomes.get(id)?.kind).toBe('committed')
  })

  it('with a client: rejected with TimeoutError when abandoned, NotLeaderError on a follower, ConfigError for a non-voter', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const target = ['a', 'b', 'c'].find((id) => id !== leader)!
    c.isolate(target)
    const id = c.transfer(leader, target)
    c.tick(220)
    expect((c.outcomes.get(id) as { error: unknown }).error).toBeInstanceOf(TimeoutError)
    expect(c.leaders()).toEqual([leader])
    const onFollower = c.transfer(['a', 'b', 'c'].find((n) => n !== leader && n !== target)!)
    expect((c.outcomes.get(onFollower) as { error: unknown }).error).toBeInstanceOf(NotLeaderError)
    const nonVoter = c.transfer(leader, 'zz')
    expect((c.outcomes.get(nonVoter) as { error: unknown }).error).toBeInstanceOf(ConfigError)
    const self = c.transfer(leader, leader)
    expect(c.outcomes.get(self)?.kind).toBe('committed')
  })
})
