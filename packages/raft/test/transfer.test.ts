// Leadership transfer, dissertation §3.10.
import { ProposalDroppedError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers/cluster.js'

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
})
