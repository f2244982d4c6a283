// Authenticated clients (PBFT TOCS'02 §4.1; HotStuff likewise): in 'signed' mode every command a
// replica orders is a client's SignedClientRequest, and every replica checks
// the client's signature before it vouches for a batch (prepare) or relays a
// request. A Byzantine proxy or primary therefore cannot execute anything in
// the name of a client whose key it does not hold; the reply certificate's
// leaf binds the envelope bytes, so a client accepts only the answer to the
// request it signed (docs/adr/0006-client-identity.md).
import { decodeSignedClientRequest, verifyClientRequest } from './client-request.js'
import { toHex } from './codec.js'
import type { Verifier } from './runtime-contracts.js'

const MAX_VERIFIED = 1 << 16

export class ClientRequestChecker {
  /** Signatures already checked (retransmissions, relays, the primary's own pre-prepares): verified once. */
  private readonly verified = new Set<string>()

  constructor(
    private readonly verifier: Verifier,
    private readonly cluster: string,
    private readonly maxOperationBytes: number,
  ) {}

  /** True when `command` is a well-formed envelope whose signature is the client's for this cluster. */
  check(command: Uint8Array): boolean {
    let request
    try {
      request = decodeSignedClientRequest(command, this.maxOperationBytes + 1024)
    } catch {
      return false
    }
    const key = toHex(request.signature)
    if (this.verified.has(key)) return true
    if (!verifyClientRequest(this.verifier, request, this.cluster)) return false
    if (this.verified.size >= MAX_VERIFIED) this.verified.clear()
    this.verified.add(key)
    return true
  }

  /** Every command of a bundle is a valid client request. */
  checkAll(commands: readonly Uint8Array[]): boolean {
    for (const command of commands) if (!this.check(command)) return false
    return true
  }
}
