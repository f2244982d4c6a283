// What each API request asks, in one table shared by the server (to check
// it) and the client (to sign it): the access a role must allow, the key it
// touches, and the canonical operation bytes of the signed-request envelope
// (docs/adr/0007-daemon-authentication.md). KV routes sign the encoded KV
// command without a session; admin routes sign canonical CBOR of
// `{ op, ...fields }`.
import { AUTH_SESSION_PATH, sessionOpenOperation } from '@synod/client'
import { encodeCanonical } from '@synod/core'
import { type Access, accessesOf, kvCommands, type ListMode, listScope, MAX_LEASE_TTL_SECONDS } from '@synod/kv'
import { HttpError } from '../http-error.js'
import { parseTxnBody } from '../txn-body.js'

export interface RequestDescription {
  readonly access: Access
  /** The key a read or write touches (role prefixes apply to it). */
  readonly key?: string
  readonly operation: Uint8Array
  /** POST /v1/auth/session: opens an HTTP session (signed only; never MAC'd, never forwarded). */
  readonly sessionOpen?: true
  /** A request touching several keys (POST /v1/txn): every access it needs; the role must allow them all. */
  readonly accesses?: ReadonlyArray<readonly [Access, string | undefined]>
}

/** Where leases are granted (POST), kept alive (POST …/{id}/keepalive) and revoked (DELETE …/{id}). */
export const LEASES_PATH = '/v1/leases'
export const LEASE_PATH = /^\/v1\/leases\/([1-9]\d{0,14})(\/keepalive)?$/

/** Where watches stream from (GET, Server-Sent Events). */
export const WATCH_PATH = '/v1/watch'

/** A lease's TTL from a request body: whole seconds, 1 up to a year (400 otherwise). */
export function leaseTtl(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > MAX_LEASE_TTL_SECONDS)
    throw new HttpError(400, 'BAD_FIELD', `'ttlSeconds' must be a whole number of seconds from 1 to ${MAX_LEASE_TTL_SECONDS}`)
  return value
}

/** Where transactions go (etcd's Txn). */
export const TXN_PATH = '/v1/txn'

/** Where a client opens an HTTP session (auth/http-sessions.ts). */
export const SESSION_OPEN_PATH = AUTH_SESSION_PATH

const KEY_PATH = /^\/v1\/kv\/([^/]+)(\/cas|\/append)?$/
const MEMBER_PATH = /^\/v1\/members\/([^/]+)$/
const ROLE_PATH = /^\/v1\/roles\/([^/]+)$/

/** Writes whose duplicates the KV session table absorbs; everything else goes through each node's replay cache. */
export function loggedWrite(method: string, description: RequestDescription, pathname: string): boolean {
  return description.access === 'write' || (pathname.startsWith('/v1/roles') && method !== 'GET')
}

/** Routes anyone may call: liveness and readiness only. */
export function isPublicRoute(pathname: string): boolean {
  return pathname === '/healthz' || pathname === '/readyz'
}

function decode(segment: string, what: string): string {
  // Most keys hold no escape: skip the decoder (a measurable part of describing each request).
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new HttpError(400, `BAD_${what.toUpperCase()}`, `${what} is not valid percent-encoding`)
  }
}

/** A range read: `GET /v1/kv?prefix=P&after=K&limit=N[&keysOnly=true|&countOnly=true][&consistency=stale]`. */
export interface ListParams {
  readonly prefix: string
  readonly after?: string
  /** etcd's range: keys ≥ start and < end. */
  readonly start?: string
  readonly end?: string
  readonly limit: number
  readonly mode: ListMode
  readonly consistency: 'linearizable' | 'stale'
  /** etcd's `--rev`: read the keys as they were at this past revision (within the watch history's window). */
  readonly revision?: number
}

export const LIST_PATH = '/v1/kv'
const LIST_PARAMS = ['prefix', 'after', 'start', 'end', 'limit', 'keysOnly', 'countOnly', 'consistency', 'revision']
const DEFAULT_LIST_LIMIT = 100

/** Read and check a range read's query (400 naming the parameter); the server and the signing client both use it. */
export function listParams(query: URLSearchParams): ListParams {
  for (const name of query.keys())
    if (!LIST_PARAMS.includes(name)) throw new HttpError(400, 'UNKNOWN_PARAMETER', `unknown query parameter '${name}' (allowed: ${LIST_PARAMS.join(', ')})`)
  const flag = (name: string): boolean => {
    const value = query.get(name)
    if (value === null || value === 'false') return false
    if (value === 'true' || value === '') return true
    throw new HttpError(400, 'BAD_PARAMETER', `${name} must be true or false`)
  }
  const limitText = query.get('limit')
  if (limitText !== null && !/^[1-9]\d{0,8}$/.test(limitText)) throw new HttpError(400, 'BAD_PARAMETER', 'limit must be a positive integer')
  const revisionText = query.get('revision')
  if (revisionText !== null && !/^[1-9]\d{0,14}$/.test(revisionText)) throw new HttpError(400, 'BAD_PARAMETER', 'revision must be a positive integer (omit it for the current state)')
  const keysOnly = flag('keysOnly')
  const countOnly = flag('countOnly')
  if (keysOnly && countOnly) throw new HttpError(400, 'BAD_PARAMETER', 'keysOnly and countOnly exclude each other')
  const consistency = query.get('consistency') ?? 'linearizable'
  if (consistency !== 'linearizable' && consistency !== 'stale') throw new HttpError(400, 'BAD_CONSISTENCY', "consistency must be 'linearizable' or 'stale'")
  const after = query.get('after')
  const start = query.get('start')
  const end = query.get('end')
  return {
    prefix: query.get('prefix') ?? '',
    ...(after === null ? {} : { after }),
    ...(start === null ? {} : { start }),
    ...(end === null ? {} : { end }),
    limit: limitText === null ? DEFAULT_LIST_LIMIT : Number(limitText),
    mode: countOnly ? 'count' : keysOnly ? 'keys' : 'values',
    consistency,
    ...(revisionText === null ? {} : { revision: Number(revisionText) }),
  }
}

/** The query string of a range read (what a follower forwards, and what the CLI sends). */
export function listQuery(params: Omit<ListParams, 'consistency'> & { readonly consistency?: ListParams['consistency'] }): string {
  const query = new URLSearchParams({ prefix: params.prefix })
  if (params.after !== undefined) query.set('after', params.after)
  if (params.start !== undefined) query.set('start', params.start)
  if (params.end !== undefined) query.set('end', params.end)
  query.set('limit', String(params.limit))
  if (params.mode === 'keys') query.set('keysOnly', 'true')
  if (params.mode === 'count') query.set('countOnly', 'true')
  if (params.consistency === 'stale') query.set('consistency', 'stale')
  if (params.revision !== undefined) query.set('revision', String(params.revision))
  return query.toString()
}

/** The encoded `list` command of a range read (what a signature or MAC covers, and what is read). */
export function listOperation(params: ListParams): Uint8Array {
  return kvCommands.list(params.prefix, {
    ...(params.after === undefined ? {} : { after: params.after }),
    ...(params.start === undefined ? {} : { start: params.start }),
    ...(params.end === undefined ? {} : { end: params.end }),
    limit: params.limit,
    mode: params.mode,
    ...(params.revision === undefined ? {} : { revision: params.revision }),
  })
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null)

/**
 * Describe a request from its method, path and (already validated) JSON
 * body. The server calls it after validating the body, the client before
 * sending it; both get the same bytes. Undefined for a route that does not
 * exist (the router answers 404/405).
 */
export function describeRequest(method: string, pathname: string, body: Record<string, unknown> = {}, query?: URLSearchParams): RequestDescription | undefined {
  if (pathname === TXN_PATH) {
    if (method !== 'POST') return undefined
    const { compare, success, failure } = parseTxnBody(body)
    const command = { op: 'txn', compare, success, failure } as const
    // 'write': a transaction is proposed through the log (and its exactly-once session) whatever it does.
    return { access: 'write', operation: kvCommands.txn(compare, success, failure), accesses: accessesOf(command) }
  }
  // A range read signs its parameters (the list command); a role's prefix must cover the listed prefix.
  if (pathname === LIST_PATH) {
    if (method !== 'GET') return undefined
    const params = listParams(query ?? new URLSearchParams())
    // The role must cover every key the read may list: the prefix, or the narrower scope of [start, end).
    return { access: 'read', key: listScope(params.prefix, params.start, params.end), operation: listOperation(params) }
  }
  // A watch signs its prefix; the role must allow reading it (the stream is read from this node's history).
  if (pathname === WATCH_PATH) {
    if (method !== 'GET') return undefined
    const prefix = query?.get('prefix') ?? ''
    return { access: 'read', key: listScope(prefix), operation: encodeCanonical({ op: 'watch', prefix }) }
  }
  if (pathname === LEASES_PATH) return method === 'POST' ? { access: 'write', key: '', operation: kvCommands.leaseGrant(typeof body.ttlSeconds === 'number' ? body.ttlSeconds : 0) } : undefined
  const lease = LEASE_PATH.exec(pathname)
  if (lease !== null) {
    const id = Number(lease[1])
    // Leases span the keyspace (revoking deletes keys anywhere): write access to every key ('' prefix).
    if (lease[2] === undefined) return method === 'DELETE' ? { access: 'write', key: '', operation: kvCommands.leaseRevoke(id) } : undefined
    return method === 'POST' ? { access: 'write', key: '', operation: kvCommands.leaseKeepAlive(id) } : undefined
  }
  // The signature binds the client's ephemeral x25519 key: nobody can swap it for their own (ADR 0011).
  if (pathname === SESSION_OPEN_PATH)
    return method === 'POST' ? { access: 'info', operation: sessionOpenOperation(str(body.x25519)), sessionOpen: true } : undefined
  if (pathname === '/v1/status' && method === 'GET') return { access: 'info', operation: encodeCanonical({ op: 'status' }) }
  if (pathname === '/metrics' && method === 'GET') return { access: 'info', operation: encodeCanonical({ op: 'metrics' }) }
  if (pathname === '/v1/members') {
    if (method === 'GET') return { access: 'info', operation: encodeCanonical({ op: 'member-list' }) }
    if (method === 'POST') {
      const addrs = Array.isArray(body.addrs) ? body.addrs.map(str) : []
      const fields = { op: 'member-add', id: str(body.id), publicKey: str(body.publicKey), addrs, http: strOrNull(body.http), role: str(body.role ?? 'voter') }
      return { access: 'admin', operation: encodeCanonical(fields) }
    }
    return undefined
  }
  if (pathname === '/v1/alarm/disarm') return method === 'POST' ? { access: 'admin', operation: kvCommands.disarm() } : undefined
  const member = MEMBER_PATH.exec(pathname)
  if (member !== null)
    return method === 'DELETE' ? { access: 'admin', operation: encodeCanonical({ op: 'member-remove', id: decode(member[1]!, 'id') }) } : undefined
  if (pathname === '/v1/roles') {
    if (method === 'GET') return { access: 'admin', operation: kvCommands.roleList() }
    if (method === 'POST') {
      const role = str(body.role) as 'admin'
      const prefix = typeof body.prefix === 'string' ? body.prefix : undefined
      return { access: 'admin', operation: kvCommands.roleGrant(str(body.client), role, prefix) }
    }
    return undefined
  }
  const role = ROLE_PATH.exec(pathname)
  if (role !== null) return method === 'DELETE' ? { access: 'admin', operation: kvCommands.roleRevoke(decode(role[1]!, 'client')) } : undefined
  const kv = KEY_PATH.exec(pathname)
  if (kv === null) return undefined
  const key = decode(kv[1]!, 'key')
  const action = kv[2]
  if (action === undefined) {
    if (method === 'GET') return { access: 'read', key, operation: kvCommands.get(key) }
    if (method === 'PUT')
      return { access: 'write', key, operation: kvCommands.put(key, str(body.value), undefined, typeof body.lease === 'number' ? body.lease : undefined) }
    if (method === 'DELETE') return { access: 'write', key, operation: kvCommands.delete(key) }
    return undefined
  }
  if (method !== 'POST') return undefined
  if (action === '/cas') return { access: 'write', key, operation: kvCommands.cas(key, strOrNull(body.expected), str(body.value)) }
  return { access: 'write', key, operation: kvCommands.append(key, str(body.value)) }
}
