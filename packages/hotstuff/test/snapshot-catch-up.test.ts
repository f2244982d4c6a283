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
