// The operation bytes a signature (or a session MAC) covers, for each route of the daemon's API: what the
// node derives from the request it receives (apps/node auth/operations.ts, docs/adr/0007). KV routes sign
// the encoded KV command without a session (the envelope's client, session and timestamp are the session);
// admin routes sign canonical CBOR of `{ op, ...fields }`. apps/node's test "client and server derive the
// same operation" checks every route against the node's own derivation.
import { encodeCanonical } from '@synod/core'
import { kvCommands, type ListMode } from '@synod/kv'
import { AUTH_SESSION_PATH, sessionOpenOperation } from './http-session.js'
import { txnOperation } from './txn.js'

export const LIST_PATH = '/v1/kv'
export const WATCH_PATH = '/v1/watch'
export const TXN_PATH = '/v1/txn'
export const LEASES_PATH = '/v1/leases'
const LEASE_PATH = /^\/v1\/leases\/([1-9]\d{0,14})(\/keepalive)?$/
const KEY_PATH = /^\/v1\/kv\/([^/]+)(\/cas|\/append)?$/
const MEMBER_PATH = /^\/v1\/members\/([^/]+)$/
const ROLE_PATH = /^\/v1\/roles\/([^/]+)$/
/** The node's default page size of a range read (signed as part of the list command). */
export const DEFAULT_LIST_LIMIT = 100

/** Routes anyone may call, unsigned: liveness and readiness. */
export function isPublicRoute(pathname: string): boolean {
  return pathname === '/healthz' || pathname === '/readyz'
}

/**
 * Writes whose retries the KV session table absorbs (same client, session and timestamp: exactly once).
 * Every other signed request goes through each node's replay cache, so a retry needs a new timestamp.
 */
export function isLoggedWrite(method: string, pathname: string): boolean {
  if (method === 'GET') return false
  return pathname === TXN_PATH || pathname === LEASES_PATH || LEASE_PATH.test(pathname) || KEY_PATH.test(pathname) || pathname.startsWith('/v1/roles')
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null)

/** The list command a range read's query stands for (parameters as the node reads them). */
export function listOperationOf(query: URLSearchParams): Uint8Array {
  const flag = (name: string): boolean => query.get(name) === 'true' || query.get(name) === ''
  const mode: ListMode = flag('countOnly') ? 'count' : flag('keysOnly') ? 'keys' : 'values'
  const opt = (name: string): string | undefined => query.get(name) ?? undefined
  const after = opt('after')
  const start = opt('start')
  const end = opt('end')
  const limit = query.get('limit')
  const revision = query.get('revision')
  return kvCommands.list(query.get('prefix') ?? '', {
    ...(after === undefined ? {} : { after }),
    ...(start === undefined ? {} : { start }),
    ...(end === undefined ? {} : { end }),
    limit: limit === null ? DEFAULT_LIST_LIMIT : Number(limit),
    mode,
    ...(revision === null ? {} : { revision: Number(revision) }),
  })
}

/**
 * The operation bytes of a request, from its method, pathname, JSON body and query; undefined for a
 * route the client does not know (sent unsigned; the node answers 404/405 or 401).
 */
export function operationOf(method: string, pathname: string, body: Record<string, unknown> = {}, query?: URLSearchParams): Uint8Array | undefined {
  if (pathname === TXN_PATH) return method === 'POST' ? txnOperation(body) : undefined
  if (pathname === LIST_PATH) return method === 'GET' ? listOperationOf(query ?? new URLSearchParams()) : undefined
  if (pathname === WATCH_PATH) return method === 'GET' ? encodeCanonical({ op: 'watch', prefix: query?.get('prefix') ?? '' }) : undefined
  if (pathname === LEASES_PATH) return method === 'POST' ? kvCommands.leaseGrant(typeof body.ttlSeconds === 'number' ? body.ttlSeconds : 0) : undefined
  const lease = LEASE_PATH.exec(pathname)
  if (lease !== null) {
    const id = Number(lease[1])
    if (lease[2] === undefined) return method === 'DELETE' ? kvCommands.leaseRevoke(id) : undefined
    return method === 'POST' ? kvCommands.leaseKeepAlive(id) : undefined
  }
  if (pathname === AUTH_SESSION_PATH) return method === 'POST' ? sessionOpenOperation(str(body.x25519)) : undefined
  if (pathname === '/v1/status' && method === 'GET') return encodeCanonical({ op: 'status' })
  if (pathname === '/metrics' && method === 'GET') return encodeCanonical({ op: 'metrics' })
  if (pathname === '/v1/members') {
    if (method === 'GET') return encodeCanonical({ op: 'member-list' })
    if (method !== 'POST') return undefined
    const addrs = Array.isArray(body.addrs) ? body.addrs.map(str) : []
    return encodeCanonical({ op: 'member-add', id: str(body.id), publicKey: str(body.publicKey), addrs, http: strOrNull(body.http), role: str(body.role ?? 'voter') })
  }
  if (pathname === '/v1/alarm/disarm') return method === 'POST' ? kvCommands.disarm() : undefined
  const member = MEMBER_PATH.exec(pathname)
  if (member !== null) return method === 'DELETE' ? encodeCanonical({ op: 'member-remove', id: decode(member[1]!) }) : undefined
  if (pathname === '/v1/roles') {
    if (method === 'GET') return kvCommands.roleList()
    if (method !== 'POST') return undefined
    return kvCommands.roleGrant(str(body.client), str(body.role) as 'admin', typeof body.prefix === 'string' ? body.prefix : undefined)
  }
  const role = ROLE_PATH.exec(pathname)
  if (role !== null) return method === 'DELETE' ? kvCommands.roleRevoke(decode(role[1]!)) : undefined
  const kv = KEY_PATH.exec(pathname)
  if (kv === null) return undefined
  const key = decode(kv[1]!)
  const action = kv[2]
  if (action === undefined) {
    if (method === 'GET') return kvCommands.get(key)
    if (method === 'PUT') return kvCommands.put(key, str(body.value), undefined, typeof body.lease === 'number' ? body.lease : undefined)
    if (method === 'DELETE') return kvCommands.delete(key)
    return undefined
  }
  if (method !== 'POST') return undefined
  if (action === '/cas') return kvCommands.cas(key, strOrNull(body.expected), str(body.value))
  return kvCommands.append(key, str(body.value))
}
