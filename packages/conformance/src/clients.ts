// How the workload's clients talk to a protocol whose answers carry proofs
// (a Byzantine protocol's proxy may lie): clients can sign each command as
// their own request (so no two requests have the same bytes, and a proof for
// an older one cannot pass for a newer one), and check every answer's proof
// before they believe it. A rejected answer counts as no answer.
import {
  encodeSignedClientRequest,
  isSignedClientRequest,
  decodeSignedClientRequest,
  signClientRequest,
  type CommandResult,
  type Membership,
  type Signer,
  type Verifier,
  type StateMachine,
} from '@synod/core'
import { nodeKeys } from './keys.js'

export interface ClientOptions {
  /**
   * Clients send every command as a SignedClientRequest (@synod/core) for
   * `cluster`: one workload identity (derived from the seed), one session per
   * client, strictly growing timestamps; the state machine is given the
   * envelope's operation. For protocols that authenticate clients.
   */
  readonly signedRequests?: { readonly cluster: string }
  /**
   * Throws when `answer` is not the cluster's answer to `command` (the exact
   * bytes the client sent, envelope included). The workload then treats the
   * attempt as unanswered (its outcome unknown) and tries another node.
   */
  /** `verifier` checks signatures in the run's scheme (see useConformanceCrypto). */
  readonly verifyAnswer?: (command: Uint8Array, answer: CommandResult, membership: Membership, verifier: Verifier) => void
}

/** Wraps each client's commands in its own signed envelope (a session per client, growing timestamps). */
export class RequestWrapper {
  private readonly signer: Signer
  private readonly timestamps = new Map<number, number>()

  constructor(
    seed: number,
    private readonly cluster: string,
  ) {
    this.signer = nodeKeys(seed, ['workload-client'])[0]!.signer
  }

  wrap(client: number, operation: Uint8Array): Uint8Array {
    const timestamp = (this.timestamps.get(client) ?? 0) + 1
    this.timestamps.set(client, timestamp)
    return encodeSignedClientRequest(signClientRequest(this.signer, { session: client, timestamp, operation }, this.cluster))
  }
}

/** A state machine that applies the operation of a signed envelope (the replicas checked the signature before ordering it). */
export function unwrappingStateMachine(inner: StateMachine): StateMachine {
  const operation = (command: Uint8Array) => (isSignedClientRequest(command) ? decodeSignedClientRequest(command).operation : command)
  return {
    apply: (command, index) => inner.apply(operation(command), index),
    query: (request) => inner.query(operation(request)),
    snapshot: () => inner.snapshot(),
    restore: (snapshot) => inner.restore(snapshot),
  }
}
