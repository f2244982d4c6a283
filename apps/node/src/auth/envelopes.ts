// Whether the KV state machine applies signed client-request envelopes
// (the @synod/kv that unwraps them lands separately; issue #12/#13). A probe
// on a scratch state machine, never the replicated one: when it answers, a
// signed write is proposed as the client's envelope, so the log records who
// asked and the state machine can check the client's role; otherwise as a
// plain command with the client's session (checked at the edge only).
// Remove once every supported @synod/kv takes envelopes.
import { encodeSignedClientRequest } from '@synod/core'
import { decodeResult, KvStateMachine, kvCommands } from '@synod/kv'

export function kvTakesEnvelopes(): boolean {
  const probe = encodeSignedClientRequest({
    client: new Uint8Array(32).fill(1),
    session: 0,
    timestamp: 1,
    operation: kvCommands.get('probe'),
    signature: new Uint8Array(64),
  })
  const result = decodeResult(new KvStateMachine().apply(probe, 1))
  return result.ok
}
