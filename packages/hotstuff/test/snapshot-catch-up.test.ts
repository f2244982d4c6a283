import { toHex, utf8 } from '@synod/core'
import { sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { decodeMessage, Forger, isResult, TestCluster } from './helpers.js'

// Simulator tests budget in virtual time; the wall-clock timeout is generous for a busy machine.
const T = 60_000
const limits = { maxCommandBytes: 1 << 20, maxBlockCommands: 4096 }

interface Scenario {
  /** Test switch: r3 keeps its mempool when it installs a snapshot. */
  readonly keepMempool?: boolean
  /** Test switch: r3 keeps the commands of its own proposals that timed out. */
  readonly keepFailedProposalCommands?: boolean
  /** The proxies' batches reach r3 only after it installed the snapshot (queued behind it, as on a busy machine). */
  readonly lateBatches?: boolean
}

/**
 * Found by apps/node/test/hotstuff-faults.test.ts (real processes): r3 gets
 * the proxies' command batches but none of the blocks that commit them, then
 * catches up through a snapshot (the blocks are pruned), skipping those
 * blocks. If r3 still holds those commands, as leader it proposes commands
 * the others already committed; they never vote for a committed tag again,
 * so every view r3 leads fails. With r1 down as well, the only three
 * consecutive correct leaders are r2, r3, r0, so nothing commits any more.
 */
async function catchUpBySnapshotThenLoseR1(scenario: Scenario) {
  const c = new TestCluster({
    n: 4,
    options: { retainCommittedBlocks: 4, snapshotInterval: 4, maxBlockCommands: 4 },
    tweak: (node, id) => {
      if (id !== 'r3') return
      node.keepMempoolOnSnapshot = scenario.keepMempool ?? false
      node.keepFailedProposalCommands = scenario.keepFailedProposalCommands ?? false
    },
  })
  await c.start()
  // r3 sees no consensus traffic (proposals, votes, syncs, blocks, snapshots); command batches pass, or wait.
  const late: Array<{ from: string; message: Uint8Array }> = []
  for (const from of ['r0', 'r1', 'r2'])
    c.sim.network.setOutboundFilter(from, (out) => {
      if (out.to !== 'r3') return [out]
      if (decodeMessage(out.message, limits).k !== 'c') return []
      if (scenario.lateBatches === true) {
        late.push({ from, message: out.message })
        return []
      }
      return [out]
    })
  // A client of r3: the others commit its command (r3's own batches go out), r3 never sees that block.
  const own = c.propose('r3', 'set mine 1')
  const first = await c.settle(Array.from({ length: 40 }, (_, i) => c.propose(`r${i % 3}`, `set k${i} a`)), 20_000)
  expect(first.every(isResult)).toBe(true)
  expect(c.status('r3').commitIndex).toBe(0)
  if (scenario.lateBatches !== true) expect(c.status('r3').detail!['mempool'] as number).toBeGreaterThan(0)
  for (const from of ['r0', 'r1', 'r2']) c.sim.network.setOutboundFilter(from, undefined)
  // One more command brings r3 a proposal it cannot place: it fetches, is offered snapshots, catches up.
  await c.settle([c.propose('r0', 'set last 1')], 20_000)
  await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 20_000)
  expect(c.status('r3').counters['snapshots.installed']).toBeGreaterThan(0)
  const ownAnswer = scenario.keepMempool === true ? undefined : await own
  expect([...c.commits.get('r0')!.values()]).toContain(toHex(sha256(utf8('set mine 1'))))
  if (scenario.lateBatches === true) {
    const forger = new Forger(c)
    for (const { from, message } of late) forger.inject(from, 'r3', message)
    await c.runFor(50)
    expect(c.status('r3').detail!['mempool'] as number).toBeGreaterThan(0)
  }
  // Now f = 1 is used up by r1: progress needs r3 to lead its views successfully.
  c.node('r1').crash()
  const second = Array.from({ length: 12 }, (_, i) => c.propose(['r0', 'r2', 'r3'][i % 3]!, `set k${i} b`))
  let answered = 0
  for (const p of second) void p.then((r) => (answered += isResult(r) ? 1 : 0))
  // Within the budget (less than the 20 s request timeout): a request that fails counts as not answered.
  await c.runUntil(() => answered === second.length, 15_000)
  c.assertAgreement()
  return { answered, orphans: c.status('r3').detail!['orphans'] as number, ownAnswer }
}

describe('catch-up through a snapshot', () => {
  it('clears the mempool of commands the skipped blocks may have committed, so the replica leads views that succeed', async () => {
    const { answered, orphans, ownAnswer } = await catchUpBySnapshotThenLoseR1({})
    expect(answered).toBe(12)
    // r3's own client, whose command committed in a block the snapshot skipped: its outcome is unknown to r3.
    expect(ownAnswer).toMatchObject({ code: 'TIMEOUT' })
    // Blocks that were waiting for a parent below the installed snapshot are forgotten too (bounded orphan space).
    expect(orphans).toBe(0)
  }, T)

  it('with the mempool kept (test switch), its proposals carry committed commands nobody votes for, and the cluster stalls', async () => {
    // Its own client's committed command is local, so forgetting the other proxies' commands does not help.
    const { answered } = await catchUpBySnapshotThenLoseR1({ keepMempool: true })
    expect(answered).toBe(0)
  }, T)

  it("committed commands that reach it after the snapshot cost one failed view: a leader whose proposal timed out forgets the other proxies' commands", async () => {
    const { answered } = await catchUpBySnapshotThenLoseR1({ lateBatches: true })
    expect(answered).toBe(12)
  }, T)

  it('with the commands of a timed-out proposal kept (test switch), late committed commands stall the cluster', async () => {
    const { answered } = await catchUpBySnapshotThenLoseR1({ lateBatches: true, keepFailedProposalCommands: true })
    expect(answered).toBe(0)
  }, T)
})

/**
 * Found by apps/node/test/hotstuff-faults.test.ts beside a CPU hog: a replica
 * that received the blocks (so it never fetched them) but not the batches they
 * order could not execute them once every peer had pruned those blocks — a
 * request for the batches by digest finds them nowhere — and stayed behind
 * for good, its own clients timing out. Asking for the batches as a fetch of
 * the block lets a peer that pruned it answer with its snapshot.
 */
async function blocksWithoutBatches(askBatchesByDigest: boolean) {
  const c = new TestCluster({
    n: 4,
    options: { retainCommittedBlocks: 4, snapshotInterval: 4, maxBlockCommands: 4 },
    tweak: (node, id) => {
      if (id === 'r3') node.askBatchesByDigest = askBatchesByDigest
    },
  })
  await c.start()
  // r3 gets proposals, votes and certificates, but no batch and no fetch answer (which carries batches).
  for (const from of ['r0', 'r1', 'r2'])
    c.sim.network.setOutboundFilter(from, (out) => (out.to === 'r3' && ['c', 'b'].includes(decodeMessage(out.message, limits).k) ? [] : [out]))
  const first = await c.settle(Array.from({ length: 40 }, (_, i) => c.propose(`r${i % 3}`, `set k${i} a`)), 20_000)
  expect(first.every(isResult)).toBe(true)
  // It holds the blocks (it voted for none: it never had their batches) and committed nothing.
  expect(c.status('r3').detail!['blocks'] as number).toBeGreaterThan(10)
  expect(c.status('r3').commitIndex).toBe(0)
  for (const from of ['r0', 'r1', 'r2']) c.sim.network.setOutboundFilter(from, undefined)
  await c.settle(Array.from({ length: 6 }, (_, i) => c.propose(`r${i % 3}`, `set k${i} b`)), 20_000)
  await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 10_000)
  c.assertAgreement()
  return { behind: c.status('r0').commitIndex - c.status('r3').commitIndex, snapshots: c.status('r3').counters['snapshots.installed'] ?? 0 }
}

describe('a replica that has the blocks but not their batches', () => {
  it('catches up through a snapshot once every peer pruned the blocks', async () => {
    const { behind, snapshots } = await blocksWithoutBatches(false)
    expect(behind).toBe(0)
    expect(snapshots).toBeGreaterThan(0)
  }, T)

  it('asking for the batches by digest (test switch), it stays behind for good', async () => {
    const { behind, snapshots } = await blocksWithoutBatches(true)
    expect(behind).toBeGreaterThan(40)
    expect(snapshots).toBe(0)
  }, T)
})

/** `count` closed-loop clients of r0–r2 (in turn), each proposing its next command once the last is answered, until `stop`. */
function keepProposing(c: TestCluster, count: number): { stop(): void } {
  let running = true
  const client = async (via: string, w: number) => {
    for (let i = 0; running; i++) await c.propose(via, `set w${w}-${i} x`)
  }
  for (let w = 0; w < count; w++) void client(`r${w % 3}`, w)
  return { stop: () => void (running = false) }
}

/**
 * A replica catching up while the others keep committing needs f+1 matching
 * snapshot offers, but each peer offers its latest snapshot, which moves on as
 * it commits. Offers gathered one retry at a time (here 2 s apart) rarely
 * match; so the replica asks every peer at once, and every peer whose kept
 * history starts above the replica's root offers its snapshot, whatever block
 * was asked for.
 */
async function catchUpUnderLoad(offerSnapshotsOnlyForPrunedBlocks: boolean) {
  const c = new TestCluster({
    n: 4,
    options: { retainCommittedBlocks: 4, snapshotInterval: 2, maxBlockCommands: 4, retransmitMs: 2000 },
    tweak: (node) => {
      node.offerSnapshotsOnlyForPrunedBlocks = offerSnapshotsOnlyForPrunedBlocks
    },
  })
  await c.start()
  const clients = keepProposing(c, 6)
  for (const from of ['r0', 'r1', 'r2']) c.sim.network.setOutboundFilter(from, (out) => (out.to === 'r3' ? [] : [out]))
  await c.runFor(3000)
  expect(c.status('r0').detail!['committedHeight'] as number).toBeGreaterThan(8)
  for (const from of ['r0', 'r1', 'r2']) c.sim.network.setOutboundFilter(from, undefined)
  const healedAt = c.sim.now()
  await c.runUntil(() => (c.status('r3').counters['snapshots.installed'] ?? 0) > 0, 10_000)
  const installedAfterMs = (c.status('r3').counters['snapshots.installed'] ?? 0) > 0 ? c.sim.now() - healedAt : Infinity
  const othersCommitted = c.status('r0').detail!['committedHeight'] as number
  clients.stop()
  c.assertAgreement()
  return { installedAfterMs, othersCommitted }
}

describe('catch-up through a snapshot while the others keep committing', () => {
  it('gathers f+1 matching offers in one round', async () => {
    const { installedAfterMs } = await catchUpUnderLoad(false)
    expect(installedAfterMs).toBeLessThan(1000)
  }, T)

  it('offering snapshots only for pruned blocks asked for (test switch), the offers never match', async () => {
    const { installedAfterMs, othersCommitted } = await catchUpUnderLoad(true)
    expect(installedAfterMs).toBe(Infinity)
    // Not for want of progress: the others committed on and on meanwhile.
    expect(othersCommitted).toBeGreaterThan(50)
  }, T)
})

/**
 * A replica far behind fetches the parent of every proposal it receives, and
 * every peer it asks offers it the snapshot (whole: it may be large). Until it
 * installs one, each peer sends the same snapshot at most once per retransmit
 * interval.
 */
async function offersToALaggard(unlimitedSnapshotOffers: boolean) {
  const retransmitMs = 1000
  const c = new TestCluster({
    n: 4,
    options: { retainCommittedBlocks: 4, snapshotInterval: 4, maxBlockCommands: 4, retransmitMs },
    tweak: (node) => {
      node.unlimitedSnapshotOffers = unlimitedSnapshotOffers
    },
  })
  await c.start()
  for (const from of ['r0', 'r1', 'r2']) c.sim.network.setOutboundFilter(from, (out) => (out.to === 'r3' ? [] : [out]))
  await c.settle(Array.from({ length: 30 }, (_, i) => c.propose(`r${i % 3}`, `set k${i} a`)), 20_000)
  // Healed, except that r3 never gets an offer (so it never installs and keeps fetching); each is counted.
  const offers: Array<{ from: string; height: number; at: number }> = []
  for (const from of ['r0', 'r1', 'r2'])
    c.sim.network.setOutboundFilter(from, (out) => {
      if (out.to !== 'r3') return [out]
      const m = decodeMessage(out.message, limits)
      if (m.k !== 'o') return [out]
      offers.push({ from, height: m.block.height, at: c.sim.now() })
      return []
    })
  const clients = keepProposing(c, 3)
  await c.runFor(5000)
  clients.stop()
  const repeats = offers.filter((o, i) => offers.slice(0, i).some((p) => p.from === o.from && p.height === o.height && o.at - p.at < retransmitMs))
  return { offers: offers.length, repeats: repeats.length }
}

describe('snapshot offers to a replica far behind', () => {
  it('each peer sends the same snapshot at most once per retransmit interval', async () => {
    const { offers, repeats } = await offersToALaggard(false)
    expect(offers).toBeGreaterThan(0)
    expect(repeats).toBe(0)
  }, T)

  it('unlimited (test switch), a snapshot goes out again with every fetch', async () => {
    const { offers, repeats } = await offersToALaggard(true)
    // Here (5 s, three peers, 1 s interval): about 130 offers, three in four of them repeats, against about 33.
    expect(repeats).toBeGreaterThan(offers / 2)
  }, T)
})
