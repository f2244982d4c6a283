// A replica that replays its own signed messages of views the cluster has
// left: after every view change and with every status broadcast, its old
// NEW-VIEWs and VIEW-CHANGEs go to every peer and a few old pre-prepares,
// prepares and commits to random ones. Correct replicas drop them (and
// answer with the current NEW-VIEW); with 'old-view' switched off they act
// on them and are dragged back into views the others have left.
import type { NodeId, ProtocolContext, Random } from '@synod/core'
import { decodeMessage } from '../messages.js'
import type { Attack } from './intercept.js'
import { randomInt, randomPick, tryDecode } from './wire.js'

const KEEP = 512
const PER_REPLAY = 4
const KEEP_VIEW_MESSAGES = 16

export function replayingOldViews(ctx: ProtocolContext, random: Random): Attack {
  const peers = ctx.membership.voters.map((m) => m.id).filter((id) => id !== ctx.self)
  const kept: Array<{ view: number; bytes: Uint8Array }> = []
  /** Its NEW-VIEWs and VIEW-CHANGEs, by view: the messages that move replicas between views. */
  const viewMessages = new Map<string, { view: number; bytes: Uint8Array }>()
  let highest = 0
  const replay = (send: (to: NodeId, bytes: Uint8Array) => void) => {
    for (const m of viewMessages.values()) if (m.view < highest) for (const peer of peers) send(peer, m.bytes)
    const old = kept.filter((k) => k.view < highest)
    for (let i = 0; i < PER_REPLAY && old.length > 0; i++) send(randomPick(random, peers), randomPick(random, old).bytes)
  }
  return {
    send(to, bytes, honest) {
      honest(to, bytes)
      const m = tryDecode(bytes, decodeMessage)
      if (m === undefined) return
      // A status goes to every peer: replay once per broadcast.
      if (m.k === 'st') return to === peers[0] ? replay(honest) : undefined
      if (m.k !== 'pp' && m.k !== 'p' && m.k !== 'c' && m.k !== 'vc' && m.k !== 'nv') return
      if (m.k === 'vc' || m.k === 'nv') {
        if (viewMessages.size >= KEEP_VIEW_MESSAGES) viewMessages.delete(viewMessages.keys().next().value!)
        viewMessages.set(`${m.k}/${m.view}`, { view: m.view, bytes })
      } else {
        if (kept.length >= KEEP) kept.splice(randomInt(random, kept.length - 1), 1)
        kept.push({ view: m.view, bytes })
      }
      if (m.view > highest) {
        highest = m.view
        replay(honest)
      }
    },
  }
}
