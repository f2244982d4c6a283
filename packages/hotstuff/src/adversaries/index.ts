// HotStuff's own Byzantine replica for the conformance suite (`@synod/hotstuff/adversaries`); not part of
// the main entry.
import type { NodeId, ProtocolContext, Random } from '@synod/core'
import type { AdversaryContext, ProtocolAdversary, Scenario } from '@synod/conformance'
import { decodeMessage, encodeProposal, encodeVote, makeBlock, voteDigest } from '../messages.js'
import { HotstuffNode } from '../node.js'
import type { HotstuffOptions } from '../options.js'
import { ForkingLeader } from './fork.js'

export { ForkingLeader, type ForkOptions } from './fork.js'

const limits = { maxCommandBytes: 1 << 21, maxBlockCommands: 1 << 16 }

/** The scenario's `attack`: 'all' (the default) runs every attack below at once; 'fork' only the forking leader. */
export const HOTSTUFF_ATTACKS = ['all', 'fork'] as const
export type HotstuffAttack = (typeof HOTSTUFF_ATTACKS)[number]

/**
 * HotStuff's own attacks for the conformance suite, run by one replica with
 * its real key. 'all' (byzantine-protocol-adversary):
 * - equivocating leader: half the replicas get a different block for the same view
 *   (same parent and QC, batches dropped or reordered);
 * - invalid QCs: some proposals carry a justify QC with a broken signature;
 * - double voting: every vote is followed by a vote for a block that does not exist;
 * - inflated views: votes for views far ahead;
 * - forking leader (half the time it can): leading a view entered by a TC, it proposes on a
 *   stale QC below the others' lock (see ForkingLeader).
 * 'fork' (hotstuff-forking-leader): the forking leader alone, every time it can.
 */
export const hotstuffAdversary: ProtocolAdversary<HotstuffOptions> = (adversary: AdversaryContext<HotstuffOptions>) => {
  const attack = (adversary.attack ?? 'all') as HotstuffAttack
  if (!HOTSTUFF_ATTACKS.includes(attack)) throw new RangeError(`unknown hotstuff attack '${attack}'; known: ${HOTSTUFF_ATTACKS.join(', ')}`)
  return {
    ...adversary.factory,
    create: (ctx, options) => {
      const fork = new ForkingLeader(ctx, adversary.random, { rate: attack === 'fork' ? 1 : 0.5 })
      // The node sends through the fork first; in 'all' the equivocation layer then sees (and may alter) the fork.
      const outer = attack === 'fork' ? ctx : equivocatingContext(ctx, adversary.random)
      const forking = Object.assign(Object.create(outer) as ProtocolContext, {
        send: (to: NodeId, message: Uint8Array) => fork.send(to, message, (t, m) => outer.send(t, m)),
      })
      return fork.watch(new HotstuffNode(forking, options))
    },
  }
}

function equivocatingContext(ctx: ProtocolContext, random: Random): ProtocolContext {
  const peers: NodeId[] = ctx.membership.voters.map((m) => m.id).filter((id) => id !== ctx.self)
  const send = (to: NodeId, message: Uint8Array): void => {
    let m
    try {
      m = decodeMessage(message, limits)
    } catch {
      return ctx.send(to, message)
    }
    if (m.k === 'p' && peers.indexOf(to) % 2 === 1) {
      const b = m.block
      if (random.next() < 0.2) {
        // An invalid QC: one signature flipped (every receiver must drop it).
        const signatures = b.justify.signatures.map((s, i) => (i === 0 ? { ...s, signature: flip(s.signature) } : s))
        return ctx.send(to, encodeProposal(makeBlock({ ...b, justify: { ...b.justify, signatures } }), m.tc))
      }
      const batches = random.next() < 0.5 ? [] : [...b.batches].reverse()
      return ctx.send(to, encodeProposal(makeBlock({ ...b, batches }), m.tc))
    }
    ctx.send(to, message)
    if (m.k === 'v' && ctx.signer !== undefined) {
      const fake = new Uint8Array(32)
      for (let i = 0; i < 32; i++) fake[i] = Math.floor(random.next() * 256)
      const view = random.next() < 0.2 ? m.view + 1000 : m.view
      ctx.send(to, encodeVote(view, fake, ctx.signer.sign(voteDigest(view, fake))))
    }
  }
  return Object.assign(Object.create(ctx) as ProtocolContext, { send })
}

function flip(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice()
  out[5]! ^= 0x10
  return out
}

/**
 * Isolate the replica at index 0 twice for 700 ms: it leads the view before
 * the attacker's (index 1) in every round, so each round's view of index 0
 * ends by a TC and the attacker leads the next one — where a fork on a
 * stale QC is justified and only the lock stands in its way.
 */
const isolateLeaderBeforeAttacker: Scenario['chaos'] = [200, 1200].flatMap((at) => [
  { at, kind: 'partition', shape: { kind: 'isolate', target: { index: 0 } } } as const,
  { at: at + 700, kind: 'heal' } as const,
])

/** HotStuff's own scenarios (run for HotStuff alone by the runner). */
export const hotstuffAdversaryScenarios: readonly Scenario[] = [
  {
    name: 'hotstuff-forking-leader',
    description:
      'A replica leading a view entered by a TC proposes on a stale QC below the lock (orphaning locked blocks, their batches re-ordered), signed with its real key, while the replica leading just before it is isolated (twice, 700 ms).',
    faultModel: 'byzantine',
    adversaries: [{ index: 1, behaviour: 'protocol', attack: 'fork' }],
    chaos: isolateLeaderBeforeAttacker,
    chaosMs: 2000,
    healMs: 3000,
  },
]
