// A primary that censors one proxy (and so every client behind it): it
// orders everyone else's requests but silently drops that proxy's, whether
// sent to it directly or relayed by backups. Other requests keep executing,
// so a view-change timer that only watches "any progress" never fires; a
// correct PBFT needs per-request timers (§4.4) to replace such a primary.
import type { NodeId, ProtocolContext } from '@synod/core'
import { decodeMessage } from '../messages.js'
import type { Attack } from './intercept.js'
import { tryDecode } from './wire.js'

/** The censored proxy: the member after this one (so that it differs from the attacker at every n). */
export function censoredProxy(ctx: ProtocolContext): NodeId {
  const ids = ctx.membership.voters.map((m) => m.id)
  return ids[(ids.indexOf(ctx.self) + 1) % ids.length]!
}

export function censoringPrimary(ctx: ProtocolContext): Attack {
  const victim = censoredProxy(ctx)
  return {
    receive(from, bytes, honest) {
      const m = tryDecode(bytes, decodeMessage)
      if (m?.k === 'rq' && m.bundle.proxy === victim) return
      honest(from, bytes)
    },
  }
}
