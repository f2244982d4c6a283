// The exactly-once session table: bounded, fair between clients, and honest
// about what it forgot. Everything here is a function of the applied log, so
// every replica keeps, evicts and refuses exactly the same sessions.

/** What a session remembers: the client's latest sequence number and its answer. */
export interface SessionRecord {
  readonly seq: number
  readonly result: Uint8Array
  /** Log index of the last command of this session; orders eviction. */
  readonly lastIndex: number
}

/** The principal of unsigned (plain `client` string) sessions: they share one pool. */
export const LEGACY_PRINCIPAL = ''

/** Session keys of signed clients: `${64 hex client id}:${session}`; plain commands may not use this shape. */
export const SIGNED_SESSION_KEY = /^[0-9a-f]{64}:\d{1,5}$/

/** Who owns a session: the client id of a signed session, or the legacy pool. */
export function principalOf(key: string): string {
  return SIGNED_SESSION_KEY.test(key) ? key.slice(0, 64) : LEGACY_PRINCIPAL
}

export type SessionCheck =
  /** Not seen before (and above the floor): run it. */
  | { readonly kind: 'new' }
  /** A retry of the session's latest command: answer this again. */
  | { readonly kind: 'retry'; readonly record: SessionRecord }
  /** Older than the session's latest command: its answer is gone. */
  | { readonly kind: 'stale'; readonly latest: number }
  /** The session is unknown and seq is below the floor: it may have been evicted, so it must not run again. */
  | { readonly kind: 'expired'; readonly floor: number }

export interface SessionTableLimits {
  /** Sessions kept in all. */
  readonly maxSessions: number
  /** Sessions kept per signed client (principal); the legacy pool is bounded by maxSessions only. */
  readonly maxSessionsPerClient: number
}

/** The table's state as a snapshot holds it. */
export interface SessionTableState {
  /** Least recently applied first (ascending lastIndex). */
  readonly sessions: ReadonlyMap<string, SessionRecord>
  /** Per principal: one more than the highest seq of its evicted sessions (kept while it has sessions; always for the legacy pool). */
  readonly floors: ReadonlyMap<string, number>
  /** The highest floor of the signed principals whose sessions were all evicted. */
  readonly signedFloor: number
}

/**
 * Sessions keyed by `client` (plain commands) or `${clientId}:${session}`
 * (signed envelopes). Eviction never silently re-enables a command: evicting
 * a session raises its principal's floor above the session's seq, and a
 * command of an unknown session below the floor is refused (`expired`). For
 * signed clients seq is a millisecond timestamp, so a genuinely new session
 * starts above the floor.
 *
 * Fairness: a signed principal over `maxSessionsPerClient` evicts its own
 * oldest session; when the whole table is full, the principal holding the
 * most sessions gives up its least recently used one (ties: the one whose
 * session is least recently used). So opening many sessions only evicts the
 * opener's own.
 */
export class SessionTable {
  /** In LRU order: least recently applied first (re-inserted on every use). */
  private sessions = new Map<string, SessionRecord>()
  /** Per principal, its session keys in LRU order. */
  private byPrincipal = new Map<string, Set<string>>()
  /** How many principals hold exactly n sessions, and the largest such n: finds the biggest holder in O(1). */
  private holders = new Map<number, number>()
  private maxHeld = 0
  private floors = new Map<string, number>()
  private signedFloor = 0

  constructor(readonly limits: SessionTableLimits) {}

  get size(): number {
    return this.sessions.size
  }

  get(key: string): SessionRecord | undefined {
    return this.sessions.get(key)
  }

  /** The lowest seq a command of an unknown session may have (0 until a session of its principal was evicted). */
  floorFor(key: string): number {
    const principal = principalOf(key)
    const own = this.floors.get(principal) ?? 0
    return principal === LEGACY_PRINCIPAL ? own : Math.max(own, this.signedFloor)
  }

  check(key: string, seq: number): SessionCheck {
    const known = this.sessions.get(key)
    if (known !== undefined) {
      if (seq === known.seq) return { kind: 'retry', record: known }
      if (seq < known.seq) return { kind: 'stale', latest: known.seq }
      return { kind: 'new' }
    }
    const floor = this.floorFor(key)
    return seq < floor ? { kind: 'expired', floor } : { kind: 'new' }
  }

  /** Store a session's latest command (new or retried), then evict as the limits say. */
  remember(key: string, record: SessionRecord): void {
    const { principal, own, isNew } = this.insert(key, record)
    if (!isNew) return
    if (principal !== LEGACY_PRINCIPAL && own.size > this.limits.maxSessionsPerClient) this.evict(own.values().next().value!)
    else if (this.sessions.size > this.limits.maxSessions) this.evict(this.fairVictim())
  }

  state(): SessionTableState {
    return { sessions: this.sessions, floors: this.floors, signedFloor: this.signedFloor }
  }

  /** Replace everything with a snapshot's state (`sessions` in LRU order); evicts nothing. */
  load(state: SessionTableState): void {
    this.sessions = new Map()
    this.byPrincipal = new Map()
    this.holders = new Map()
    this.maxHeld = 0
    for (const [key, record] of state.sessions) this.insert(key, record)
    this.floors = new Map(state.floors)
    this.signedFloor = state.signedFloor
  }

  private insert(key: string, record: SessionRecord): { principal: string; own: Set<string>; isNew: boolean } {
    const principal = principalOf(key)
    let own = this.byPrincipal.get(principal)
    if (own === undefined) {
      own = new Set()
      this.byPrincipal.set(principal, own)
    }
    const isNew = !own.has(key)
    this.sessions.delete(key)
    this.sessions.set(key, record)
    own.delete(key)
    own.add(key)
    if (isNew) this.countChange(own.size - 1, own.size)
    return { principal, own, isNew }
  }

  /** The least recently used session of a principal holding the most sessions. */
  private fairVictim(): string {
    for (const key of this.sessions.keys()) if (this.byPrincipal.get(principalOf(key))!.size === this.maxHeld) return key
    throw new Error('unreachable: the largest holder has a session')
  }

  private evict(key: string): void {
    const record = this.sessions.get(key)!
    const principal = principalOf(key)
    const own = this.byPrincipal.get(principal)!
    this.sessions.delete(key)
    own.delete(key)
    this.countChange(own.size + 1, own.size)
    const floor = Math.max(this.floors.get(principal) ?? 0, record.seq + 1)
    if (own.size === 0 && principal !== LEGACY_PRINCIPAL) {
      // Keep per-principal floors only while the principal holds sessions, so the table stays bounded.
      this.byPrincipal.delete(principal)
      this.floors.delete(principal)
      this.signedFloor = Math.max(this.signedFloor, floor)
    } else this.floors.set(principal, floor)
  }

  private countChange(from: number, to: number): void {
    if (from > 0) {
      const left = this.holders.get(from)! - 1
      if (left === 0) this.holders.delete(from)
      else this.holders.set(from, left)
      if (left === 0 && from === this.maxHeld) this.maxHeld = to
    }
    if (to > 0) {
      this.holders.set(to, (this.holders.get(to) ?? 0) + 1)
      if (to > this.maxHeld) this.maxHeld = to
    }
  }
}
