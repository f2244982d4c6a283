// A proxy that answers a client with a stale reply certificate: the first
// time an operation is asked it is ordered honestly and the answer (result
// and its valid certificate of f+1 signed replies) is kept; every later
// request for the same operation gets that old answer at once, without being
// ordered. With 'proxy' client authentication a read's command bytes repeat,
// so the old certificate verifies for the new request and the client reads
// a stale value; with 'signed' clients the certificate binds the client's
// envelope (session, timestamp) and the client rejects it.
import { decodeSignedClientRequest, toHex, type ClientRef, type ProtocolContext } from '@synod/core'
import type { Answer, Attack } from './intercept.js'
import { tryDecode } from './wire.js'

const KEEP = 4096

/** What the client asked, whichever way it is wrapped: the signed envelope's operation, or the command itself. */
function operationKey(command: Uint8Array): string {
  return toHex(tryDecode(command, (bytes) => decodeSignedClientRequest(bytes).operation) ?? command)
}

export function staleReplyProxy(ctx: ProtocolContext): Attack {
  const asked = new Map<ClientRef, string>()
  const answers = new Map<string, Answer>()
  return {
    propose(command, client, honest) {
      const key = operationKey(command)
      const old = answers.get(key)
      if (old === undefined || old.proof === undefined) {
        asked.set(client, key)
        return honest(command, client)
      }
      ctx.setTimer(1, () => ctx.respond(client, old))
    },
    respond(client, answer, honest) {
      const key = asked.get(client)
      asked.delete(client)
      if (key !== undefined && answer.proof !== undefined && !answers.has(key)) {
        if (answers.size >= KEEP) answers.clear()
        answers.set(key, answer)
      }
      honest(client, answer)
    },
  }
}
