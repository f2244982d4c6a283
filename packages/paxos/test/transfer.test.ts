// Leadership transfer (Raft dissertation §3.10 applied to Multi-Paxos): the
// leader stops giving slots out, lets the target learn every slot it
// proposed, then sends TimeoutNow; the target runs phase 1 at once with a
// ballot acceptors promise despite stickiness.
import { ConfigError, NotLeaderError, ProposalDroppedError, TimeoutError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { paxosTesting } from '../src/index.js'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']

describe('leadership transfer', () => {
  it('hands leadership to an up-to-date target, which leads in a higher ballot; the client is answered', () => {
    const c = new TestCluster(ids)
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const target = ids.find((id) => id !== leader)!
    const ballot = c.node(leader).status.term
    const client = c.transfer(leader, target)
    c.tick(20)
    expect(c.leaders()).toEqual([target])
    expect(c.node(target).status.term).toBeGreaterThan(ballot)
    expect(c.outcomes.get(client)).toEqual({ kind: 'committed', index: 0 })
    // Without a target: the most up-to-date voter.
    const back = c.transfer(target)
    c.tick(20)
    expect(c.outcomes.get(back)?.kind).toBe('committed')
    expect(c.leaders()).not.toEqual([target])
    for (const leaders of c.leadersPerTerm().values()) expect(leaders.size).toBe(1)
  })

  it('under load: no acknowledged command is lost, none is applied twice, proposals during the transfer are refused as retryable', () => {
    for (let seed = 1; seed <= 4; seed++) {
      const c = new TestCluster(ids, { seed, latencyMs: 2 })
      c.startAll()
      const first = c.waitForLeader()
      c.tick(60)
      const pending = new Map<number, string>()
      const acked = new Set<string>()
      let next = 0
      let refusedDuringTransfer = 0
      const submit = (command: string) => {
        // Clients go to any node; followers forward to the leader.
        const via = ids[next % ids.length]!
        pending.set(c.propose(via, command), command)
      }
      const settle = () => {
        for (const [client, command] of [...pending]) {
          const outcome = c.outcomes.get(client)
          if (outcome === undefined) continue
          pending.delete(client)
          if (outcome.kind === 'committed') acked.add(command)
          else {
            // Retryable: refused while transferring, or the leader changed. Try again.
            const error = (outcome as { error: unknown }).error
            expect(error instanceof ProposalDroppedError || error instanceof NotLeaderError).toBe(true)
            if (error instanceof ProposalDroppedError) refusedDuringTransfer++
            submit(command)
          }
        }
      }
      let transfer: number | undefined
      for (let t = 0; t < 400; t++) {
        if (t < 250) for (let k = 0; k < 3; k++) submit(`s${seed}-${next++}`)
        if (t === 100) transfer = c.transfer(first, ids.find((id) => id !== first))
        c.tick(1)
        settle()
      }
      c.runUntil(() => (settle(), pending.size === 0), 5000)
      c.tick(300)
      expect(c.outcomes.get(transfer!)?.kind).toBe('committed')
      expect(c.leaders()).not.toEqual([first])
      expect(refusedDuringTransfer).toBeGreaterThan(0)
      // Every command acknowledged exactly once, applied exactly once, everywhere in the same order.
      expect(acked.size).toBe(next)
      const applied = c.appliedCommands(first)
      expect(new Set(applied).size).toBe(applied.length)
      expect(new Set(applied)).toEqual(acked)
      for (const id of ids) expect(c.appliedCommands(id)).toEqual(applied)
    }
  }, 120_000)

  it('catches a lagging target up first (Learn), then hands over', () => {
    const c = new TestCluster(ids, { paxos: { snapshotEvery: 0 } })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const target = ids.find((id) => id !== leader)!
    c.isolate(target)
    for (let i = 0; i < 200; i++) c.propose(leader, `v${i}`)
    c.tick(50)
    expect(c.node(target).status.commitIndex).toBe(0)
    c.heal()
    let timeoutNowAt = -1
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.TimeoutNow) {
        timeoutNowAt = c.now
        // Sent only once the target has every slot.
        expect(c.node(target).status.commitIndex).toBe(c.node(leader).status.commitIndex)
      }
      return true
    }
    const client = c.transfer(leader, target)
    c.tick(100)
    expect(timeoutNowAt).toBeGreaterThanOrEqual(0)
    expect(c.outcomes.get(client)?.kind).toBe('committed')
    expect(c.leaders()).toEqual([target])
    expect(c.appliedCommands(target)).toEqual(c.appliedCommands(leader))
    expect(c.appliedCommands(target)).toHaveLength(200)
  })

  it('refuses an unknown target, a learner, and a non-leader; gives up after an election timeout and takes proposals again', () => {
    const c = new TestCluster([...ids, 'l'], { learners: ['l'] })
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(60)
    const follower = ids.find((id) => id !== leader)!
    const errorOf = (client: number) => (c.outcomes.get(client) as { error?: unknown } | undefined)?.error
    expect(errorOf(c.transfer(leader, 'nobody'))).toBeInstanceOf(ConfigError)
    expect(errorOf(c.transfer(leader, 'l'))).toBeInstanceOf(ConfigError)
    expect(errorOf(c.transfer(follower, leader))).toBeInstanceOf(NotLeaderError)
    expect(c.leaders()).toEqual([leader])
    // A target that never answers: the transfer is abandoned, the leader keeps leading and deciding.
    c.isolate(follower)
    const client = c.transfer(leader, follower)
    const during = c.propose(leader, 'during')
    expect(errorOf(during)).toBeInstanceOf(ProposalDroppedError)
    c.tick(200)
    expect(errorOf(client)).toBeInstanceOf(TimeoutError)
    expect(c.leaders()).toEqual([leader])
    const after = c.propose(leader, 'after')
    c.tick(20)
    expect(c.outcomes.get(after)?.kind).toBe('committed')
  })

  it('the target’s Prepare is forced past leader stickiness: without that, a 5-node transfer is given up', () => {
    const run = () => {
      const five = ['a', 'b', 'c', 'd', 'e']
      const c = new TestCluster(five)
      c.startAll()
      const leader = c.waitForLeader()
      c.tick(60)
      const client = c.transfer(leader, five.find((id) => id !== leader))
      c.tick(200)
      return c.outcomes.get(client)?.kind
    }
    expect(run()).toBe('committed')
    paxosTesting.unforcedTransfer = true
    try {
      expect(run()).toBe('rejected')
    } finally {
      paxosTesting.unforcedTransfer = false
    }
  })
})
