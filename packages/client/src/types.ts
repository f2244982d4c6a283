// The daemon's answers, as the client sees them (the daemon's KvAnswer: apps/node http-api.ts).

/** A key-value pair of a range read (or a transaction's get). */
export interface KeyValue {
  readonly key: string
  readonly value: string | null
  readonly createRevision?: number
  readonly modRevision?: number
  readonly version?: number
}

/** What a KV, transaction or lease route answers; which fields are set depends on the route. */
export interface KvResponse {
  readonly index: number
  /** The key a key route echoes. */
  readonly key?: string
  /** POST /v1/txn: every comparison held (the success branch ran); each operation's answer in order. */
  readonly succeeded?: boolean
  readonly results?: ReadonlyArray<Record<string, unknown>>
  /** The store's revision when the request ran (etcd's header revision). */
  readonly revision?: number
  /** A present key read: the revisions that created and last changed it, and its changes since creation. */
  readonly createRevision?: number
  readonly modRevision?: number
  readonly version?: number
  /** The value read, or the current value after a failed cas; null = absent. */
  readonly value?: string | null
  readonly applied?: boolean
  readonly length?: number
  /** Byzantine protocols: the reply certificate and the raw result it signs (hex). */
  readonly certificate?: string
  readonly result?: string
  /** GET /v1/roles: every grant. */
  readonly roles?: ReadonlyArray<{ readonly client: string; readonly role: string; readonly prefix: string }>
  /** GET /v1/kv: the keys with their values (the default), the keys alone (keysOnly) or their number (countOnly). */
  readonly kvs?: readonly KeyValue[]
  readonly keys?: readonly string[]
  readonly count?: number
  /** GET /v1/kv: the limit cut the answer short; ask again with `after` = the last key. */
  readonly more?: boolean
  /** Leases: the lease's id, its TTL, the keys a revoke deleted. */
  readonly id?: number
  readonly ttlSeconds?: number
  readonly deleted?: number
}

/** GET /v1/status (the fields a client relies on; the node says more). */
export interface StatusAnswer extends Record<string, unknown> {
  readonly id?: string
  readonly role?: string
  readonly leader?: string | null
  readonly term?: number
  readonly revision?: number
  readonly members?: ReadonlyArray<{ readonly id: string; readonly publicKey: string; readonly http: string | null }>
}

/** A member to add (POST /v1/members). */
export interface MemberInput {
  /** libp2p PeerId string. */
  readonly id: string
  /** ed25519 public key, hex. */
  readonly publicKey: string
  /** libp2p multiaddrs to dial. */
  readonly addrs: readonly string[]
  /** host:port of the member's HTTP client API. */
  readonly http?: string
}
