// Authenticated HTTP sessions (docs/adr/0011-http-sessions.md): sign once,
// then MAC each request. The client signs a session-open (POST
// /v1/auth/session) whose operation binds a fresh x25519 key; the node
// answers with its own ephemeral key and a session id; both derive an HMAC
// key, and every later request carries HMAC-SHA256 of the same statement a
// signature would cover (cluster, client key, session, timestamp, operation).
import { clientRequestStatement, encodeCanonical, fromHex, InvalidMessageError, toHex } from '@synod/core'
import { type EphemeralKeyPair, generateEphemeralKeyPair, hmacSha256Key, httpSessionKey, type KeyedMac } from '@synod/crypto'

export const AUTH_SESSION_PATH = '/v1/auth/session'
export const AUTH_SESSION_HEADER = 'synod-auth-session'
export const MAC_HEADER = 'synod-mac'

/** The operation bytes a session-open signs: they bind the client's ephemeral key (the server derives the same). */
export function sessionOpenOperation(x25519Hex: string): Uint8Array {
  return encodeCanonical({ op: 'auth-session', x25519: x25519Hex })
}

/** A session-open to sign and send: POST `body` to AUTH_SESSION_PATH with the signature over `operation`. */
export interface SessionOpening {
  readonly ephemeral: EphemeralKeyPair
  readonly body: { readonly x25519: string }
  readonly operation: Uint8Array
}

export function beginHttpSession(): SessionOpening {
  const ephemeral = generateEphemeralKeyPair()
  const x25519 = toHex(ephemeral.publicKey)
  return { ephemeral, body: { x25519 }, operation: sessionOpenOperation(x25519) }
}

/**
 * The session from the node's answer to `opening`. `clientKey` is the
 * ed25519 public key that signed the open; `now` (ms) dates the expiry.
 * Throws InvalidMessageError for a malformed answer or an unusable node key.
 */
export function finishHttpSession(opening: SessionOpening, answer: unknown, clientKey: Uint8Array, cluster: string, now: number): HttpSession {
  const a = (typeof answer === 'object' && answer !== null ? answer : {}) as Record<string, unknown>
  if (typeof a.session !== 'string' || !/^[0-9a-f]{32}$/.test(a.session)) throw new InvalidMessageError('session-open answer: session must be 32 hex characters')
  if (typeof a.x25519 !== 'string' || !/^[0-9a-f]{64}$/.test(a.x25519)) throw new InvalidMessageError('session-open answer: x25519 must be 64 hex characters')
  if (typeof a.node !== 'string' || a.node.length === 0 || a.node.length > 256) throw new InvalidMessageError('session-open answer: node must be a member id')
  if (typeof a.expiresInMs !== 'number' || !Number.isSafeInteger(a.expiresInMs) || a.expiresInMs < 1)
    throw new InvalidMessageError('session-open answer: expiresInMs must be a positive integer')
  const nodeEphemeral = fromHex(a.x25519)
  let key: Uint8Array
  try {
    key = httpSessionKey(opening.ephemeral.secretKey, nodeEphemeral, {
      cluster,
      client: clientKey,
      node: a.node,
      session: a.session,
      clientEphemeral: opening.ephemeral.publicKey,
      nodeEphemeral,
    })
  } catch (error) {
    throw new InvalidMessageError(`session-open answer: ${(error as Error).message}`)
  }
  // Renew a little before the node forgets it (clocks and latency differ): 5% of the lifetime, at most a minute.
  const margin = Math.min(60_000, Math.floor(a.expiresInMs / 20))
  return new HttpSession(a.session, clientKey, cluster, key, a.node, now + a.expiresInMs - margin)
}

/** An open session: MAC headers for each request. */
export class HttpSession {
  readonly clientHex: string
  /** HMAC-SHA256 under the session key, prepared once for all of the session's requests. */
  private readonly mac: KeyedMac

  constructor(
    readonly id: string,
    readonly clientKey: Uint8Array,
    readonly cluster: string,
    private readonly key: Uint8Array,
    /** The member id of the node the session is with. */
    readonly node: string,
    /** When the client stops using it (ms since the epoch), a little before the node's expiry. */
    readonly renewAt: number,
  ) {
    this.clientHex = toHex(clientKey)
    this.mac = hmacSha256Key(key)
  }

  /** The request's headers: the same statement a signature covers, MAC'd with the session key. */
  headers(operation: Uint8Array, session: number, timestamp: number): Record<string, string> {
    const statement = clientRequestStatement({ client: this.clientKey, session, timestamp, operation }, this.cluster, true)
    // No Synod-Client-Key: the node knows whose session this is. Session 0 is the default, left unsaid.
    const headers: Record<string, string> = { [AUTH_SESSION_HEADER]: this.id, 'synod-timestamp': String(timestamp), [MAC_HEADER]: toHex(this.mac(statement)) }
    if (session !== 0) headers['synod-session'] = String(session)
    return headers
  }
}
