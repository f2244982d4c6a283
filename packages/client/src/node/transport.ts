// The node:http transport ('@synod/client/node'): keep-alive sockets, and TLS with a private CA and a
// client certificate (which fetch cannot take without undici's own dispatcher). node:http writes a
// request's headers and small body in one segment; fetch wrote them separately and paid a Nagle /
// delayed-ACK stall (~10 ms) per request with a body — measured, see apps/node README.
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { NetworkError } from '../errors.js'
import type { StreamingResponse, Transport, TransportRequest } from '../transport.js'

/** One keep-alive agent per process for plain HTTP (TLS agents are per transport: they hold its CA). */
const sharedAgent = new Agent({ keepAlive: true, maxSockets: 256 })

export interface NodeTransportOptions {
  /** PEM: the CA to trust for https endpoints, and optionally a client certificate and its key. */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string }
}

function wrap(error: unknown): unknown {
  if (error instanceof NetworkError) return error
  const e = error as NodeJS.ErrnoException
  if (e.name === 'AbortError') return error
  // Keep where the connection went: a CLI names the address it could not reach.
  const where = error as { address?: unknown; port?: unknown }
  return Object.assign(new NetworkError(e.message, e.code, { cause: error }), {
    ...(typeof where.address === 'string' ? { address: where.address } : {}),
    ...(typeof where.port === 'number' ? { port: where.port } : {}),
  })
}

export function nodeTransport(options: NodeTransportOptions = {}): Transport {
  const tls = options.tls
  const httpsAgent =
    tls === undefined ? undefined : new HttpsAgent({ keepAlive: true, maxSockets: 256, ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) })
  const open = (request: TransportRequest): Promise<IncomingMessage> => {
    const url = new URL(request.url)
    const payload = request.body === undefined ? undefined : Buffer.from(request.body)
    const headers: Record<string, string | number> = { ...request.headers }
    if (payload !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = payload.byteLength
    }
    const https = url.protocol === 'https:'
    const send = https ? httpsRequest : httpRequest
    const agent = https ? (httpsAgent ?? new HttpsAgent({})) : sharedAgent
    return new Promise((resolve, reject) => {
      const req = send({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: request.method, agent, headers, signal: request.signal }, resolve)
      req.on('error', (error) => reject(wrap(error)))
      req.end(payload)
    })
  }
  return {
    async send(request) {
      const res = await open(request)
      const text = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
        res.on('error', (error) => reject(wrap(error)))
        res.on('aborted', () => reject(new NetworkError('the answer was cut off', 'ECONNRESET')))
      })
      return { status: res.statusCode ?? 0, header: (name) => single(res.headers[name]), text }
    },
    async stream(request): Promise<StreamingResponse> {
      const res = await open(request)
      res.setEncoding('utf8')
      return {
        status: res.statusCode ?? 0,
        header: (name) => single(res.headers[name]),
        async *chunks() {
          try {
            for await (const chunk of res) yield chunk as string
          } catch (error) {
            if (request.signal.aborted) return
            throw wrap(error)
          }
        },
        close: () => res.destroy(),
      }
    },
    close() {
      httpsAgent?.destroy()
    },
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
