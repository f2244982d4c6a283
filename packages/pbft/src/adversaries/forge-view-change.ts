// A replica whose VIEW-CHANGEs carry forged certificates: a stable
// checkpoint one interval past its real one (the largest stable checkpoint
// wins in the new view) with a made-up state digest, and, for every
// sequence number it holds a prepared certificate for, an empty batch
// claimed prepared in the view just before the new one (the highest
// possible, so the O set would pick it). The signatures are the original,
// now mismatching ones; its own signature on the VIEW-CHANGE is valid.
// Correct replicas verify every certificate and drop the message; with
// 'view-change-certificates' switched off the new view adopts a checkpoint
// nobody can supply the state of, and the correct replicas stall.
import type { ProtocolContext } from '@synod/core'
import { sha256 } from '../digest.js'
import { batchDigest, decodeMessage, encodeSignedBody, encodeViewChangeBody, statement, type PreparedCertificate } from '../messages.js'
import type { Attack } from './intercept.js'
import { tryDecode } from './wire.js'

export function forgingViewChanges(ctx: ProtocolContext, checkpointInterval: number): Attack {
  const signer = ctx.signer!
  const forged = new Map<number, Uint8Array>()
  return {
    send(to, bytes, honest) {
      const m = tryDecode(bytes, decodeMessage)
      if (m?.k !== 'vc' || m.replica !== ctx.self || m.view === 0) return honest(to, bytes)
      let message = forged.get(m.view)
      if (message === undefined) {
        const prepared: PreparedCertificate[] = m.prepared.map((p) => ({ ...p, view: m.view - 1, bundles: [], digest: batchDigest([]) }))
        const checkpoint = { seq: m.checkpoint.seq + checkpointInterval, digest: sha256(statement('forged-state', m.view)), votes: m.checkpoint.votes }
        const body = encodeViewChangeBody(
          m.view,
          ctx.self,
          checkpoint,
          prepared.filter((p) => p.seq > checkpoint.seq),
        )
        message = encodeSignedBody('vc', body, signer.sign(statement('view-change', sha256(body))))
        if (forged.size > 64) forged.clear()
        forged.set(m.view, message)
      }
      honest(to, message)
    },
  }
}
