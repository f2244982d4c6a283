// Membership changes by joint consensus: Raft paper §6, dissertation §4.3.
// C(old,new) is appended and, once applied by the leader, followed by C(new);
// while joint, every decision needs a majority of the old AND the new voters.
import { ConfigError, ProposalDroppedError, type Member, type Membership, type SingleMembershipChange } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { applyConfigChange, decodeMembership, leaveJoint } from '../src/index.js'
import { EntryKind } from '../src/entry.js'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const member = (id: string): Member => ({ id, publicKey: new Uint8Array(0) })
const ids = (members: readonly Member[] | undefined) => members?.map((m) => m.id).sort()

/** Voters, and outgoing voters while joint, of `id`'s configuration. */
function config(c: TestCluster, id: string): { voters: string[] | undefined; outgoing: string[] | undefined } {
  const m = c.node(id).status.membership
  return { voters: ids(m.voters), outgoing: ids(m.outgoing) }
}

/** Drop every AppendEntries that carries C(new) (a config entry that is not joint): the cluster stays joint. */
function holdJoint(c: TestCluster): void {
  c.filter = (e) => {
    const m = decode(e.bytes)
    if (m.type !== MessageType.Append) return true
    return !m.entries.some((entry) => entry.data[0] === EntryKind.Config && decodeMembership(entry.data.subarray(1)).outgoing === undefined)
  }
}

/** The membership events `id` saw, in order. */
function membershipEvents(c: TestCluster, id: string): Array<{ membership: Membership; index: number }> {
  const out: Array<{ membership: Membership; index: number }> = []
  for (const { node, event } of c.events) if (node === id && event.type === 'membership') out.push({ membership: event.membership, index: event.index })
  return out
}

/**
 * Three voters and two caught-up learners d and e; the leader L and the other
 * two voters o1, o2. `replaceBoth` swaps o1 and o2 for d and e in one change.
 */
function fiveWithLearners(seed = 1, raft = {}) {
  const c = new TestCluster(['a', 'b', 'c', 'd', 'e'], { learners: ['d', 'e'], seed, raft })
  c.startAll()
  const leader = c.waitForLeader()
  for (let i = 0; i < 3; i++) c.propose(leader, `before${i}`)
  c.tick(50)
  const [o1, o2] = ['a', 'b', 'c'].filter((id) => id !== leader) as [string, string]
  const replaceBoth: SingleMembershipChange[] = [
    { type: 'remove', id: o1 },
    { type: 'remove', id: o2 },
    { type: 'add-voter', member: member('d') },
    { type: 'add-voter', member: member('e') },
  ]
  return { c, leader, o1, o2, replaceBoth }
}

/** Enter C(old,new) with C(new) held back; returns the joint entry's index once every node (but `except`) has applied it. */
function enterAndHold(c: TestCluster, leader: string, changes: SingleMembershipChange[], except: readonly string[] = []): number {
  holdJoint(c)
  const node = c.node(leader)
  let index = 0
  node.batch(() => (index = node.raft.proposeConfigChange({ type: 'joint', changes })))
  c.runUntil(() => [...c.nodes.values()].every((n) => except.includes(n.id) || n.status.membership.outgoing !== undefined), 500)
  return index
}

/** Restart `id` as the Replica would: from its storage, with the membership it was configured with. */
function restart(c: TestCluster, id: string, configured: Membership): void {
  const n = c.node(id)
  n.crash()
  n.membership = configured
  n.start()
}

describe('§6 joint consensus', () => {
  it('enters C(old,new) and leaves it for C(new), replacing two of three voters at once', () => {
    const { c, leader, o1, o2, replaceBoth } = fiveWithLearners()
    const client = c.reconfigure(leader, { type: 'joint', changes: replaceBoth })
    c.tick(100)
    const final = [leader, 'd', 'e'].sort()
    for (const id of [leader, 'd', 'e']) {
      // Every node of C(new) went through the joint configuration, then left it.
      const seen = membershipEvents(c, id)
      const joint = seen.find((s) => s.membership.outgoing !== undefined)
      expect(ids(joint?.membership.voters)).toEqual(final)
      expect(ids(joint?.membership.outgoing)).toEqual(['a', 'b', 'c'])
      expect(config(c, id)).toEqual({ voters: final, outgoing: undefined })
      expect(c.node(id).status.membership.learners).toEqual([])
    }
    // reconfigure answers with the index of C(new), the entry after C(old,new).
    const leaderSeen = membershipEvents(c, leader)
    const last = leaderSeen[leaderSeen.length - 1]!
    expect(last.membership.outgoing).toBeUndefined()
    expect(c.outcomes.get(client)).toEqual({ kind: 'committed', index: last.index })
    expect(leaderSeen[leaderSeen.length - 2]!.index).toBe(last.index - 1)
    expect(last.membership.epoch).toBe(leaderSeen[leaderSeen.length - 2]!.membership.epoch + 1)
    // The old voters are gone: the new ones commit alone, with one of them down.
    c.node(o1).crash()
    c.node(o2).crash()
    c.node('e').crash()
    const w = c.propose(leader, 'after')
    c.tick(50)
    expect(c.outcomes.get(w)?.kind).toBe('committed')
    expect(c.appliedCommands('d')).toContain('after')
  })

  /**
   * Enter C(old,new) while the nodes of `behind` get no entry past the joint
   * one, with a command x either right behind the joint entry (before C(new))
   * or after C(new); then split the cluster into `sides` for good. One entry
   * per AppendEntries (maxAppendBytes 1) so that the joint entry travels alone.
   * (Entries up to the joint one, and any a majority of the old voters holds
   * before the leader applies it, are committed under the old configuration:
   * a configuration takes effect when applied.)
   */
  function jointThenSplit(
    seed: number,
    xBeforeLeave: boolean,
    sides: (l: string, o1: string, o2: string) => { behind: string[]; sides: string[][] },
  ) {
    const { c, leader, o1, o2, replaceBoth } = fiveWithLearners(seed, { maxAppendBytes: 1 })
    const { behind, sides: groups } = sides(leader, o1, o2)
    let jointIndex = Number.POSITIVE_INFINITY
    c.filter = (e) => {
      if (!behind.includes(e.to)) return true
      const m = decode(e.bytes)
      return m.type !== MessageType.Append || m.entries.every((entry) => entry.index <= jointIndex)
    }
    const node = c.node(leader)
    node.batch(() => (jointIndex = node.raft.proposeConfigChange({ type: 'joint', changes: replaceBoth })))
    let x = xBeforeLeave ? c.propose(leader, 'x') : 0
    c.runUntil(() => [...c.nodes.values()].every((n) => n.status.membership.outgoing !== undefined), 500)
    if (!xBeforeLeave) x = c.propose(leader, 'x')
    c.deliver()
    const kinds = [1, 2].map((i) => c.node(leader).storage.entry(jointIndex + i)?.data[0])
    expect(kinds).toEqual(xBeforeLeave ? [EntryKind.Command, EntryKind.Config] : [EntryKind.Config, EntryKind.Command])
    const term = c.node(leader).status.term
    c.partition(...groups)
    const read = c.read(leader)
    c.tick(3000)
    // C(new) and x are held by a majority of one voter set only: never committed, anywhere.
    expect([...c.commits.values()].some((log) => [...log.values()].includes('x'))).toBe(false)
    expect(c.outcomes.get(x)).toBeUndefined()
    expect(c.node(leader).status.commitIndex).toBe(jointIndex)
    // ReadIndex is acknowledged by one majority only: failed when the leader stepped down.
    expect(c.outcomes.get(read)?.kind).toBe('rejected')
    // CheckQuorum counts both majorities: the leader stepped down, and no side elected anyone since.
    expect(c.leaders()).toEqual([])
    for (const [t, leaders] of c.leadersPerTerm()) if (t > term) expect([...leaders]).toEqual([])
    for (const n of c.nodes.values()) expect(n.status.membership.outgoing).toBeDefined()
    // Healed, the cluster elects, leaves the joint configuration and commits again.
    c.heal()
    c.filter = undefined
    const next = c.waitForLeader(3000)
    c.tick(200)
    for (const id of [leader, 'd', 'e']) expect(config(c, id)).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: undefined })
    const after = c.propose(c.leaders()[0] ?? next, 'healed')
    c.tick(50)
    expect(c.outcomes.get(after)?.kind).toBe('committed')
  }

  it('a partition holding a majority of only the old voters can neither commit, read nor elect while joint', () => {
    // {L, o1}: two of the three old voters, one of the three new ones. {o2, d, e}: the reverse.
    jointThenSplit(1, false, (l, o1, o2) => ({ behind: [o2, 'd', 'e'], sides: [[l, o1], [o2, 'd', 'e']] }))
  })

  it('a partition holding a majority of only the new voters can neither commit, read nor elect while joint', () => {
    // {L, d, e}: every new voter but one old one. {o1, o2}: two of the three old voters only.
    jointThenSplit(2, true, (l, o1, o2) => ({ behind: [o1, o2], sides: [[l, 'd', 'e'], [o1, o2]] }))
  })

  it('elects a leader with votes from both majorities while joint, which then leaves by itself', () => {
    const { c, leader, replaceBoth } = fiveWithLearners(3)
    const jointIndex = enterAndHold(c, leader, replaceBoth)
    // L is in both sets: the election needs o1 and o2 (old) and d and e (new), all four.
    c.node(leader).crash()
    const next = c.waitForLeader(3000)
    expect(next).not.toBe(leader)
    c.tick(50)
    expect(config(c, next).outgoing).toEqual(['a', 'b', 'c'])
    expect(c.node(next).status.commitIndex).toBeGreaterThan(jointIndex) // its no-op committed by both majorities
    // The new leader appended C(new) by itself; it passes once it is let through.
    c.filter = undefined
    c.tick(200)
    expect(config(c, 'd')).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: undefined })
    const w = c.propose(next, 'after')
    c.tick(50)
    expect(c.outcomes.get(w)?.kind).toBe('committed')
  })

  it('removes the leader by joint consensus: it leads until C(new) commits, then steps down and the rest elect', () => {
    const { c, leader, o1, o2 } = fiveWithLearners(4)
    const term = c.node(leader).status.term
    const client = c.reconfigure(leader, {
      type: 'joint',
      changes: [
        { type: 'remove', id: leader },
        { type: 'add-voter', member: member('d') },
        { type: 'add-voter', member: member('e') },
      ],
    })
    c.tick(30)
    const seen = membershipEvents(c, leader)
    expect(seen.some((s) => s.membership.outgoing !== undefined)).toBe(true)
    const final = seen[seen.length - 1]!
    expect(final.membership.outgoing).toBeUndefined()
    expect(ids(final.membership.voters)).toEqual([o1, o2, 'd', 'e'].sort())
    // It led through the joint phase (it appended C(new) itself) and stepped down when C(new) was applied.
    const roles = c.node(leader).events.filter((e) => e.type === 'role').map((e) => (e as { role: string }).role)
    expect(roles[roles.length - 1]).toBe('follower')
    expect(c.node(leader).storage.term(final.index)).toBe(term)
    expect(c.node(leader).status.term).toBe(term)
    expect(c.outcomes.get(client)).toEqual({ kind: 'committed', index: final.index })
    const next = c.waitForLeader(3000)
    expect(next).not.toBe(leader)
    const w = c.propose(next, 'after')
    c.tick(50)
    expect(c.outcomes.get(w)?.kind).toBe('committed')
    c.tick(2000)
    expect(c.leaders()).toEqual([next]) // the removed leader never campaigns again
  })

  it('a whole-cluster crash while joint restarts joint, then leaves', () => {
    const { c, leader, replaceBoth } = fiveWithLearners(5)
    const configured = c.node('a').membership
    enterAndHold(c, leader, replaceBoth)
    for (const id of c.nodes.keys()) restart(c, id, configured)
    c.deliver()
    // The commit index recorded when C(old,new) was applied brings every node back to it.
    for (const id of c.nodes.keys()) expect(config(c, id)).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: ['a', 'b', 'c'] })
    c.filter = undefined
    const next = c.waitForLeader(3000)
    c.tick(200)
    for (const id of [leader, 'd', 'e']) expect(config(c, id)).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: undefined })
    const w = c.propose(next, 'after-restart')
    c.tick(50)
    expect(c.outcomes.get(w)?.kind).toBe('committed')
  })

  it('a snapshot taken while joint carries the joint configuration (restart and InstallSnapshot)', () => {
    const { c, leader, o1, replaceBoth } = fiveWithLearners(6, { snapshotThreshold: 1, snapshotCatchUpEntries: 0 })
    const configured = c.node('a').membership
    c.isolate('e') // e misses the joint entry and everything after it
    enterAndHold(c, leader, replaceBoth, ['e'])
    c.tick(50)
    const snap = c.node(leader).storage.snapshot()!
    expect(snap).toBeDefined()
    const meta = decodeMembership(snap.meta)
    expect({ voters: ids(meta.voters), outgoing: ids(meta.outgoing) }).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: ['a', 'b', 'c'] })
    // A restart from the snapshot alone is joint.
    restart(c, o1, configured)
    expect(c.node(o1).storage.snapshot()).toBeDefined()
    expect(config(c, o1).outgoing).toEqual(['a', 'b', 'c'])
    // e gets the compacted log as an InstallSnapshot, and with it the joint configuration.
    expect(c.node(leader).storage.firstIndex()).toBeGreaterThan(c.node('e').storage.lastIndex() + 1)
    c.heal()
    c.tick(300)
    expect(c.events.some((x) => x.node === 'e' && x.event.type === 'custom' && x.event.name === 'snapshot-installed')).toBe(true)
    expect(config(c, 'e')).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: ['a', 'b', 'c'] })
    c.filter = undefined
    c.tick(300)
    for (const id of [leader, 'd', 'e']) expect(config(c, id)).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: undefined })
  })

  it('is refused while another change is pending and while joint, and answered with C(new) after a leader change', () => {
    const { c, leader, replaceBoth } = fiveWithLearners(7)
    const node = c.node(leader)
    // Joint while a single change is pending, and the reverse.
    c.isolate(leader)
    node.raft.proposeConfigChange({ type: 'add-learner', member: member('f') })
    expect(() => node.raft.proposeConfigChange({ type: 'joint', changes: replaceBoth })).toThrow(ProposalDroppedError)
    c.heal()
    c.tick(50)
    c.isolate(leader)
    node.raft.proposeConfigChange({ type: 'joint', changes: [{ type: 'remove', id: 'f' }] })
    expect(() => node.raft.proposeConfigChange({ type: 'remove', id: 'd' })).toThrow(ProposalDroppedError)
    c.heal()
    c.tick(50)
    expect(config(c, leader).outgoing).toBeUndefined()
    // While joint (C(old,new) applied, C(new) not yet): nothing else, through either entry.
    const client = c.reconfigure(leader, { type: 'joint', changes: replaceBoth })
    holdJoint(c)
    c.tick(20)
    expect(config(c, leader).outgoing).toEqual(['a', 'b', 'c'])
    const refused = c.reconfigure(leader, { type: 'remove', id: 'd' })
    expect((c.outcomes.get(refused) as { error: unknown }).error).toBeInstanceOf(ProposalDroppedError)
    expect(() => node.raft.proposeConfigChange({ type: 'joint', changes: [{ type: 'remove', id: 'e' }] })).toThrow(ProposalDroppedError)
    expect(c.outcomes.has(client)).toBe(false) // C(old,new) is committed, but the change is complete only with C(new)
    // The leader goes; a new one appends C(new); the client on the old leader is answered when it applies it.
    c.isolate(leader)
    c.runUntil(() => c.leaders().some((id) => id !== leader), 3000)
    c.filter = undefined
    c.heal()
    c.tick(300)
    const seen = membershipEvents(c, 'd')
    const final = seen[seen.length - 1]!
    expect({ voters: ids(final.membership.voters), outgoing: final.membership.outgoing }).toEqual({ voters: [leader, 'd', 'e'].sort(), outgoing: undefined })
    expect(c.outcomes.get(client)).toEqual({ kind: 'committed', index: final.index })
    expect(config(c, leader).voters).toEqual([leader, 'd', 'e'].sort())
  })
})

describe('§6 applyConfigChange for joint changes', () => {
  const old: Membership = { epoch: 3, voters: ['a', 'b', 'c'].map(member), learners: [member('l')] }

  it('applies the changes in order to give C(old,new), and leaveJoint gives C(new)', () => {
    const joint = applyConfigChange(old, {
      type: 'joint',
      changes: [
        { type: 'remove', id: 'c' },
        { type: 'add-learner', member: member('c') }, // a demotion: still an outgoing voter while joint
        { type: 'add-voter', member: member('l') }, // a promotion
        { type: 'add-voter', member: member('d') },
      ],
    })
    expect(joint.epoch).toBe(4)
    expect(ids(joint.voters)).toEqual(['a', 'b', 'd', 'l'])
    expect(ids(joint.learners)).toEqual(['c'])
    expect(ids(joint.outgoing)).toEqual(['a', 'b', 'c'])
    const final = leaveJoint(joint)
    expect(final).toEqual({ epoch: 5, voters: joint.voters, learners: joint.learners })
    expect('outgoing' in final).toBe(false)
  })

  it('refuses empty, nested and nonsensical joint changes, changes to a joint configuration, and leaving a non-joint one', () => {
    expect(() => applyConfigChange(old, { type: 'joint', changes: [] })).toThrow(ConfigError)
    expect(() =>
      applyConfigChange(old, { type: 'joint', changes: [{ type: 'joint', changes: [] } as unknown as SingleMembershipChange] }),
    ).toThrow(/do not nest/)
    expect(() => applyConfigChange(old, { type: 'joint', changes: ['a', 'b', 'c'].map((id) => ({ type: 'remove' as const, id })) })).toThrow(/no voter/)
    expect(() => applyConfigChange(old, { type: 'joint', changes: [{ type: 'remove', id: 'zz' }] })).toThrow(/not a member/)
    expect(() =>
      applyConfigChange(old, { type: 'joint', changes: [{ type: 'add-voter', member: { id: 'd', publicKey: new Uint8Array(0), meta: new Uint8Array(5000) } }] }),
    ).toThrow(/meta/)
    // Removing every old voter is fine as long as the new configuration has one.
    const swapped = applyConfigChange(old, {
      type: 'joint',
      changes: [{ type: 'remove', id: 'a' }, { type: 'remove', id: 'b' }, { type: 'remove', id: 'c' }, { type: 'add-voter', member: member('z') }],
    })
    expect(ids(swapped.voters)).toEqual(['z'])
    expect(() => applyConfigChange(swapped, { type: 'remove', id: 'l' })).toThrow(/joint/)
    expect(() => leaveJoint(old)).toThrow(ConfigError)
    // A single change never produces a joint configuration.
    expect(applyConfigChange(old, { type: 'remove', id: 'c' }).outgoing).toBeUndefined()
  })
})

describe('§6 joint consensus under crashes (randomized)', () => {
  it('keeps every commit consistent and always ends in C(new)', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const { c, leader, replaceBoth } = fiveWithLearners(100 + seed)
      const rnd = c.randomFor('soak', seed)
      const client = c.reconfigure(leader, { type: 'joint', changes: replaceBoth })
      for (let step = 0; step < 8; step++) {
        const running = [...c.nodes.values()].filter((n) => n.running)
        const leaders = c.leaders()
        if (leaders.length > 0) c.propose(leaders[0]!, `s${seed}-${step}`)
        if (rnd.next() < 0.5 && running.length > 3) running[Math.floor(rnd.next() * running.length)]!.crash()
        c.tick(Math.floor(rnd.next() * 60))
        for (const n of c.nodes.values()) if (!n.running && rnd.next() < 0.5) n.start()
      }
      for (const n of c.nodes.values()) if (!n.running) n.start()
      c.tick(3000)
      expect(c.leaders().length, `seed ${seed}`).toBe(1)
      const outcome = c.outcomes.get(client)
      const entered = [...c.nodes.keys()].some((id) => membershipEvents(c, id).some((s) => s.membership.outgoing !== undefined))
      if (!entered) {
        // The joint entry was lost with its leader: nothing changed, and the client was not told it was done.
        expect(outcome?.kind, `seed ${seed}`).not.toBe('committed')
        continue
      }
      const final = [leader, 'd', 'e'].sort()
      for (const id of final) expect(config(c, id), `seed ${seed} node ${id}`).toEqual({ voters: final, outgoing: undefined })
      expect(outcome?.kind, `seed ${seed}`).not.toBe('rejected')
    }
  })
})
