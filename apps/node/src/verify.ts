// Client-side check of a byzantine answer: the reply certificate must carry
// f+1 valid signatures of distinct members over (command, result, index), with
// the members' keys taken from a config the client trusts — never from the
// node that answered.
import { fromHex, membership, SynodError } from '@synod/core'
import { createVerifier } from '@synod/crypto'
import { decodeResult, kvCommands } from '@synod/kv'
import { verifyReplyCertificate } from '@synod/pbft'
import type { MemberConfig } from './config.js'
import type { KvResponse } from './kv-client.js'

export interface VerifiedGet {
  readonly value: string | null
  readonly signers: readonly string[]
}

export function verifyGet(key: string, answer: KvResponse, members: readonly MemberConfig[]): VerifiedGet {
  if (answer.certificate === undefined || answer.result === undefined)
    throw new SynodError('NOT_VERIFIABLE', 'the answer carries no reply certificate (is the cluster running a byzantine protocol?)')
  const trusted = membership(members.map((m) => ({ id: m.id, publicKey: fromHex(m.publicKey) })))
  const result = fromHex(answer.result)
  const verified = verifyReplyCertificate(fromHex(answer.certificate), trusted, createVerifier(), {
    command: kvCommands.get(key),
    result,
    index: answer.index,
  })
  const decoded = decodeResult(result)
  if (!decoded.ok || decoded.op !== 'get') throw new SynodError('NOT_VERIFIABLE', 'the certified result is not a get result')
  const value = decoded.value === null ? null : decoded.value instanceof Uint8Array ? new TextDecoder().decode(decoded.value) : JSON.stringify(decoded.value.map((e) => new TextDecoder().decode(e)))
  if (value !== (answer.value ?? null)) throw new SynodError('NOT_VERIFIABLE', 'the node reported a value different from the certified result')
  return { value, signers: verified.signers }
}
