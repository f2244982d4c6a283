// How conformance clients talk to PBFT when a proxy may be Byzantine: each
// command is the client's own signed request (clientAuthentication
// 'signed'), and an answer counts only with a reply certificate of f+1
// members' signatures over the result of exactly that request.
import { InvalidMessageError, type CommandResult, type Membership, type Verifier } from '@synod/core'
import { createVerifier } from '@synod/crypto'
import type { ClientOptions } from '@synod/conformance'
import type { PbftOptions } from '../options.js'
import { verifyReplyCertificate } from '@synod/crypto'

/** The cluster name conformance clients sign for. */
export const PBFT_CONFORMANCE_CLUSTER = 'synod-conformance'

/** The options that make replicas check client signatures (to merge into a conformance run's protocolOptions). */
export const pbftSignedClientOptions: Partial<PbftOptions> = { clientAuthentication: 'signed', cluster: PBFT_CONFORMANCE_CLUSTER }

const ed25519 = createVerifier()

/** Throws unless `answer.proof` is a reply certificate for `command` and `answer.result` from f+1 members. */
export function verifyPbftAnswer(command: Uint8Array, answer: CommandResult, membership: Membership, verifier: Verifier = ed25519): void {
  if (answer.proof === undefined) throw new InvalidMessageError('the answer carries no reply certificate')
  verifyReplyCertificate(answer.proof, membership, verifier, { command, result: answer.result, index: answer.index })
}

/** Conformance clients for PBFT: signed requests (with pbftSignedClientOptions) and verified answers. */
export const pbftClients: ClientOptions = { signedRequests: { cluster: PBFT_CONFORMANCE_CLUSTER }, verifyAnswer: verifyPbftAnswer }

/** Clients that verify answers but send plain commands (clientAuthentication 'proxy'): the stale-reply defence is off. */
export const pbftUnsignedClients: ClientOptions = { verifyAnswer: verifyPbftAnswer }
