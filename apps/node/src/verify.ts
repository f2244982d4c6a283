// Client-side check of a byzantine answer: the reply certificate must carry
// f+1 (ordered) or 2f+1 (read-only) valid signatures of distinct members over
// the result of the exact request this client signed, with the members' keys
// taken from a config the client trusts — never from the node that answered.
import { fromHex, membership, SynodError } from '@synod/core'
import { verifyKvAnswer } from '@synod/client'
import { createVerifier } from '@synod/crypto'
import { decodeResult, kvCommands, type KvResult } from '@synod/kv'
import { verifyReplyCertificate } from '@synod/pbft'
import type { MemberConfig } from './config.js'
import type { KvResponse } from '@synod/client'

export interface VerifiedAnswer {
  readonly result: KvResult
  readonly signers: readonly string[]
}

export interface VerifiedGet {
  readonly value: string | null
  readonly signers: readonly string[]
}

function trusted(members: readonly MemberConfig[]) {
  return membership(members.map((m) => ({ id: m.id, publicKey: fromHex(m.publicKey) })))
}

function certified(answer: KvResponse): { certificate: Uint8Array; result: Uint8Array } {
  if (answer.certificate === undefined || answer.result === undefined)
    throw new SynodError('NOT_VERIFIABLE', 'the answer carries no reply certificate (is the cluster running a byzantine protocol?)')
  return { certificate: fromHex(answer.certificate), result: fromHex(answer.result) }
}

/**
 * Verify the answer to the signed request `envelope` (the bytes this client signed). A certificate for
 * another request — an older one of this client, or another client's — is rejected.
 */
export function verifyAnswer(envelope: Uint8Array, answer: KvResponse, members: readonly MemberConfig[]): VerifiedAnswer {
  const verified = verifyKvAnswer(envelope, { ...certified(answer), index: answer.index }, trusted(members))
  return { result: verified.kv, signers: verified.signers }
}

/** The value a certified get result holds, as the API reports it. */
export function certifiedValue(result: KvResult): string | null {
  if (!result.ok || result.op !== 'get') throw new SynodError('NOT_VERIFIABLE', 'the certified result is not a get result')
  const value = result.value
  if (value === null) return null
  return value instanceof Uint8Array ? new TextDecoder().decode(value) : JSON.stringify(value.map((e) => new TextDecoder().decode(e)))
}

/**
 * An unauthenticated cluster's get: the certificate binds only the plain command, so it proves the value
 * was the cluster's answer to *a* get of `key` — not that it is fresh (sign requests for that).
 */
export function verifyGet(key: string, answer: KvResponse, members: readonly MemberConfig[]): VerifiedGet {
  const { certificate, result } = certified(answer)
  const verified = verifyReplyCertificate(certificate, trusted(members), createVerifier(), { command: kvCommands.get(key), result, index: answer.index })
  const value = certifiedValue(decodeResult(result))
  if (value !== (answer.value ?? null)) throw new SynodError('NOT_VERIFIABLE', 'the node reported a value different from the certified result')
  return { value, signers: verified.signers }
}
