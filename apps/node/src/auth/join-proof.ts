// A node that asks to join signs its member record with its own key (at
// `synod init --join`, or when `synod members add --node-config` reads its
// key), so an admin cannot be tricked into adding a key nobody holds, and the
// addresses that go into the replicated membership are the node's own.
import { encodeCanonical, fromHex, toHex, type Signer, type Verifier } from '@synod/core'
import type { MemberConfig } from '../config.js'
import { HttpError } from '../http-error.js'

export const JOIN_REQUEST_DOMAIN = 'synod/join-request/v1'

export interface JoinProof {
  /** Milliseconds since the epoch when the node signed (informative; the admin decides when to act on it). */
  readonly timestamp: number
  /** ed25519 signature by the member's key, hex. */
  readonly signature: string
}

function statement(member: MemberConfig, cluster: string, timestamp: number): Uint8Array {
  return encodeCanonical([JOIN_REQUEST_DOMAIN, cluster, member.id, fromHex(member.publicKey), [...member.addrs], member.http ?? null, timestamp])
}

export function signJoinRequest(signer: Signer, member: MemberConfig, cluster: string, timestamp = Date.now()): JoinProof {
  return { timestamp, signature: toHex(signer.sign(statement(member, cluster, timestamp))) }
}

/** Throws 400 JOIN_PROOF_REQUIRED / BAD_JOIN_PROOF unless `proof` is the member's signature over its record. */
export function checkJoinProof(verifier: Verifier, member: MemberConfig, proof: unknown, cluster: string): void {
  if (proof === undefined)
    throw new HttpError(400, 'JOIN_PROOF_REQUIRED', "adding a member needs its signed join request ('proof'): use synod members add --node-config or --join-request")
  if (typeof proof !== 'object' || proof === null || Array.isArray(proof)) throw new HttpError(400, 'BAD_JOIN_PROOF', "'proof' must be { timestamp, signature }")
  const { timestamp, signature } = proof as Record<string, unknown>
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0 || typeof signature !== 'string' || !/^[0-9a-f]{128}$/.test(signature))
    throw new HttpError(400, 'BAD_JOIN_PROOF', "'proof' must be { timestamp: integer, signature: 128 hex characters }")
  if (!verifier.verify(fromHex(member.publicKey), statement(member, cluster, timestamp), fromHex(signature)))
    throw new HttpError(400, 'BAD_JOIN_PROOF', `the join request is not signed by ${member.id}'s key (or was made for other addresses or another cluster)`)
}
