import { clientIdOf, decodeSignedClientRequest, InvalidMessageError, isSignedClientRequest } from '@synod/core'
import { decodeCommand, type KvCommand, type KvSession } from './command.js'
import { plainBytes } from './bytes.js'
import { SIGNED_SESSION_KEY } from './sessions.js'

/** A command as the state machine runs it, whichever way it arrived. */
export interface KvRequest {
  readonly command: KvCommand
  /** The exactly-once session, if any. */
  readonly session: KvSession | undefined
  /** The signed client's id (hex public key) when the command came in a signed envelope. */
  readonly client: string | undefined
}

export interface DecodeRequestOptions {
  /**
   * Accept a plain command whose session has a signed client's key shape
   * (`<client id>:<session>`). Only where whoever proposes is trusted to have
   * authenticated that client (crash-fault protocols: the daemon checked a
   * session MAC or a TLS certificate at its edge); never under a byzantine
   * protocol, where a replica could otherwise act in a signed client's session.
   */
  readonly vouchedSessions?: boolean
}

/**
 * Decode a plain encoded command or a signed client request envelope whose
 * `operation` is a plain command without a session. An envelope's session is
 * `${clientId}:${session}` with the envelope's timestamp as seq; plain
 * commands may not use that key shape, so no unsigned client can pose as a
 * signed one. Malformed input throws InvalidMessageError.
 *
 * The envelope's signature is NOT verified here: a byzantine protocol
 * (PBFT) verifies it before a command can be ordered, and for crash protocols
 * (Raft) the daemon verified it at the edge before proposing, and the log is
 * trusted. Re-verifying on every apply and replay would cost a signature check
 * per entry for nothing.
 */
export function decodeRequest(bytes: Uint8Array, options: DecodeRequestOptions = {}): KvRequest {
  const plain = plainBytes(bytes)
  if (!isSignedClientRequest(plain)) {
    const command = decodeCommand(plain)
    if (command.session !== undefined && options.vouchedSessions !== true && SIGNED_SESSION_KEY.test(command.session.client))
      throw new InvalidMessageError(`client '${command.session.client}' has the shape of a signed client's session; sign the request instead`)
    return { command, session: command.session, client: undefined }
  }
  const envelope = decodeSignedClientRequest(plain)
  const command = decodeCommand(envelope.operation)
  if (command.session !== undefined) throw new InvalidMessageError('the operation of a signed request carries no session (the envelope is the session)')
  const client = clientIdOf(envelope.client)
  return { command, session: { client: `${client}:${envelope.session}`, seq: envelope.timestamp }, client }
}
