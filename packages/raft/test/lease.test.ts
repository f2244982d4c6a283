// Lease reads, dissertation §6.4.1: a leader serves reads without a heartbeat
// round only while it holds a lease that a quorum acknowledged, and never
// after another leader could have been elected. Each defence is also switched
// off (leaseTesting) to show the stale read it prevents.
import { NotLeaderError, type NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { leaseTesting } from '../src/lease.js'
import { decode, MessageType, TestCluster } from './helpers/cluster.js'

const ids = ['a', 'b', 'c']
const HEARTBEAT = 40 // 40 offsets: every millisecond of the heartbeat cycle
const ELECTION = 150

afterEach(() => {
  leaseTesting.leaseWithoutAcknowledgement = false
  leaseTesting.keepLeaseDuringTransfer = false
  leaseTesting.grantVotesRightAfterRestart = false
})

function leaseCluster(seed: number, extra: Partial<{ maxClockDrift: number; latencyMs: number }> = {}): TestCluster {
  return new TestCluster(ids, {
    seed,
    ...(extra.latencyMs === undefined ? {} : { latencyMs: extra.latencyMs }),
    raft: {
      readMode: 'lease',
      electionTimeoutMs: ELECTION,
      heartbeatIntervalMs: HEARTBEAT,
      ...(extra.maxClockDrift === undefined ? {} : { maxClockDrift: extra.maxClockDrift }),
    },
  })
}

/**
 * With `old` cut off from the others, read on `old` every millisecond while
 * the others elect a leader and commit a write. A read that `old` serves
 * after that write was acknowledged, without reflecting it, is stale (old
 * never receives it). Returns the number of stale reads and of reads served.
 */
function readsAfterIsolation(c: TestCluster, old: NodeId, budgetMs = 1200): { stale: number; served: number; wrote: boolean } {
  const reads: Array<{ id: number; at: number }> = []
  let write: number | undefined
  let writeAckedAt: number | undefined
  let writeIndex = 0
  for (let t = 0; t < budgetMs; t++) {
    if (c.node(old).status.role === 'leader') reads.push({ id: c.read(old), at: c.now })
    const other = c.leaders().find((id) => id !== old)
    if (other !== undefined && write === undefined) write = c.propose(other, 'new-write')
    if (write !== undefined && writeAckedAt === undefined) {
      const outcome = c.outcomes.get(write)
      if (outcome?.kind === 'committed') {
        writeAckedAt = c.now
        writeIndex = outcome.index
      }
    }
    if (writeAckedAt !== undefined && c.node(old).status.role !== 'leader') break
    c.tick(1)
  }
  let stale = 0
  let served = 0
  for (const r of reads) {
    const outcome = c.outcomes.get(r.id)
    if (outcome?.kind !== 'read') continue
    served++
    if (writeAckedAt !== undefined && r.at >= writeAckedAt && outcome.applied < writeIndex) stale++
  }
  return { stale, served, wrote: writeAckedAt !== undefined }
}

/** A cluster in steady state with a lease, then the leader cut off `offset` ms after a heartbeat round. */
function isolateAtOffset(c: TestCluster, offset: number): NodeId {
  c.startAll()
  const leader = c.waitForLeader()
  c.propose(leader, 'w0')
  c.tick(100)
  // Align to the leader's heartbeat round: wait for its next heartbeat, then `offset` ms more.
  let heartbeat = false
  c.filter = (e) => {
    if (e.from === leader && decode(e.bytes).type === MessageType.Heartbeat) heartbeat = true
    return true
  }
  c.runUntil(() => heartbeat, 200)
  c.filter = undefined
  c.tick(offset)
  c.isolate(leader)
  return leader
}

describe('§6.4.1 lease reads', () => {
  it('a leader cut off at each of 40 points of its heartbeat cycle never serves a stale lease read', () => {
    let servedAny = 0
    for (let offset = 0; offset < 40; offset++) {
      const c = leaseCluster(offset + 1)
      const old = isolateAtOffset(c, offset)
      const { stale, served, wrote } = readsAfterIsolation(c, old)
      expect(wrote, `offset ${offset}: the majority elected a leader and wrote`).toBe(true)
      expect(stale, `offset ${offset}`).toBe(0)
      servedAny += served
    }
    // The lease is used: the cut-off leader still served reads until its lease ran out.
    expect(servedAny).toBeGreaterThan(0)
  })

  it('with the lease check switched off (the old behaviour) the same sweep serves stale reads', () => {
    leaseTesting.leaseWithoutAcknowledgement = true
    let staleOffsets = 0
    for (let offset = 0; offset < 40; offset++) {
      const c = leaseCluster(offset + 1)
      const old = isolateAtOffset(c, offset)
      if (readsAfterIsolation(c, old).stale > 0) staleOffsets++
    }
    expect(staleOffsets).toBeGreaterThan(10)
  })

  it('a new leader has no lease before a quorum acknowledges one of its rounds; reads fall back to ReadIndex', () => {
    for (const unsafe of [false, true]) {
      leaseTesting.leaseWithoutAcknowledgement = unsafe
      let staleSeeds = 0
      for (let seed = 1; seed <= 10; seed++) {
        const c = leaseCluster(seed)
        // Heartbeat answers never reach anyone: a new leader commits its no-op but is never granted a lease.
        c.filter = (e) => decode(e.bytes).type !== MessageType.HeartbeatResponse
        c.startAll()
        const leader = c.waitForLeader()
        c.runUntil(() => c.node(leader).status.commitIndex >= 1, 100)
        expect(c.node(leader).status.detail!['leaseUntil']).toBeUndefined()
        const fallback = c.read(leader)
        c.tick(5)
        // ReadIndex needs the heartbeat answers the filter drops: not served, and certainly not stale.
        if (!unsafe) expect(c.outcomes.has(fallback)).toBe(false)
        c.isolate(leader)
        c.filter = undefined
        if (readsAfterIsolation(c, leader).stale > 0) staleSeeds++
      }
      if (unsafe) expect(staleSeeds).toBe(10)
      else expect(staleSeeds).toBe(0)
    }
  })

  it('lease reads are served without messages once a round is acknowledged, and the lease ends electionTimeout × (1 − drift) after that round was sent', () => {
    const c = leaseCluster(3)
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(5)
    const until = c.node(leader).status.detail!['leaseUntil'] as number
    expect(until).toBeGreaterThan(c.now)
    expect(until).toBeLessThanOrEqual(c.now + ELECTION * 0.9)
    let sent = 0
    c.filter = () => {
      sent++
      return true
    }
    const r = c.read(leader)
    expect(c.outcomes.get(r)?.kind).toBe('read')
    expect(sent).toBe(0)
    // Cut off: the lease is not renewed, so after it ends a read needs a (hopeless) ReadIndex round.
    c.isolate(leader)
    c.tick(Math.ceil(until - c.now) + 1)
    expect(c.node(leader).status.role).toBe('leader')
    const late = c.read(leader)
    c.tick(5)
    expect(c.outcomes.has(late)).toBe(false)
  })

  it('an isolated new leader steps down at its first CheckQuorum: only the leader counts as active at election', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const c = new TestCluster(ids, { seed, raft: { electionTimeoutMs: ELECTION, heartbeatIntervalMs: HEARTBEAT } })
      let leader: NodeId | undefined
      // Cut the first leader off as soon as it sends anything as leader (before any follower answers it).
      c.filter = (e) => {
        if (leader === undefined && c.node(e.from).status.role === 'leader') leader = e.from
        return leader === undefined || (e.from !== leader && e.to !== leader)
      }
      c.startAll()
      c.runUntil(() => leader !== undefined, 2000)
      const electedAt = c.now
      c.runUntil(() => c.node(leader!).status.role !== 'leader', 2 * ELECTION + 10)
      // Its first check, one election timeout after winning (+ a heartbeat of timer granularity).
      expect(c.now - electedAt).toBeLessThanOrEqual(ELECTION + HEARTBEAT)
    }
  })
})

describe('clock drift and the lease', () => {
  function sweep(leaderRate: number, followerRate: number, maxClockDrift: number): number {
    let staleOffsets = 0
    for (let offset = 0; offset < 40; offset++) {
      const c = leaseCluster(100 + offset, { maxClockDrift })
      const old = isolateAtOffset(c, offset)
      // Worst case for the lease: the old leader's clock slow, the others' fast.
      c.node(old).setClockRate(leaderRate)
      for (const id of ids) if (id !== old) c.node(id).setClockRate(followerRate)
      if (readsAfterIsolation(c, old).stale > 0) staleOffsets++
    }
    return staleOffsets
  }

  it('drift inside the bound is safe: leader clock 4% slow, followers 4% fast, maxClockDrift 0.1', () => {
    expect(sweep(0.96, 1.04, 0.1)).toBe(0)
  })

  it('drift outside the bound (leader 20% slow, followers 20% fast, maxClockDrift 0) can serve stale reads: the bound is an assumption', () => {
    expect(sweep(0.8, 1.2, 0)).toBeGreaterThan(0)
  })

  it('maxClockDrift is validated', () => {
    for (const bad of [-0.1, 1, 2, Number.NaN])
      expect(() => leaseCluster(1, { maxClockDrift: bad }).startAll()).toThrow(/maxClockDrift/)
  })
})

describe('leadership transfer ends the lease', () => {
  function transferWithOldLeaderDeaf(seed: number): { stale: boolean; refused: boolean } {
    const c = leaseCluster(seed)
    c.startAll()
    const leader = c.waitForLeader()
    c.propose(leader, 'w0')
    c.tick(10)
    expect(c.node(leader).status.detail!['leaseUntil']).toBeGreaterThan(c.now)
    const target = ids.find((id) => id !== leader)!
    // From now on the old leader hears nothing: it cannot learn that the target took over.
    c.filter = (e) => e.to !== leader
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(target))
    const during = c.outcomes.get(c.propose(leader, 'during-transfer'))
    c.runUntil(() => c.node(target).status.role === 'leader', 100)
    const w = c.propose(target, 'new-write')
    c.runUntil(() => c.outcomes.get(w)?.kind === 'committed', 100)
    const writeIndex = (c.outcomes.get(w) as { index: number }).index
    const r = c.read(leader)
    c.tick(5)
    const outcome = c.outcomes.get(r)
    return {
      stale: outcome?.kind === 'read' && outcome.applied < writeIndex,
      refused: during?.kind === 'rejected',
    }
  }

  it('a leader that starts a transfer serves no more lease reads (and refuses proposals meanwhile)', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const { stale, refused } = transferWithOldLeaderDeaf(seed)
      expect(stale).toBe(false)
      expect(refused).toBe(true)
    }
  })

  it('with the lease kept during the transfer (the old behaviour) the old leader serves a stale read', () => {
    leaseTesting.keepLeaseDuringTransfer = true
    for (let seed = 1; seed <= 5; seed++) expect(transferWithOldLeaderDeaf(seed).stale).toBe(true)
  })

  it('an abandoned transfer leaves reads on ReadIndex for the rest of the term', () => {
    const c = leaseCluster(7)
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const target = ids.find((id) => id !== leader)!
    c.isolate(target)
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(target))
    c.tick(ELECTION + HEARTBEAT) // abandoned after an election timeout
    expect(c.node(leader).status.detail!['transferTarget']).toBeUndefined()
    expect(c.node(leader).status.role).toBe('leader')
    expect(c.node(leader).status.detail!['leaseUntil']).toBeUndefined()
    let heartbeats = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.Heartbeat) heartbeats++
      return true
    }
    const r = c.read(leader)
    c.deliver()
    expect(c.outcomes.get(r)?.kind).toBe('read')
    expect(heartbeats).toBeGreaterThan(0) // a ReadIndex round, not the lease
  })

  it('sends TimeoutNow once per transfer', () => {
    const c = leaseCluster(2)
    c.startAll()
    const leader = c.waitForLeader()
    c.tick(10)
    const target = ids.find((id) => id !== leader)!
    let timeoutNows = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.TimeoutNow) timeoutNows++
      // The target never acts on it, so the leader keeps receiving its acknowledgements.
      return decode(e.bytes).type !== MessageType.TimeoutNow
    }
    const node = c.node(leader)
    node.batch(() => node.raft.transferLeadership(target))
    c.tick(ELECTION - 10)
    expect(timeoutNows).toBe(1)
  })
})

describe('a restarted follower and the lease', () => {
  // b answers the leader's heartbeats, crashes and restarts at once, and is asked for its vote by c,
  // which has not heard from the leader for long: granting it would let c win while a's lease runs.
  function restartDuringLease(seed: number): number {
    // (seeds vary when `other` next campaigns relative to b's restart)
    const c = leaseCluster(seed)
    c.startAll()
    const leader = c.waitForLeader()
    const [b, other] = ids.filter((id) => id !== leader) as [NodeId, NodeId]
    c.propose(leader, 'w0')
    c.tick(20)
    c.cut(leader, [other]) // `other` stops hearing the leader and will campaign
    c.tick(ELECTION - 20)
    // Right after b acknowledged a heartbeat round, it crashes and restarts.
    let acked = false
    c.filter = (e) => {
      if (e.from === b && decode(e.bytes).type === MessageType.HeartbeatResponse) acked = true
      return true
    }
    c.runUntil(() => acked, 200)
    c.filter = undefined
    c.node(b).crash()
    c.node(b).start()
    c.isolate(leader) // the lease it holds now is all it has
    return readsAfterIsolation(c, leader, 600).stale
  }

  it('refuses votes for an election timeout after a restart in lease mode', () => {
    for (let seed = 1; seed <= 20; seed++) expect(restartDuringLease(seed), `seed ${seed}`).toBe(0)
  })

  it('granting votes right after a restart (switched off) lets another leader commit while the lease runs', () => {
    leaseTesting.grantVotesRightAfterRestart = true
    let stale = 0
    for (let seed = 1; seed <= 20; seed++) if (restartDuringLease(seed) > 0) stale++
    expect(stale).toBeGreaterThan(0)
  })

  it('a follower read in lease mode is answered from the leader\'s lease (no heartbeat round); with followerReads off it is refused', () => {
    const c = leaseCluster(1)
    c.startAll()
    const leader = c.waitForLeader()
    const follower = ids.find((id) => id !== leader)!
    c.runUntil(() => c.node(leader).status.detail?.leaseUntil !== undefined, 500)
    let heartbeats = 0
    c.filter = (e) => {
      if (decode(e.bytes).type === MessageType.Heartbeat) heartbeats++
      return true
    }
    const r = c.read(follower)
    c.deliver()
    expect(c.outcomes.get(r)?.kind).toBe('read')
    expect(heartbeats).toBe(0)

    const off = new TestCluster(ids, { seed: 1, raft: { readMode: 'lease', followerReads: false } })
    off.startAll()
    const offLeader = off.waitForLeader()
    const outcome = off.outcomes.get(off.read(ids.find((id) => id !== offLeader)!)) as { kind: string; error: unknown }
    expect(outcome.error).toBeInstanceOf(NotLeaderError)
  })
})
