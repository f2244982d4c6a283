// A new primary that withholds its NEW-VIEW from f replicas: the view
// installs with the others (2f+1 with itself), while the withheld replicas
// stay in the view change. A correct PBFT lets them catch up (a NEW-VIEW
// relayed by any replica is as good as the primary's: it is signed and
// carries its proof) or move on with the f+1 rule.
import { byzantineFaults, type NodeId, type ProtocolContext } from '@synod/core'
import { decodeMessage } from '../messages.js'
import type { Attack } from './intercept.js'
import { tryDecode } from './wire.js'

/** The replicas that never get this primary's NEW-VIEWs: the f last members other than itself. */
export function withheldFrom(ctx: ProtocolContext): NodeId[] {
  const others = ctx.membership.voters.map((m) => m.id).filter((id) => id !== ctx.self)
  return others.slice(others.length - byzantineFaults(ctx.membership.voters.length))
}

export function withholdingPrimary(ctx: ProtocolContext): Attack {
  const withheld = new Set(withheldFrom(ctx))
  return {
    send(to, bytes, honest) {
      if (withheld.has(to) && tryDecode(bytes, decodeMessage)?.k === 'nv') return
      honest(to, bytes)
    },
  }
}
