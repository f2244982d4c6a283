import { describe, expect, it } from 'vitest'
import type { NodeId } from '@synod/core'
import type { OutboundMessage } from '@synod/transport-memory'
import { executeScenario } from '@synod/conformance'
import { hotstuff } from '../src/index.js'
import { hotstuffAdversary, hotstuffAdversaryScenarios } from '../src/adversaries/index.js'
import { decodeMessage, TestCluster } from './helpers.js'

// The package's forking leader (src/adversaries/fork.ts) runs on r1, which leads views 1, 5, 9, ... at
// n = 4. The network (the test) gives it the one schedule where a fork below the lock does harm:
//
//   P2 ← P1 ← P ← Q   in views v−4 … v−1; r1 leads v, X = r2 leads v+1 (X proposed P1 in v−3).
//
// From view v−2 on, X's messages are lost (it still receives), and the votes of view v−1 never reach r1.
// X, the other collector of view v−1, assembles QC(Q) and commits P1 (a 3-chain P1, P, Q); nobody else
// learns it. r0, r1, r3 time out of v−1 (a TC), and r1 leads v with its highest QC, QC(P) — the forking
// leader instead proposes F, a sibling of P1 (justify QC(P2), the QC of its highest QC's grandparent),
// ordering P1's and P's batches reversed. r0 and r3 are locked on P1 (they saw QC(P)): the lock refuses
// F. With the lock ignored (test-only switch) they vote for it, F is certified, its chain commits, and
// they execute other commands than X at P1's indexes.

const T = 120_000
const ATTACKER = 'r1'
const X = 'r2'
const HONEST: NodeId[] = ['r0', 'r2', 'r3']
const limits = { maxCommandBytes: 1 << 21, maxBlockCommands: 1 << 16 }

function voteView(message: Uint8Array): number | undefined {
  try {
    const m = decodeMessage(message, limits)
    return m.k === 'v' ? m.view : undefined
  } catch {
    return undefined
  }
}

function viewOf(message: Uint8Array): number | undefined {
  try {
    const m = decodeMessage(message, limits)
    return m.k === 'v' || m.k === 't' ? m.view : m.k === 'p' ? m.block.view : undefined
  } catch {
    return undefined
  }
}

interface Run {
  readonly c: TestCluster
  readonly forks: number
  readonly agreement: boolean
  /** Honest commits after the attack window (the cluster kept going). */
  readonly laterCommits: number
}

async function forkRun(seed: number, ignoreLock: boolean, attack = 'fork'): Promise<Run> {
  const c = new TestCluster({
    n: 4,
    seed,
    adversary: { id: ATTACKER, attack },
    tweak: (node) => (node.safety.unsafe.ignoreLock = ignoreLock),
  })
  await c.start()
  let next = 0
  const load = async (ms: number) => {
    // A steady trickle of commands through every replica but X (whose messages are lost in the window).
    for (let t = 0; t < ms; t += 40) {
      void c.propose(['r0', 'r1', 'r3'][next % 3]!, `set k${next % 7} ${next}`)
      next++
      await c.runFor(40)
    }
  }
  await load(400)
  let v = Math.max(...c.ids.map((id) => c.status(id).term)) + 5
  while (v % 4 !== 1) v++
  let cut = false
  c.sim.network.setOutboundFilter(X, (out: OutboundMessage) => {
    if (!cut && (viewOf(out.message) ?? 0) >= v - 2) cut = true
    return cut ? [] : [out]
  })
  const noVotesToAttacker = (out: OutboundMessage) => (out.to === ATTACKER && voteView(out.message) === v - 1 ? [] : [out])
  c.sim.network.setOutboundFilter('r0', noVotesToAttacker)
  c.sim.network.setOutboundFilter('r3', noVotesToAttacker)
  await load(4000)
  for (const id of c.ids) c.sim.network.setOutboundFilter(id, undefined)
  const before = Math.min(...['r0', 'r3'].map((id) => c.committedCount(id)))
  await load(3000)
  await c.runFor(3000)
  const after = Math.min(...['r0', 'r3'].map((id) => c.committedCount(id)))
  let agreement = true
  try {
    c.assertAgreement(HONEST)
  } catch {
    agreement = false
  }
  const forks = c.events.filter((e) => e.node === ATTACKER && e.event.type === 'custom' && e.event.name === 'hotstuff/fork').length
  return { c, forks, agreement, laterCommits: after - before }
}

const SEEDS = [1, 2, 3, 4]

describe('forking leader (a proposal on a stale QC, below the lock)', () => {
  it('with the locking rule, honest replicas refuse the fork: committed logs agree and commits go on', async () => {
    for (const seed of SEEDS) {
      const run = await forkRun(seed, false)
      // The attack ran: the adversary proposed forks (it is not silently absent) ...
      expect(run.forks, `seed ${seed}`).toBeGreaterThan(0)
      // ... and the lock refused them.
      const refused = ['r0', 'r3'].reduce((sum, id) => sum + (run.c.drops(id)['vote-refused-not-safe'] ?? 0), 0)
      expect(refused, `seed ${seed}`).toBeGreaterThan(0)
      expect(run.agreement, `seed ${seed}`).toBe(true)
      expect(run.laterCommits, `seed ${seed}`).toBeGreaterThan(0)
    }
  }, T)

  it('with the lock ignored (test-only switch) the same attack makes honest replicas commit different commands', async () => {
    const harmed: number[] = []
    for (const seed of SEEDS) {
      const run = await forkRun(seed, true)
      expect(run.forks, `seed ${seed}`).toBeGreaterThan(0)
      if (!run.agreement) harmed.push(seed)
    }
    // Every seed: the schedule above is the attack's, the seeds only vary delays.
    expect(harmed).toEqual(SEEDS)
  }, T)

  it("the default attack mix ('all', byzantine-protocol-adversary) forks too when it leads a TC-entered view, and the lock holds", async () => {
    let forks = 0
    for (const seed of SEEDS) {
      const run = await forkRun(seed, false, 'all')
      forks += run.forks
      expect(run.agreement, `seed ${seed}`).toBe(true)
    }
    expect(forks).toBeGreaterThan(0)
  }, T)
})

describe('the conformance scenario runs the forking leader (it is not silently absent)', () => {
  it('hotstuff-forking-leader proposes forks at n = 4 and n = 7', async () => {
    const scenario = hotstuffAdversaryScenarios.find((s) => s.name === 'hotstuff-forking-leader')!
    for (const [seed, nodes] of [
      [1, 4],
      [2, 4],
      [1, 7],
    ] as const) {
      const { record } = await executeScenario({
        factory: hotstuff,
        protocolOptions: { viewTimeoutMs: 300, retransmitMs: 150 },
        scenario,
        seed,
        nodes,
        adversary: hotstuffAdversary,
      })
      const forks = record.timeline.filter((e) => e.kind === 'note' && e.detail.startsWith('hotstuff/fork')).length
      expect(forks, `seed ${seed}, n = ${nodes}`).toBeGreaterThan(0)
    }
  }, T)
})
