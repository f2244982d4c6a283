// The daemon's trust boundary, assembled from the configuration: the
// request screen (always), authentication and roles (unless turned off),
// the join-proof check, TLS server options, and the refusal to serve an
// unauthenticated API beyond loopback.
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { ConfigError, type Membership, toHex, type Replica, type Verifier } from '@synod/core'
import type { KvStateMachine } from '@synod/kv'
import type { MemberConfig, NodeConfig } from '../config.js'
import { parseHostPort } from '../config.js'
import type { HttpApiOptions } from '../http-api.js'
import { ApiGuard } from './guard.js'
import { DEFAULT_HTTP_SESSION_LIMITS, HttpSessionTable } from './http-sessions.js'
import type { MemberMacKeys } from './member-mac.js'
import { checkJoinProof } from './join-proof.js'
import { createScreen, isLoopback } from './screen.js'

export interface TlsServerOptions {
  readonly cert: string
  readonly key: string
  readonly ca: string
}

/** Refuse an unauthenticated API on a non-loopback address unless explicitly allowed (then warn every minute). */
export function checkExposure(config: NodeConfig, log: Logger): (() => void) | undefined {
  if (config.authentication) return undefined
  const { host } = parseHostPort(config.http, 'http')
  if (isLoopback(host)) {
    log.warn('authentication is off: anyone with a shell on this machine can use the API')
    return undefined
  }
  if (!config.insecureAllowUnauthenticated)
    throw new ConfigError(
      `refusing to serve an unauthenticated API on ${config.http} (not loopback): turn authentication on, or start with --insecure-allow-unauthenticated`,
      'authentication',
    )
  const warn = () => log.warn({ http: config.http }, 'INSECURE: the API is unauthenticated on a non-loopback address; anyone who can reach it owns the cluster')
  warn()
  const timer = setInterval(warn, 60_000)
  timer.unref()
  return () => clearInterval(timer)
}

export function readTls(config: NodeConfig): TlsServerOptions | undefined {
  if (config.tls === undefined) return undefined
  const read = (file: string, field: string) => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new ConfigError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, field)
    }
  }
  return { cert: read(config.tls.cert, 'tls.cert'), key: read(config.tls.key, 'tls.key'), ca: read(config.tls.ca, 'tls.ca') }
}

/** The HTTP API's security options for this node. */
export function apiSecurity(
  config: NodeConfig,
  replica: Replica,
  kv: KvStateMachine,
  verifier: Verifier,
  /** This node's own key and MAC keys (it checks the member MAC of a forwarded request with them). */
  memberMacs: MemberMacKeys,
  /** Byzantine protocol: re-verify a forwarded client signature instead of trusting the member's MAC. */
  reverifyForwardedSignatures: boolean,
): Pick<HttpApiOptions, 'screen' | 'guard' | 'checkJoinProof'> {
  const screen = createScreen({ http: config.http, hosts: config.hosts, allowedOrigins: config.allowedOrigins })
  if (!config.authentication) return { screen }
  let keysOf: { membership: Membership | undefined; keys: ReadonlyMap<string, string> } = { membership: undefined, keys: new Map() }
  const guard = new ApiGuard({
    cluster: config.cluster,
    clockSkewMs: config.clockSkewMs,
    roles: () => kv.roles,
    memberKeys: () => {
      // Rebuilt only when the membership changes (the replica hands out the same object until then).
      const m = replica.membership()
      if (m !== keysOf.membership)
        keysOf = { membership: m, keys: new Map([...m.voters, ...m.learners, ...(m.outgoing ?? [])].map((member) => [toHex(member.publicKey), member.id])) }
      return keysOf.keys
    },
    verifier,
    memberMacs,
    sessions: new HttpSessionTable(
      { cluster: config.cluster, node: replica.self },
      { ...DEFAULT_HTTP_SESSION_LIMITS, maxSessions: config.maxAuthSessions, ttlMs: config.authSessionTtlMs },
    ),
    reverifyForwardedSignatures,
  })
  return { screen, guard, checkJoinProof: (member: MemberConfig, proof: unknown) => checkJoinProof(verifier, member, proof, config.cluster) }
}
