// An equivocating primary (Castro & Liskov §4.2): for each sequence number
// it sends different, validly signed pre-prepares to different backups, in
// groups of at most 2f−1 backups per batch so that no batch can gather a
// prepared certificate honestly. Correct replicas must never execute
// different batches at one sequence number; the view-change timer replaces
// the primary. With 'vote-digest' switched off they do diverge.
import { byzantineFaults, type NodeId, type ProtocolContext, type Random } from '@synod/core'
import { batchDigest, decodeMessage, encodePrePrepare, statement, type Bundle, type PrePrepare } from '../messages.js'
import type { Attack } from './intercept.js'
import { randomInt, tryDecode } from './wire.js'

const MAX_PLANS = 1024

export function equivocatingPrimary(ctx: ProtocolContext, random: Random): Attack {
  const signer = ctx.signer!
  const others = ctx.membership.voters.map((m) => m.id).filter((id) => id !== ctx.self)
  const group = Math.max(1, 2 * byzantineFaults(ctx.membership.voters.length) - 1)
  const plans = new Map<string, Map<NodeId, Uint8Array>>()
  const variantOf = (pp: PrePrepare, i: number): readonly Bundle[] => {
    if (i === 0) return pp.bundles
    // A different batch of the same (authentic) bundles: none at all, or the first one twice (the copy executes as a duplicate).
    if (i % 2 === 1) return []
    return [...pp.bundles, ...Array.from({ length: i / 2 }, () => pp.bundles[0]!)]
  }
  const plan = (pp: PrePrepare): Map<NodeId, Uint8Array> => {
    const shuffled = [...others]
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = randomInt(random, i)
      ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
    }
    const byBackup = new Map<NodeId, Uint8Array>()
    shuffled.forEach((backup, position) => {
      const variant = Math.floor(position / group)
      if (variant === 0) return
      const bundles = variantOf(pp, variant)
      const sig = signer.sign(statement('pre-prepare', pp.view, pp.seq, batchDigest(bundles)))
      byBackup.set(backup, encodePrePrepare(pp.view, pp.seq, bundles, sig))
    })
    return byBackup
  }
  return {
    send(to, bytes, honest) {
      const m = tryDecode(bytes, decodeMessage)
      if (m?.k !== 'pp' || m.bundles.length === 0) return honest(to, bytes)
      const key = `${m.view}/${m.seq}`
      let byBackup = plans.get(key)
      if (byBackup === undefined) {
        if (plans.size >= MAX_PLANS) plans.clear()
        plans.set(key, (byBackup = plan(m)))
      }
      honest(to, byBackup.get(to) ?? bytes)
    },
  }
}
