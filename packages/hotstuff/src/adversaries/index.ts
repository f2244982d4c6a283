// HotStuff's own Byzantine replica for the conformance suite (`@synod/hotstuff/adversaries`); not part of
// the main entry.
import type { NodeId, ProtocolContext } from '@synod/core'
import type { AdversaryContext, ProtocolAdversary } from '@synod/conformance'
import { decodeMessage, encodeProposal, encodeVote, makeBlock, voteDigest } from '../messages.js'
import { HotstuffNode } from '../node.js'
import type { HotstuffOptions } from '../options.js'

const limits = { maxCommandBytes: 1 << 21, maxBlockCommands: 1 << 16 }

/**
 * HotStuff's own attacks for the conformance suite's byzantine-protocol-adversary
 * scenario, run by one replica with its real key:
 * - equivocating leader: half the replicas get a different block for the same view
 *   (same parent and QC, batches dropped or reordered);
 * - invalid QCs: some proposals carry a justify QC with a broken signature;
 * - double voting: every vote is followed by a vote for a block that does not exist;
 * - inflated views: votes for views far ahead.
 */
export const hotstuffAdversary: ProtocolAdversary<HotstuffOptions> = (adversary: AdversaryContext<HotstuffOptions>) => ({
  ...adversary.factory,
  create: (ctx, options) => new HotstuffNode(equivocatingContext(ctx, adversary), options),
})

function equivocatingContext(ctx: ProtocolContext, adversary: AdversaryContext<HotstuffOptions>): ProtocolContext {
  const random = adversary.random
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
