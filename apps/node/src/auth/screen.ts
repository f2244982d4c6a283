// The cheap checks every API request passes before anything else, against a
// web page that makes the user's browser talk to the node:
// - Host must be one of the node's names (DNS rebinding: evil.example.com
//   resolving to 127.0.0.1 must not reach the API) — else 421;
// - a cross-origin request (Origin, or Sec-Fetch-Site from a browser) is
//   refused unless its origin is configured — else 403; CORS headers and
//   preflights for allowed origins are the `cors` package's;
// - a request with a body must say application/json, so a cross-site
//   text/plain "simple request" can never be a write — else 415.
import type { IncomingMessage, ServerResponse } from 'node:http'
import cors from 'cors'
import { HttpError } from '../http-error.js'

export interface ScreenOptions {
  /** host:port the API listens on. */
  readonly http: string
  /** Further names clients use for this node (DNS names, addresses behind NAT). */
  readonly hosts: readonly string[]
  /** Origins (scheme://host[:port]) whose pages may call the API. */
  readonly allowedOrigins: readonly string[]
}

export type Screen = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1']

function hostName(hostPort: string): string | undefined {
  try {
    return new URL(`http://${hostPort}`).hostname.replace(/^\[|\]$/g, '').toLowerCase()
  } catch {
    return undefined
  }
}

/** The host names a request may carry: the configured ones, the bound address, and loopback names when reachable there. */
export function allowedHostNames(options: Pick<ScreenOptions, 'http' | 'hosts'>): Set<string> {
  const names = new Set<string>(options.hosts.map((h) => hostName(h) ?? h.toLowerCase()))
  const bound = hostName(options.http)
  if (bound !== undefined && bound !== '0.0.0.0' && bound !== '::') names.add(bound)
  if (bound === undefined || bound === '0.0.0.0' || bound === '::' || isLoopback(bound)) for (const n of LOOPBACK_NAMES) names.add(n)
  return names
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

const ALLOWED_HEADERS = ['content-type', 'synod-client-key', 'synod-session', 'synod-timestamp', 'synod-signature', 'synod-client-id', 'synod-client-seq']

export function createScreen(options: ScreenOptions): Screen {
  const hosts = allowedHostNames(options)
  const origins = new Set(options.allowedOrigins)
  const corsMiddleware = cors({
    origin: [...origins],
    methods: ['GET', 'PUT', 'POST', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    maxAge: 600,
  })
  return async (req, res) => {
    const host = req.headers.host
    const name = host === undefined ? undefined : hostName(host)
    if (name === undefined || !hosts.has(name))
      throw new HttpError(421, 'MISDIRECTED_REQUEST', `Host '${host ?? ''}' is not a name of this node (configure it in "hosts")`)
    const origin = req.headers.origin
    if (origin !== undefined && !origins.has(origin))
      throw new HttpError(403, 'ORIGIN_NOT_ALLOWED', `requests from origin '${origin}' are not allowed (configure it in "allowedOrigins")`)
    // A browser says where a request comes from even when it sends no Origin (e.g. a cross-site GET).
    const site = req.headers['sec-fetch-site']
    if (origin === undefined && (site === 'cross-site' || site === 'same-site'))
      throw new HttpError(403, 'ORIGIN_NOT_ALLOWED', 'cross-site requests are not allowed')
    const answered = await new Promise<boolean>((resolve, reject) => {
      corsMiddleware(req, res, (error?: unknown) => (error === undefined ? resolve(false) : reject(error as Error)))
      if (res.writableEnded) resolve(true) // a preflight, answered by the middleware
    })
    if (answered) return true
    const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined
    // Browsers send Origin with every cross-site POST, so an empty one is already refused above.
    if (hasBody) {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
      if (type !== 'application/json') throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'requests with a body must be content-type: application/json')
    }
    return false
  }
}
