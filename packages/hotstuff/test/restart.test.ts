import { describe, expect, it } from 'vitest'
import { toHex } from '@synod/core'
import { decodeMessage, encodeProposal, Forger, GENESIS, GENESIS_QC, isResult, TestCluster } from './helpers.js'

const limits = { maxCommandBytes: 1 << 20, maxBlockCommands: 4096 }

/**
 * A restarted replica must not vote twice in a view (the safety state is
 * persisted before the vote leaves). A faulty leader (r1, view 1) shows r2
 * block A, r2 votes and crashes; after the restart the leader shows it a
 * conflicting block B for the same view.
 */
async function equivocateAcrossRestart(forgetVotes: boolean): Promise<string[]> {
  const c = new TestCluster({ n: 4, tweak: (node) => (node.safety.unsafe.forgetVotes = forgetVotes) })
  c.sim.network.setOutboundFilter('r1', () => []) // the real r1 stays silent; the forger speaks for it
  const votes: string[] = []
  c.sim.network.setOutboundFilter('r2', (out) => {
    const m = decodeMessage(out.message, limits)
    if (m.k === 'v' && m.view === 1) votes.push(toHex(m.block))
    return [out]
  })
  await c.start()
  const forger = new Forger(c)
  const a = forger.block('r1', 1, GENESIS, GENESIS_QC, ['set x a'])
  const b = forger.block('r1', 1, GENESIS, GENESIS_QC, ['set x b'])
  for (const message of [...forger.batchesFor(a), ...forger.batchesFor(b)]) forger.inject('r1', 'r2', message)
  await c.runFor(20)
  forger.inject('r1', 'r2', encodeProposal(a))
  await c.runFor(50)
  await c.node('r2').restart()
  // The mempool is volatile: the proxy's retransmission brings the commands back.
  for (const message of [...forger.batchesFor(a), ...forger.batchesFor(b)]) forger.inject('r1', 'r2', message)
  await c.runFor(20)
  forger.inject('r1', 'r2', encodeProposal(b))
  await c.runFor(50)
  return [...new Set(votes)]
}

describe('crash-restart (safety state persisted before the vote leaves)', () => {
  it('a restarted replica does not vote for a second block in a view it voted in', async () => {
    const voted = await equivocateAcrossRestart(false)
    expect(voted).toHaveLength(1)
  }, 60_000)

  it('with the safety state not persisted (test switch), the same replica double-votes', async () => {
    const voted = await equivocateAcrossRestart(true)
    expect(voted).toHaveLength(2)
  }, 60_000)

  it('a replica that restarts mid-run recovers its committed state and keeps agreeing', async () => {
    const c = new TestCluster({ n: 4, options: { snapshotInterval: 4 } })
    await c.start()
    const first = await c.settle(Array.from({ length: 30 }, (_, i) => c.propose(`r${i % 4}`, `set k${i % 5} ${i}`)))
    expect(first.every(isResult)).toBe(true)
    await c.node('r3').restart()
    const second = await c.settle(Array.from({ length: 30 }, (_, i) => c.propose(`r${i % 4}`, `set k${i % 5} x${i}`)))
    expect(second.every(isResult)).toBe(true)
    await c.runUntil(() => c.status('r3').commitIndex === c.status('r0').commitIndex, 5000)
    expect(c.status('r3').commitIndex).toBe(c.status('r0').commitIndex)
    c.assertAgreement()
  }, 60_000)
})
