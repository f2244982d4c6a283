// Node configuration: a JSON file, overridden by environment variables
// (SYNOD_*), overridden by flags. Validation names the bad field.
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { ConfigError } from '@synod/core'
import { DEFAULT_HISTORY_LIMITS, DEFAULT_MAX_LEASES, DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_CLIENT, DEFAULT_QUOTA_BYTES } from '@synod/kv'
import { DEFAULT_HTTP_SESSION_LIMITS } from './auth/http-sessions.js'

export interface MemberConfig {
  /** libp2p PeerId string. */
  readonly id: string
  /** ed25519 public key, hex. */
  readonly publicKey: string
  /** libp2p multiaddrs to dial. */
  readonly addrs: readonly string[]
  /** host:port of the member's HTTP client API (used to forward writes to the leader). */
  readonly http?: string
}

export interface NodeConfig {
  readonly protocol: string
  readonly dataDir: string
  readonly keyFile: string
  readonly listen: readonly string[]
  /** host:port for the HTTP client API. */
  readonly http: string
  /** Every member of the cluster, this node included. */
  readonly members: readonly MemberConfig[]
  readonly protocolOptions: Record<string, unknown>
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent'
  readonly requestTimeoutMs: number
  /** Admission control: client requests in flight on this node beyond this answer 429 with Retry-After. */
  readonly maxPendingRequests: number
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  /**
   * The data quota (etcd's --quota-backend-bytes): the KV state machine's data
   * size (keys' UTF-8 bytes + values' bytes, the same on every node). Past it,
   * writes answer 507 NO_SPACE and the NOSPACE alarm is raised until
   * `synod alarm disarm`. Must be the same on every node. Default 2 GiB.
   */
  readonly quotaBackendBytes: number
  /** Exactly-once sessions kept in all (deterministic eviction). Must be the same on every node. Default 10,000. */
  readonly maxSessions: number
  /** Exactly-once sessions kept per signed client. Must be the same on every node. Default 256. */
  readonly maxSessionsPerClient: number
  /** The watch history: recent changes kept for watchers (older ones are compacted). Same on every node. Default 10,000 events, 16 MiB. */
  readonly historyEvents: number
  readonly historyBytes: number
  /** Leases kept at most (429 TOO_MANY_LEASES beyond). Same on every node. Default 10,000. */
  readonly maxLeases: number
  /**
   * Join a running cluster instead of forming one: the node starts as a
   * learner of the listed members and waits for the leader to add it
   * (`synod members add`). The configuration the cluster agreed on, kept
   * in the replicated log, decides from then on.
   */
  readonly join: boolean
  /** Name of the cluster, bound into every client signature ('' when none). */
  readonly cluster: string
  /**
   * Clients must authenticate (signed requests or TLS client certificates)
   * and hold a role. Default true; off only for a loopback API, or with
   * `insecureAllowUnauthenticated`.
   */
  readonly authentication: boolean
  /** Client ids (hex ed25519 public keys) with the admin role from the start; identical on every node. */
  readonly admins: readonly string[]
  /** Host names clients use besides the `http` address (DNS names); other Host headers get 421. */
  readonly hosts: readonly string[]
  /** Origins whose web pages may call the API (CORS); others get 403. */
  readonly allowedOrigins: readonly string[]
  /** Serve the API over TLS: PEM files of this node's certificate and key, and the cluster CA (client certificates). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string }
  /** Serve an unauthenticated API on a non-loopback address anyway (warned about every minute). */
  readonly insecureAllowUnauthenticated: boolean
  /** How far a signed request's timestamp may be from this node's clock. Default 5 minutes. */
  readonly clockSkewMs: number
  /** HTTP sessions (auth/http-sessions.ts) kept on this node; the oldest is dropped beyond it. Default 100,000. */
  readonly maxAuthSessions: number
  /** An HTTP session's fixed lifetime from its open. Default 1 hour. */
  readonly authSessionTtlMs: number
}

/**
 * In-flight client requests per node before it answers 429. Measured on the 2-core VM (apps/node
 * README, "Overload"): a 3-node Raft cluster commits ≈1–3k writes/s, so 1024 in flight is already
 * ≈0.3–1 s of queueing; beyond that requests would only time out (504) while the node drowns.
 */
export const DEFAULT_MAX_PENDING_REQUESTS = 1024

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const
const KNOWN_FIELDS = [
  'protocol',
  'dataDir',
  'keyFile',
  'listen',
  'http',
  'members',
  'protocolOptions',
  'logLevel',
  'requestTimeoutMs',
  'maxPendingRequests',
  'maxKeyBytes',
  'maxValueBytes',
  'quotaBackendBytes',
  'maxSessions',
  'maxSessionsPerClient',
  'historyEvents',
  'historyBytes',
  'maxLeases',
  'join',
  'cluster',
  'authentication',
  'admins',
  'hosts',
  'allowedOrigins',
  'tls',
  'insecureAllowUnauthenticated',
  'clockSkewMs',
  'maxAuthSessions',
  'authSessionTtlMs',
] as const

export const ENV_VARS: Record<string, (typeof KNOWN_FIELDS)[number]> = {
  SYNOD_PROTOCOL: 'protocol',
  SYNOD_DATA_DIR: 'dataDir',
  SYNOD_KEY_FILE: 'keyFile',
  SYNOD_LISTEN: 'listen',
  SYNOD_HTTP: 'http',
  SYNOD_LOG_LEVEL: 'logLevel',
  SYNOD_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  SYNOD_MAX_PENDING_REQUESTS: 'maxPendingRequests',
  SYNOD_MAX_KEY_BYTES: 'maxKeyBytes',
  SYNOD_MAX_VALUE_BYTES: 'maxValueBytes',
  SYNOD_QUOTA_BACKEND_BYTES: 'quotaBackendBytes',
  SYNOD_MAX_SESSIONS: 'maxSessions',
  SYNOD_MAX_SESSIONS_PER_CLIENT: 'maxSessionsPerClient',
  SYNOD_HISTORY_EVENTS: 'historyEvents',
  SYNOD_HISTORY_BYTES: 'historyBytes',
  SYNOD_MAX_LEASES: 'maxLeases',
  SYNOD_JOIN: 'join',
  SYNOD_CLUSTER: 'cluster',
  SYNOD_AUTHENTICATION: 'authentication',
  SYNOD_INSECURE_ALLOW_UNAUTHENTICATED: 'insecureAllowUnauthenticated',
}

const HOST_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost|\[[0-9a-fA-F:]+\]):(\d{1,5})$/

export function parseHostPort(value: string, field: string): { host: string; port: number } {
  const match = HOST_PORT.exec(value)
  const port = match === null ? Number.NaN : Number(match[2])
  if (match === null || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`'${value}' is not host:port (e.g. 127.0.0.1:8001)`, field)
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port }
}

function expectString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError('must be a non-empty string', field)
  return value
}

function expectStringList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.length === 0) throw new ConfigError('must be a non-empty list of strings', field)
  return value.map((v, i) => expectString(v, `${field}[${i}]`))
}

function expectPositiveInt(value: unknown, field: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw new ConfigError('must be a positive integer', field)
  return n
}

export function expectMultiaddr(value: string, field: string): string {
  if (!/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d{1,5}(\/ws)?(\/p2p\/[1-9A-HJ-NP-Za-km-z]+)?$/.test(value))
    throw new ConfigError(`'${value}' is not a tcp multiaddr (e.g. /ip4/127.0.0.1/tcp/7001)`, field)
  return value
}

/** Validate a raw configuration object (already merged from file, env and flags). Relative paths resolve against `baseDir`. */
export function validateConfig(raw: unknown, baseDir = process.cwd()): NodeConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('configuration must be a JSON object')
  const input = raw as Record<string, unknown>
  for (const key of Object.keys(input)) {
    if (!(KNOWN_FIELDS as readonly string[]).includes(key))
      throw new ConfigError(`unknown field (known: ${KNOWN_FIELDS.join(', ')})`, key)
  }
  const protocol = expectString(input.protocol, 'protocol')
  if (!/^[a-z][a-z0-9-]*$/.test(protocol)) throw new ConfigError('must be a lowercase protocol name', 'protocol')
  const dataDir = resolvePath(expectString(input.dataDir, 'dataDir'), baseDir)
  const keyFile = input.keyFile === undefined ? join(dataDir, 'node.key') : resolvePath(expectString(input.keyFile, 'keyFile'), baseDir)
  const listenRaw = typeof input.listen === 'string' ? input.listen.split(',') : input.listen
  const listen = expectStringList(listenRaw, 'listen').map((a, i) => expectMultiaddr(a.trim(), `listen[${i}]`))
  const http = expectString(input.http ?? '127.0.0.1:0', 'http')
  parseHostPort(http, 'http')
  if (!Array.isArray(input.members) || input.members.length === 0)
    throw new ConfigError('must list every member of the cluster (this node included)', 'members')
  const ids = new Set<string>()
  const members = input.members.map((m, i): MemberConfig => {
    const member = validateMember(m, `members[${i}]`)
    if (ids.has(member.id)) throw new ConfigError(`duplicate member ${member.id}`, `members[${i}].id`)
    ids.add(member.id)
    return member
  })
  const protocolOptions = input.protocolOptions ?? {}
  if (typeof protocolOptions !== 'object' || protocolOptions === null || Array.isArray(protocolOptions))
    throw new ConfigError('must be an object', 'protocolOptions')
  const logLevel = (input.logLevel ?? 'info') as NodeConfig['logLevel']
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`must be one of ${LOG_LEVELS.join(', ')}`, 'logLevel')
  return {
    protocol,
    dataDir,
    keyFile,
    listen,
    http,
    members,
    protocolOptions: protocolOptions as Record<string, unknown>,
    logLevel,
    requestTimeoutMs: expectPositiveInt(input.requestTimeoutMs ?? 5000, 'requestTimeoutMs'),
    maxPendingRequests: expectPositiveInt(input.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS, 'maxPendingRequests'),
    maxKeyBytes: expectPositiveInt(input.maxKeyBytes ?? 1024, 'maxKeyBytes'),
    maxValueBytes: expectPositiveInt(input.maxValueBytes ?? 1024 * 1024, 'maxValueBytes'),
    quotaBackendBytes: expectPositiveInt(input.quotaBackendBytes ?? DEFAULT_QUOTA_BYTES, 'quotaBackendBytes'),
    maxSessions: expectPositiveInt(input.maxSessions ?? DEFAULT_MAX_SESSIONS, 'maxSessions'),
    maxSessionsPerClient: expectPositiveInt(input.maxSessionsPerClient ?? DEFAULT_MAX_SESSIONS_PER_CLIENT, 'maxSessionsPerClient'),
    historyEvents: expectPositiveInt(input.historyEvents ?? DEFAULT_HISTORY_LIMITS.historyEvents, 'historyEvents'),
    historyBytes: expectPositiveInt(input.historyBytes ?? DEFAULT_HISTORY_LIMITS.historyBytes, 'historyBytes'),
    maxLeases: expectPositiveInt(input.maxLeases ?? DEFAULT_MAX_LEASES, 'maxLeases'),
    join: expectBoolean(input.join ?? false, 'join'),
    cluster: input.cluster === undefined || input.cluster === '' ? '' : expectString(input.cluster, 'cluster'),
    authentication: expectBoolean(input.authentication ?? true, 'authentication'),
    admins: expectOptionalList(input.admins, 'admins').map((a, i) => {
      if (!/^[0-9a-f]{64}$/.test(a)) throw new ConfigError('must be a client id: 64 lowercase hex characters (synod client init prints it)', `admins[${i}]`)
      return a
    }),
    hosts: expectOptionalList(input.hosts, 'hosts'),
    allowedOrigins: expectOptionalList(input.allowedOrigins, 'allowedOrigins').map((o, i) => {
      if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new ConfigError(`'${o}' is not an origin (scheme://host[:port])`, `allowedOrigins[${i}]`)
      return o
    }),
    ...(input.tls === undefined ? {} : { tls: validateTls(input.tls, baseDir) }),
    insecureAllowUnauthenticated: expectBoolean(input.insecureAllowUnauthenticated ?? false, 'insecureAllowUnauthenticated'),
    clockSkewMs: expectPositiveInt(input.clockSkewMs ?? 300_000, 'clockSkewMs'),
    maxAuthSessions: expectPositiveInt(input.maxAuthSessions ?? DEFAULT_HTTP_SESSION_LIMITS.maxSessions, 'maxAuthSessions'),
    authSessionTtlMs: expectPositiveInt(input.authSessionTtlMs ?? DEFAULT_HTTP_SESSION_LIMITS.ttlMs, 'authSessionTtlMs'),
  }
}

function expectOptionalList(value: unknown, field: string): string[] {
  if (value === undefined) return []
  const list = typeof value === 'string' ? value.split(',').filter((v) => v !== '') : value
  if (!Array.isArray(list)) throw new ConfigError('must be a list of strings', field)
  return list.map((v, i) => expectString(v, `${field}[${i}]`))
}

function validateTls(value: unknown, baseDir: string): { cert: string; key: string; ca: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError('must be { cert, key, ca } (PEM file paths)', 'tls')
  const tls = value as Record<string, unknown>
  for (const k of Object.keys(tls)) if (!['cert', 'key', 'ca'].includes(k)) throw new ConfigError('unknown field', `tls.${k}`)
  return {
    cert: resolvePath(expectString(tls.cert, 'tls.cert'), baseDir),
    key: resolvePath(expectString(tls.key, 'tls.key'), baseDir),
    ca: resolvePath(expectString(tls.ca, 'tls.ca'), baseDir),
  }
}

function expectBoolean(value: unknown, field: string): boolean {
  if (value === true || value === 'true' || value === '1') return true
  if (value === false || value === 'false' || value === '0') return false
  throw new ConfigError('must be true or false', field)
}

/** Validate one member record ({ id, publicKey, addrs, http? }); errors name `field`. */
export function validateMember(m: unknown, field: string): MemberConfig {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ConfigError('must be an object', field)
  const member = m as Record<string, unknown>
  for (const key of Object.keys(member)) {
    if (!['id', 'publicKey', 'addrs', 'http'].includes(key)) throw new ConfigError('unknown field', `${field}.${key}`)
  }
  const id = expectString(member.id, `${field}.id`)
  const publicKey = expectString(member.publicKey, `${field}.publicKey`)
  if (!/^[0-9a-f]{64}$/.test(publicKey)) throw new ConfigError('must be 64 lowercase hex characters (ed25519)', `${field}.publicKey`)
  const addrs = expectStringList(member.addrs, `${field}.addrs`).map((a, j) => expectMultiaddr(a, `${field}.addrs[${j}]`))
  const memberHttp = member.http === undefined ? undefined : expectString(member.http, `${field}.http`)
  if (memberHttp !== undefined) parseHostPort(memberHttp, `${field}.http`)
  return memberHttp === undefined ? { id, publicKey, addrs } : { id, publicKey, addrs, http: memberHttp }
}

function resolvePath(path: string, baseDir: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path)
}

/** Read a JSON config file; the error names the file and what is wrong. */
export function readConfigFile(file: string): { raw: Record<string, unknown>; baseDir: string } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`config file ${file} must hold a JSON object`)
  return { raw: raw as Record<string, unknown>, baseDir: dirname(resolve(file)) }
}

/** Merge: file < environment < flags (flags already mapped to config field names). */
export function mergeConfig(
  file: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  flags: Record<string, unknown>,
): Record<string, unknown> {
  const fromEnv: Record<string, unknown> = {}
  for (const [name, field] of Object.entries(ENV_VARS)) {
    const value = env[name]
    if (value !== undefined && value !== '') fromEnv[field] = value
  }
  const merged: Record<string, unknown> = { ...file, ...fromEnv }
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v
  return merged
}
