// A verifying client for the byzantine protocols (PBFT, HotStuff): an answer
// counts only with a reply certificate of f+1 members over the result of the
// exact command, and with every field the result determines equal to it.
// The runner's requests are unsigned, so the certificate binds the plain
// command (kvCommands.put(key, value) …): it proves that the cluster ordered
// and executed *a* command with these arguments and this result. Writes carry
// unique values, so a replayed certificate cannot stand for a new write; a
// replayed read certificate is a stale read, which linearizability catches.
// Members' keys come from the configuration the runner wrote — never from
// the node that answered.
import { checkCertifiedFields } from '@synod/client'
import { fromHex, type Membership, membership } from '@synod/core'
import { createVerifier, verifyReplyCertificate } from '@synod/crypto'
import { decodeResult, kvCommands } from '@synod/kv'
import type { CheckResult } from '@synod/conformance'

export type VerifiedCall =
  | { readonly f: 'read'; readonly key: string }
  | { readonly f: 'write'; readonly key: string; readonly value: string }
  | { readonly f: 'cas'; readonly key: string; readonly expected: string | null; readonly value: string }

export class AnswerVerifier {
  readonly members: Membership
  private readonly verifier = createVerifier()
  verified = 0
  unverified = 0
  /** The first few refusals, with the node that gave them, for the report. */
  readonly examples: string[] = []

  constructor(members: ReadonlyArray<{ readonly id: string; readonly publicKey: string }>) {
    this.members = membership(members.map((m) => ({ id: m.id, publicKey: fromHex(m.publicKey) })))
  }

  /** Undefined when the answer is the cluster's certified answer to `call`; otherwise why not (and counted). */
  check(call: VerifiedCall, body: Record<string, unknown>, node: string): string | undefined {
    const why = this.reason(call, body)
    if (why === undefined) this.verified++
    else {
      this.unverified++
      if (this.examples.length < 5) this.examples.push(`${node}: ${call.f} ${call.key}: ${why}`)
    }
    return why
  }

  private reason(call: VerifiedCall, body: Record<string, unknown>): string | undefined {
    const { certificate, result, index } = body
    if (typeof certificate !== 'string' || typeof result !== 'string') return 'no reply certificate'
    const command =
      call.f === 'read' ? kvCommands.get(call.key) : call.f === 'write' ? kvCommands.put(call.key, call.value) : kvCommands.cas(call.key, call.expected, call.value)
    try {
      const resultBytes = fromHex(result)
      verifyReplyCertificate(fromHex(certificate), this.members, this.verifier, { command, result: resultBytes, ...(typeof index === 'number' ? { index } : {}) })
      checkCertifiedFields(body, decodeResult(resultBytes))
      return undefined
    } catch (error) {
      return (error as Error).message
    }
  }

  /** The checker's verdict: a violation when any node gave an answer without a valid certificate. */
  result(): CheckResult {
    return {
      checker: 'certificates',
      verdict: this.unverified === 0 ? 'ok' : 'violation',
      violations: this.examples.map((message) => ({ checker: 'certificates', message: `an answer without a valid reply certificate (${message})` })),
      note: `${this.verified} answers verified, ${this.unverified} refused (not believed: recorded as unknown)`,
    }
  }
}

/** Members' ids and keys from a node's configuration file (JSON, as prepareCluster writes it). */
export function membersOf(config: string): Array<{ id: string; publicKey: string }> {
  const raw = JSON.parse(config) as { members?: Array<{ id?: unknown; publicKey?: unknown }> }
  if (!Array.isArray(raw.members)) throw new Error('the configuration has no members')
  return raw.members.map((m) => {
    if (typeof m.id !== 'string' || typeof m.publicKey !== 'string') throw new Error('a member without id or publicKey')
    return { id: m.id, publicKey: m.publicKey }
  })
}
