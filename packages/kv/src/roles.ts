// Client roles, kept in the replicated state so that every replica enforces
// one policy (a role granted on one node is granted everywhere, at the same
// log index). A client is identified by its id: the lowercase hex of its
// ed25519 public key (`clientIdOf` in @synod/core).
import { expectArray, expectOneOf, expectString, InvalidMessageError } from '@synod/core'
import type { KvCommand } from './command.js'
import type { KvError } from './result.js'
import { txnKeys } from './txn.js'

export type ClientRole = 'admin' | 'readwrite' | 'readonly'
export const CLIENT_ROLES: readonly ClientRole[] = ['admin', 'readwrite', 'readonly']

/**
 * What a request needs: `read`/`write` a key (a role's prefix applies),
 * `info` (status, metrics, the member list: any role), `admin` (membership
 * and roles).
 */
export type Access = 'read' | 'write' | 'info' | 'admin'

export interface RoleGrant {
  readonly role: ClientRole
  /** Keys the client may touch start with this; '' = every key. Admins are never restricted. */
  readonly prefix: string
}

const CLIENT_ID = /^[0-9a-f]{64}$/

/** Validate a client id (64 lowercase hex characters: an ed25519 public key). */
export function expectClientId(value: unknown, what: string): string {
  const id = expectString(value, what, 64)
  if (!CLIENT_ID.test(id)) throw new InvalidMessageError(`${what} must be 64 lowercase hex characters (an ed25519 public key)`)
  return id
}

export function expectRole(value: unknown, what: string): ClientRole {
  return expectOneOf(value, CLIENT_ROLES, what)
}

/**
 * The roles table. Deterministic: grants are applied in log order, listed
 * and snapshotted sorted by client id.
 */
export class RolesTable {
  private grants = new Map<string, RoleGrant>()

  /** `initialAdmins`: the first admins (like etcd's root), from configuration identical on every replica. */
  constructor(initialAdmins: readonly string[] = []) {
    for (const [i, id] of initialAdmins.entries()) this.grants.set(expectClientId(id, `initialAdmins[${i}]`), { role: 'admin', prefix: '' })
  }

  get size(): number {
    return this.grants.size
  }

  get(client: string): RoleGrant | undefined {
    return this.grants.get(client)
  }

  /** Grant (or replace) a client's role. */
  grant(client: string, role: ClientRole, prefix: string): void {
    this.grants.set(client, { role, prefix: role === 'admin' ? '' : prefix })
  }

  /**
   * Revoke a client's role. Refused (an error, nothing changes) when it would
   * leave the cluster without an admin: nobody could manage it any more.
   */
  revoke(client: string): { existed: boolean } | KvError {
    const grant = this.grants.get(client)
    if (grant === undefined) return { existed: false }
    if (grant.role === 'admin' && [...this.grants.values()].filter((g) => g.role === 'admin').length === 1)
      return { ok: false, code: 'forbidden', message: `${client} is the last admin; grant another admin first` }
    this.grants.delete(client)
    return { existed: true }
  }

  /** Every grant, sorted by client id: `[client, role, prefix]`. */
  list(): Array<[string, ClientRole, string]> {
    return [...this.grants.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, g]) => [id, g.role, g.prefix])
  }

  /** May `client` do `access` (on `key`, for read and write)? */
  authorize(client: string, access: Access, key?: string): boolean {
    const grant = this.grants.get(client)
    if (grant === undefined) return false
    if (grant.role === 'admin') return true
    switch (access) {
      case 'info':
        return true
      case 'admin':
        return false
      case 'write':
        if (grant.role !== 'readwrite') return false
        return key !== undefined && key.startsWith(grant.prefix)
      case 'read':
        return key !== undefined && key.startsWith(grant.prefix)
    }
  }

  /**
   * The state machine's check of a command made in a client's name: a
   * deterministic `forbidden` error when the client's role does not allow
   * it, undefined when it does. A `list` is allowed only within the prefix.
   * An empty table (no admin configured: authentication off) enforces nothing.
   */
  check(client: string, command: KvCommand): KvError | undefined {
    // No grants at all: no policy (a cluster without authentication); signed commands run as before.
    if (this.grants.size === 0) return undefined
    for (const [access, key] of accessesOf(command)) {
      if (this.authorize(client, access, key)) continue
      const grant = this.grants.get(client)
      const why = grant === undefined ? 'has no role' : `has role ${grant.role}${grant.prefix === '' ? '' : ` on prefix '${grant.prefix}'`}`
      return { ok: false, code: 'forbidden', message: `client ${client.slice(0, 16)}… ${why}; ${command.op} needs ${access} access${key === undefined ? '' : ` to '${key}'`}` }
    }
    return undefined
  }

  /** Snapshot form: `[[client, role, prefix]…]` sorted by client. */
  toSnapshot(): Array<[string, ClientRole, string]> {
    return this.list()
  }

  /** Replace the table from a snapshot's entries; throws InvalidMessageError on any defect. */
  static fromSnapshot(value: unknown): RolesTable {
    const table = new RolesTable()
    let previous: string | undefined
    for (const [i, item] of expectArray(value, 'snapshot roles').entries()) {
      const entry = expectArray(item, `roles[${i}]`)
      if (entry.length !== 3) throw new InvalidMessageError(`roles[${i}] must be [client, role, prefix]`)
      const client = expectClientId(entry[0], `roles[${i}] client`)
      if (previous !== undefined && previous >= client) throw new InvalidMessageError(`roles[${i}]: clients must be strictly ascending`)
      const role = expectRole(entry[1], `roles[${i}] role`)
      const prefix = expectString(entry[2], `roles[${i}] prefix`, 1024 * 1024)
      if (role === 'admin' && prefix !== '') throw new InvalidMessageError(`roles[${i}]: an admin has no prefix`)
      table.grants.set(client, { role, prefix })
      previous = client
    }
    return table
  }
}

/** Which access a KV command needs, and on which key (a list: its prefix). */
/**
 * The longest key prefix every key of a range read shares: the listed prefix, or — when the range
 * `[start, end)` is narrower — the longest prefix L of `start` with `end` ≤ L's successor (all strings in
 * `[L, successor(L))` start with L). A role's prefix must cover it (roles compare prefixes). Either bound
 * absent: the range narrows nothing.
 */
export function listScope(prefix: string, start?: string, end?: string): string {
  if (start === undefined || end === undefined) return prefix
  let scope = ''
  for (let i = Math.min(start.length, end.length); i > 0; i--) {
    const candidate = start.slice(0, i)
    const after = successor(candidate)
    if (after !== undefined && end <= after) {
      scope = candidate
      break
    }
  }
  // Every listed key starts with both; either is a sound scope, and the longer one is the narrower.
  return scope.length > prefix.length ? scope : prefix
}

/** The least string above every string starting with `p` (etcd's prefix range end), undefined when none fits in UTF-16. */
function successor(p: string): string | undefined {
  let end = p.length
  while (end > 0 && p.charCodeAt(end - 1) === 0xffff) end--
  if (end === 0) return undefined
  return p.slice(0, end - 1) + String.fromCharCode(p.charCodeAt(end - 1) + 1)
}

/**
 * Every access a command needs: one for most; a transaction needs read access to every key it compares
 * or gets and write access to every key it puts or deletes (an empty one: read of '' — the whole space).
 */
export function accessesOf(command: KvCommand): Array<[Access, string | undefined]> {
  if (command.op !== 'txn') return [accessOf(command)]
  const { read, write } = txnKeys(command.compare, command.success, command.failure)
  const accesses: Array<[Access, string]> = [...read.map((k): [Access, string] => ['read', k]), ...write.map((k): [Access, string] => ['write', k])]
  return accesses.length === 0 ? [['read', '']] : accesses
}

/** The access a single-key command needs (a transaction: see accessesOf; here its first key). */
export function accessOf(command: KvCommand): [Access, string | undefined] {
  switch (command.op) {
    case 'txn':
      return accessesOf(command)[0]!
    case 'get':
      return ['read', command.key]
    case 'list':
      return ['read', listScope(command.prefix, command.start, command.end)]
    case 'put':
    case 'delete':
    case 'cas':
    case 'append':
      return ['write', command.key]
    case 'role-grant':
    case 'role-revoke':
    case 'role-list':
    case 'disarm':
      return ['admin', undefined]
    // A lease's keys may lie anywhere, and revoking it deletes them: write access to the whole keyspace.
    case 'lease-grant':
    case 'lease-keepalive':
    case 'lease-revoke':
      return ['write', '']
    // Only the leader's own proposal (no client) expires a lease.
    case 'lease-expire':
      return ['admin', undefined]
  }
}
