// A replica that replays its own signed messages of views the cluster has
// left (pre-prepares, prepares, commits, view-changes, new-views): after
// every view change and with every status broadcast, a few old-view
// messages go to random peers. Correct replicas drop them (and answer with
// the current NEW-VIEW); with 'old-view' switched off they act on them.
import type { NodeId, ProtocolContext, Random } from '@synod/core'
import { decodeMessage } from '../messages.js'
import type { Attack } from './intercept.js'
import { randomInt, randomPick, tryDecode } from './wire.js'

const KEEP = 512
const PER_REPLAY = 4

export function replayingOldViews(ctx: ProtocolContext, random: Random): Attack {
  const peers = ctx.membership.voters.map((m) => m.id).filter((id) => id !== ctx.self)
  const kept: Array<{ view: number; bytes: Uint8Array }> = []
  let highest = 0
  const replay = (send: (to: NodeId, bytes: Uint8Array) => void) => {
    const old = kept.filter((k) => k.view < highest)
    for (let i = 0; i < PER_REPLAY && old.length > 0; i++) send(randomPick(random, peers), randomPick(random, old).bytes)
  }
  return {
    send(to, bytes, honest) {
      honest(to, bytes)
      const m = tryDecode(bytes, decodeMessage)
      if (m === undefined) return
      if (m.k === 'st') return replay(honest)
      if (m.k !== 'pp' && m.k !== 'p' && m.k !== 'c' && m.k !== 'vc' && m.k !== 'nv') return
      if (kept.length >= KEEP) kept.splice(randomInt(random, kept.length - 1), 1)
      kept.push({ view: m.view, bytes })
      if (m.view > highest) {
        highest = m.view
        replay(honest)
      }
    },
  }
}
