// Leases, as etcd's: a lease has a TTL and keys attached to it; when it is revoked or expires, its keys are
// deleted. Time never enters the state machine: a lease records only its TTL and the log index of its last
// grant or keep-alive (`renewed`). The leader watches the clock and proposes `lease-expire {id, renewed}`;
// the state machine expires the lease only if it was not renewed since (docs/adr/0015-watches-and-leases.md).
import { expectArray, expectString, expectUint, InvalidMessageError } from '@synod/core'

export interface Lease {
  readonly ttl: number
  /** Log index of the grant or of the last keep-alive. */
  renewed: number
  /** Attached keys. */
  readonly keys: Set<string>
  /**
   * Members that asked, with their own signature, to expire the lease since its last renewal (byzantine
   * protocols: it expires once enough distinct members did; docs/adr/0022-lease-expiry-under-bft-and-past-reads.md).
   */
  readonly votes: Set<string>
}

/** Longest lease TTL in seconds (etcd's MaxLeaseTTL is 9e9; a year is plenty and keeps arithmetic small). */
export const MAX_LEASE_TTL_SECONDS = 365 * 24 * 3600
export const DEFAULT_MAX_LEASES = 10_000

export class LeaseTable {
  private leases = new Map<number, Lease>()
  private keyLease = new Map<string, number>()

  get size(): number {
    return this.leases.size
  }

  get(id: number): Lease | undefined {
    return this.leases.get(id)
  }

  /** The lease `key` is attached to, if any. */
  leaseOf(key: string): number | undefined {
    return this.keyLease.get(key)
  }

  grant(id: number, ttl: number): void {
    this.leases.set(id, { ttl, renewed: id, keys: new Set(), votes: new Set() })
  }

  /** Remove the lease; returns its keys (sorted), which the caller deletes. */
  remove(id: number): string[] {
    const lease = this.leases.get(id)
    if (lease === undefined) return []
    this.leases.delete(id)
    const keys = [...lease.keys].sort(compare)
    for (const key of keys) this.keyLease.delete(key)
    return keys
  }

  /** Attach `key` to lease `id` (undefined: to none), detaching it from its previous lease. */
  attach(key: string, id: number | undefined): void {
    const previous = this.keyLease.get(key)
    if (previous === id) return
    if (previous !== undefined) {
      this.leases.get(previous)?.keys.delete(key)
      this.keyLease.delete(key)
    }
    if (id !== undefined) {
      this.leases.get(id)!.keys.add(key)
      this.keyLease.set(key, id)
    }
  }

  /** Every lease as `[id, ttl, renewed]`, by id (what the daemon's expiry clock follows). */
  list(): Array<readonly [number, number, number]> {
    return [...this.leases.entries()].sort(([a], [b]) => a - b).map(([id, l]) => [id, l.ttl, l.renewed] as const)
  }

  /** Snapshot form: `[[id, ttl, renewed, [key…], [voter…]]…]` by id, keys and voters sorted. */
  toSnapshot(): unknown[] {
    return [...this.leases.entries()]
      .sort(([a], [b]) => a - b)
      .map(([id, l]) => [id, l.ttl, l.renewed, [...l.keys].sort(compare), [...l.votes].sort(compare)])
  }

  /**
   * Load a snapshot's leases; every attached key must exist in `values`. Throws InvalidMessageError on any
   * defect. `withVotes`: snapshot version 5 (version 4 leases have no expiry votes).
   */
  static fromSnapshot(value: unknown, hasKey: (key: string) => boolean, withVotes = true): LeaseTable {
    const table = new LeaseTable()
    let previous = 0
    for (const [i, item] of expectArray(value, 'leases').entries()) {
      const l = expectArray(item, `leases[${i}]`)
      if (l.length !== (withVotes ? 5 : 4)) throw new InvalidMessageError(`leases[${i}] must be [id, ttl, renewed, keys${withVotes ? ', votes' : ''}]`)
      const id = expectUint(l[0], `leases[${i}] id`)
      if (id <= previous) throw new InvalidMessageError(`leases[${i}]: ids must be positive and strictly ascending`)
      const ttl = expectUint(l[1], `leases[${i}] ttl`)
      if (ttl < 1 || ttl > MAX_LEASE_TTL_SECONDS) throw new InvalidMessageError(`leases[${i}] ttl ${ttl} is out of range`)
      const renewed = expectUint(l[2], `leases[${i}] renewed`)
      if (renewed < id) throw new InvalidMessageError(`leases[${i}] was renewed (${renewed}) before it was granted (${id})`)
      table.grant(id, ttl)
      table.leases.get(id)!.renewed = renewed
      for (const [j, k] of expectArray(l[3], `leases[${i}] keys`).entries()) {
        const key = expectString(k, `leases[${i}] keys[${j}]`, Number.MAX_SAFE_INTEGER)
        if (!hasKey(key)) throw new InvalidMessageError(`leases[${i}] holds key '${key}', which is not stored`)
        if (table.keyLease.has(key)) throw new InvalidMessageError(`key '${key}' is attached to two leases`)
        table.attach(key, id)
      }
      if (withVotes) {
        let previousVoter: string | undefined
        for (const [j, v] of expectArray(l[4], `leases[${i}] votes`).entries()) {
          const voter = expectString(v, `leases[${i}] votes[${j}]`, 256)
          if (previousVoter !== undefined && compare(previousVoter, voter) >= 0) throw new InvalidMessageError(`leases[${i}] votes must be strictly ascending`)
          table.leases.get(id)!.votes.add(voter)
          previousVoter = voter
        }
      }
      previous = id
    }
    return table
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
