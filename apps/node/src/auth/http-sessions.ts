// Authenticated HTTP sessions (docs/adr/0011-http-sessions.md): a client
// proves its ed25519 identity once per node (a signed POST /v1/auth/session
// that binds its ephemeral x25519 key), both sides derive an HMAC key, and
// each later request carries an HMAC-SHA256 of the same statement a
// signature would cover. This table lives in this node's memory only (not
// replicated): a restart forgets every session and clients open a new one.
import { randomBytes } from 'node:crypto'
import { toHex } from '@synod/core'
import { generateEphemeralKeyPair, hmacSha256Key, httpSessionKey, type KeyedMac } from '@synod/crypto'

export interface HttpSession {
  readonly id: string
  /** The client id (hex ed25519 public key) that signed the session-open. */
  readonly client: string
  readonly clientKey: Uint8Array
  /** The HMAC-SHA256 key both sides derived. */
  readonly key: Uint8Array
  /** HMAC-SHA256 under `key`, prepared once for the session's many requests. */
  readonly mac: KeyedMac
  /** Fixed expiry (ms since the epoch): a session is never extended, so a leaked key is good for at most the TTL. */
  readonly expires: number
}

export interface HttpSessionLimits {
  /** Sessions kept on this node in all; beyond it, the oldest is dropped (it would expire first). Default 100,000. */
  readonly maxSessions: number
  /** Sessions kept per client; beyond it, the client's own oldest is dropped (no client can push others out). Default 64. */
  readonly maxSessionsPerClient: number
  /** Lifetime from the open (fixed, not sliding). Default 1 h. */
  readonly ttlMs: number
}

export const DEFAULT_HTTP_SESSION_LIMITS: HttpSessionLimits = { maxSessions: 100_000, maxSessionsPerClient: 64, ttlMs: 60 * 60 * 1000 }

export interface OpenedSession {
  readonly session: string
  /** The node's ephemeral x25519 public key (hex). */
  readonly x25519: string
  readonly expiresInMs: number
  /** This node's member id: bound into the key, so the client derives it with the node it talked to. */
  readonly node: string
}

export class HttpSessionTable {
  /** Insertion order = open order = expiry order (fixed TTL): the first entry is always the next to expire. */
  private readonly sessions = new Map<string, HttpSession>()
  /** Per client, its session ids in open order. */
  private readonly byClient = new Map<string, Set<string>>()

  constructor(
    private readonly context: { readonly cluster: string; readonly node: string },
    readonly limits: HttpSessionLimits = DEFAULT_HTTP_SESSION_LIMITS,
  ) {}

  get size(): number {
    return this.sessions.size
  }

  /**
   * Open a session for a client whose signature over `clientEphemeral` the
   * caller has verified. Throws ConfigError (from @synod/crypto) for an
   * unusable x25519 key.
   */
  open(clientKey: Uint8Array, clientEphemeral: Uint8Array, now: number): OpenedSession {
    this.prune(now)
    const id = toHex(randomBytes(16))
    const mine = generateEphemeralKeyPair()
    const key = httpSessionKey(mine.secretKey, clientEphemeral, {
      cluster: this.context.cluster,
      client: clientKey,
      node: this.context.node,
      session: id,
      clientEphemeral,
      nodeEphemeral: mine.publicKey,
    })
    const client = toHex(clientKey)
    let own = this.byClient.get(client)
    if (own === undefined) this.byClient.set(client, (own = new Set()))
    while (own.size >= this.limits.maxSessionsPerClient) this.drop(own.values().next().value!)
    while (this.sessions.size >= this.limits.maxSessions) this.drop(this.sessions.keys().next().value!)
    this.sessions.set(id, { id, client, clientKey, key, mac: hmacSha256Key(key), expires: now + this.limits.ttlMs })
    // Re-read: dropping the client's last session above may have deleted its set.
    own = this.byClient.get(client) ?? new Set()
    this.byClient.set(client, own.add(id))
    return { session: id, x25519: toHex(mine.publicKey), expiresInMs: this.limits.ttlMs, node: this.context.node }
  }

  /** The live session with this id, or undefined (unknown, dropped or expired). */
  get(id: string, now: number, ignoreExpiry = false): HttpSession | undefined {
    const session = this.sessions.get(id)
    if (session === undefined) return undefined
    if (session.expires <= now && !ignoreExpiry) {
      this.prune(now)
      return undefined
    }
    return session
  }

  private prune(now: number): void {
    for (const [id, session] of this.sessions) {
      if (session.expires > now) break
      this.drop(id)
    }
  }

  private drop(id: string): void {
    const session = this.sessions.get(id)
    if (session === undefined) return
    this.sessions.delete(id)
    const own = this.byClient.get(session.client)
    own?.delete(id)
    if (own?.size === 0) this.byClient.delete(session.client)
  }
}
