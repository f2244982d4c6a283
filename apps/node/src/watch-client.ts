// A watch client: reads GET /v1/watch's Server-Sent Events and hands over whole revisions only (a revision's
// last event carries its `id`); when the stream breaks it reconnects — to the next endpoint — from the
// last complete revision + 1, so the caller sees every change once, in order, across node failures.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { encodeCanonical, signClientRequest, toHex } from '@synod/core'
import type { ClientCredentials } from './kv-client.js'

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE'
  readonly revision: number
  readonly key: string
  readonly value?: string | null
  readonly createRevision?: number
  readonly modRevision?: number
  readonly version?: number
}

export interface WatchOptions {
  readonly endpoints: readonly string[]
  readonly prefix: string
  /** First revision wanted (default: from the next change). */
  readonly fromRevision?: number
  readonly credentials?: ClientCredentials
  /** Called with each complete revision's events, in order. */
  readonly onEvents: (events: readonly WatchEvent[]) => void
  /** The history no longer holds the revision wanted: the watch ends. */
  readonly onCompacted?: (compactRevision: number, message: string) => void
  /** A broken stream (before reconnecting). */
  readonly onDisconnect?: (endpoint: string, error: Error | undefined) => void
  readonly signal?: AbortSignal
  /** Wait between reconnects. Default 200 ms. */
  readonly retryMs?: number
}

/** Runs until aborted or compacted; resolves with the next revision it would have asked for. */
export async function watch(options: WatchOptions): Promise<{ nextRevision: number | undefined; compacted: boolean }> {
  let next = options.fromRevision
  let attempt = 0
  const aborted = (): boolean => options.signal?.aborted === true
  while (!aborted()) {
    const endpoint = options.endpoints[attempt % options.endpoints.length]!
    attempt++
    const ended = { compacted: false }
    let error: Error | undefined
    try {
      await streamOnce(endpoint, options, next, (events) => {
        next = events[events.length - 1]!.revision + 1
        attempt = 0 // a stream that delivered stays the preferred endpoint
        options.onEvents(events)
      }, (revision) => {
        // PROGRESS: every revision up to here was sent; resume after it.
        next = Math.max(next ?? 0, revision + 1)
      }, (compactRevision, message) => {
        ended.compacted = true
        options.onCompacted?.(compactRevision, message)
      })
    } catch (e) {
      error = e as Error
    }
    if (ended.compacted) return { nextRevision: next, compacted: true }
    if (aborted()) break
    options.onDisconnect?.(endpoint, error)
    await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 200))
  }
  return { nextRevision: next, compacted: false }
}

function streamOnce(
  endpoint: string,
  options: WatchOptions,
  fromRevision: number | undefined,
  onRevision: (events: WatchEvent[]) => void,
  onProgress: (revision: number) => void,
  onCompacted: (compactRevision: number, message: string) => void,
): Promise<void> {
  const credentials = options.credentials ?? {}
  const tls = credentials.tls
  const base = /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/$/, '') : `${tls === undefined ? 'http' : 'https'}://${endpoint}`
  const query = new URLSearchParams({ prefix: options.prefix })
  if (fromRevision !== undefined) query.set('fromRevision', String(fromRevision))
  const url = new URL(`${base}/v1/watch?${query.toString()}`)
  const headers: Record<string, string> = { accept: 'text/event-stream' }
  if (credentials.signer !== undefined) {
    // One signature per stream (what the node's guard checks: the watched prefix).
    const session = credentials.session ?? 0
    const signed = signClientRequest(credentials.signer, { session, timestamp: Date.now(), operation: encodeCanonical({ op: 'watch', prefix: options.prefix }) }, credentials.cluster ?? '')
    headers['synod-client-key'] = toHex(signed.client)
    headers['synod-session'] = String(session)
    headers['synod-timestamp'] = String(signed.timestamp)
    headers['synod-signature'] = toHex(signed.signature)
  }
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const req = send(
      {
        host: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        headers,
        ...(tls === undefined ? {} : { ca: tls.ca, ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) }),
      },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => reject(new Error(`watch answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`)))
          return
        }
        res.setEncoding('utf8')
        let buffer = ''
        let pending: WatchEvent[] = []
        res.on('data', (chunk: string) => {
          buffer += chunk
          for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            let event = 'message'
            let id: string | undefined
            let data = ''
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue
              const colon = line.indexOf(':')
              const field = colon === -1 ? line : line.slice(0, colon)
              const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
              if (field === 'event') event = value
              else if (field === 'id') id = value
              else if (field === 'data') data += value
            }
            if (event === 'COMPACTED') {
              const parsed = JSON.parse(data) as { compactRevision: number; message: string }
              onCompacted(parsed.compactRevision, parsed.message)
              req.destroy()
              return resolve()
            }
            if (event === 'PROGRESS') {
              if (id !== undefined) onProgress(Number(id))
              continue
            }
            if (event !== 'PUT' && event !== 'DELETE') continue
            pending.push(JSON.parse(data) as WatchEvent)
            // A revision counts once its last event (the one with the id) arrived: never half a transaction.
            if (id !== undefined) {
              const complete = pending
              pending = []
              onRevision(complete)
            }
          }
        })
        res.on('end', () => reject(new Error('the watch stream ended')))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    options.signal?.addEventListener('abort', () => {
      req.destroy()
      resolve()
    })
    req.end()
  })
}
