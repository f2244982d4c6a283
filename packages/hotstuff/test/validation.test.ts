import { describe, expect, it } from 'vitest'
import { encodeCanonical } from '@synod/core'
import { makeBlock } from '../src/messages.js'
import { encodeProposal, encodeTimeout, encodeVote, Forger, GENESIS, GENESIS_QC, TestCluster, timeoutDigest, voteDigest, type TestClusterOptions } from './helpers.js'

/**
 * Every message is checked; a well-formed but wrong one is dropped and
 * counted in status().detail.drops (never thrown, never acted on).
 * r1 leads view 1 and view 5 at n = 4; the forger speaks with r1's key.
 */
async function setup(tweak?: TestClusterOptions['tweak']) {
  const c = new TestCluster({ n: 4, ...(tweak === undefined ? {} : { tweak }) })
  c.sim.network.setOutboundFilter('r1', () => [])
  await c.start()
  return { c, forger: new Forger(c) }
}

describe('message validation (dropped and counted)', () => {
  it('proposals: not from the view leader, unjustified or far-future views, bad QCs of every kind', async () => {
    const { c, forger } = await setup()
    const qcFor = (signers: string[], bad: string[] = []) => forger.qc(1, GENESIS.hash, signers, bad)
    // r2 is not the leader of view 1.
    forger.inject('r2', 'r3', encodeProposal(forger.block('r2', 1, GENESIS, GENESIS_QC, ['x'])))
    // View 3 with a genesis QC and no TC: nothing justifies it.
    forger.inject('r3', 'r3', encodeProposal(forger.block('r3', 3, GENESIS, GENESIS_QC, ['x'])))
    // Far future (view 10^6, leader r0): dropped before any signature is checked.
    forger.inject('r0', 'r3', encodeProposal(forger.block('r0', 1_000_000, GENESIS, GENESIS_QC, ['x'])))
    // QCs for a fake block 1, proposed in view 2 by r2: too few signers, a bad signature, duplicates, a non-member.
    const fake = forger.block('r1', 1, GENESIS, GENESIS_QC, ['fake'])
    const bad = [
      qcFor(['r0', 'r1']),
      qcFor(['r0', 'r1', 'r2'], ['r2']),
      { ...qcFor(['r0', 'r1']), signatures: [...qcFor(['r0', 'r1']).signatures, qcFor(['r0']).signatures[0]!] },
      qcFor(['r0', 'r1', 'intruder']),
    ]
    for (const qc of bad) forger.inject('r2', 'r3', encodeProposal(forger.block('r2', 2, fake, { ...qc, block: fake.hash }, ['y'])))
    await c.runFor(100)
    const drops = c.drops('r3')
    expect(drops['proposal-not-from-leader']).toBe(1)
    expect(drops['unjustified-view']).toBe(1)
    expect(drops['far-future-view']).toBe(1)
    expect(drops['qc-too-few-signers']).toBe(1)
    expect(drops['qc-bad-signature']).toBe(1)
    expect(drops['qc-duplicate-signer']).toBe(1)
    expect(drops['qc-not-a-voter']).toBe(1)
    expect(c.status('r3').detail!['lastVotedView']).toBe(0)
    expect(c.status('r3').term).toBe(1)
  }, 60_000)

  it('votes and timeouts with bad signatures, duplicate votes; malformed bytes are refused by the Replica', async () => {
    const { c, forger } = await setup()
    const block = forger.block('r1', 1, GENESIS, GENESIS_QC, ['x'])
    // r2 collects votes of view 1 (next leader); r0 signs, the bytes claim r3 sent it.
    forger.inject('r3', 'r2', encodeVote(1, block.hash, forger.sign('r0', voteDigest(1, block.hash))))
    forger.inject('r0', 'r2', encodeVote(1, block.hash, forger.sign('r0', voteDigest(1, block.hash))))
    forger.inject('r0', 'r2', encodeVote(1, block.hash, forger.sign('r0', voteDigest(1, block.hash))))
    forger.inject('r3', 'r2', encodeTimeout(1, GENESIS_QC, undefined, forger.sign('r0', timeoutDigest(1))))
    forger.inject('r3', 'r2', encodeCanonical({ k: 'zz' }))
    await c.runFor(100)
    const drops = c.drops('r2')
    expect(drops['bad-vote-signature']).toBe(1)
    expect(drops['duplicate-vote']).toBe(1)
    expect(drops['bad-timeout-signature']).toBe(1)
    expect(c.status('r2').counters['dropped.invalid']).toBe(1)
  }, 60_000)

  it('with certificate checks off (test switch), a forged QC moves a replica (what the checks defend)', async () => {
    const { c, forger } = await setup((node) => (node.certificates.skipChecks = true))
    const fake = forger.block('r1', 1, GENESIS, GENESIS_QC, ['fake'])
    const forged = forger.qc(1, fake.hash, ['r0', 'r1'])
    forger.inject('r1', 'r3', encodeProposal(fake))
    await c.runFor(20)
    forger.inject('r2', 'r3', encodeProposal(forger.block('r2', 2, fake, forged, ['y'])))
    await c.runFor(100)
    expect(c.status('r3').detail!['highQCView']).toBe(1)
  }, 60_000)
})

describe('commands are vouched for by their proxy', () => {
  it('a replica votes only for commands it received signed from their proxy; with the check off it votes for invented ones', async () => {
    for (const off of [false, true]) {
      const { c, forger } = await setup((node) => (node.voteUnheldCommands = off))
      // r1 (view 1's leader) proposes a command "from r0" that r0 never sent.
      const block = forger.block('r1', 1, GENESIS, GENESIS_QC, [])
      // A batch r0 never sent (the leader cannot sign it as r0: it is missing, not forged, here).
      const invented = forger.batch('r0', 1, [new TextEncoder().encode('set x invented')])
      forger.inject('r1', 'r3', encodeProposal(makeBlock({ ...block, batches: [invented.digest] })))
      await c.runFor(100)
      expect(c.status('r3').detail!['lastVotedView']).toBe(off ? 1 : 0)
      if (!off) expect(c.drops('r3')['vote-waits-for-commands']).toBe(1)
    }
  }, 60_000)
})
