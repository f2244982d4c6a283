// A watch: reads GET /v1/watch's Server-Sent Events and hands over whole revisions only (a revision's last
// event carries its `id`); when the stream breaks it reconnects — to the next endpoint — from the last
// complete revision + 1, so the caller sees every change once, in order, across node failures.
import { type Clock, encodeCanonical, signClientRequest, type Signer } from '@synod/core'
import { defaultClock } from './clock.js'
import { SynodHttpError } from './errors.js'
import { signedRequestHeaders } from './http-envelope.js'
import { SseParser } from './sse.js'
import { fetchTransport, type Transport } from './transport.js'

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE'
  readonly revision: number
  readonly key: string
  readonly value?: string | null
  readonly createRevision?: number
  readonly modRevision?: number
  readonly version?: number
}

/** The stream's credentials: headers for one stream (a signature over the watched prefix), made per connection. */
export type StreamAuth = (prefix: string) => Record<string, string>

export interface WatchOptions {
  readonly endpoints: readonly string[]
  readonly prefix: string
  /** First revision wanted (default: from the next change). */
  readonly fromRevision?: number
  /** Called with each complete revision's events, in order. */
  readonly onEvents: (events: readonly WatchEvent[]) => void
  /** A PROGRESS point: every change up to `revision` was sent (the node says so; a verified watch checks it). */
  readonly onProgress?: (revision: number) => void
  /** The history no longer holds the revision wanted: the watch ends. */
  readonly onCompacted?: (compactRevision: number, message: string) => void
  /** A broken or refused stream (before reconnecting). A refusal is a WatchRefusedError (status, body). */
  readonly onDisconnect?: (endpoint: string, error: Error | undefined) => void
  /** A stream is open: every change from here on will be delivered. */
  readonly onOpen?: (endpoint: string) => void
  readonly signal?: AbortSignal
  /** Wait between reconnects. Default 200 ms. */
  readonly retryMs?: number
  /** Default: fetch. */
  readonly transport?: Transport
  /** How each stream is authenticated; default: signed with `credentials.signer` when given, else unsigned. */
  readonly auth?: StreamAuth
  /** A signing key: each stream (re)connection is signed once, over the watched prefix. */
  readonly credentials?: { readonly signer?: Signer; readonly cluster?: string; readonly session?: number }
}

/** One signature per stream over `{ op: 'watch', prefix }` (what the node's guard checks), timestamps growing. */
export function signedStreamAuth(signer: Signer, cluster = '', session = 0, nextTimestamp?: () => number): StreamAuth {
  let last = 0
  const next = nextTimestamp ?? ((): number => (last = Math.max(defaultClock.now(), last + 1)))
  return (prefix) => signedRequestHeaders(signClientRequest(signer, { session, timestamp: next(), operation: encodeCanonical({ op: 'watch', prefix }) }, cluster))
}

/** The node refused the stream (4xx/5xx before any event); the watch reconnects unless the caller aborts. */
export class WatchRefusedError extends SynodHttpError {
  constructor(status: number, body: Record<string, unknown>, text: string) {
    super(status, body)
    this.message = `watch answered ${status}: ${text.slice(0, 300)}`
    this.name = 'WatchRefusedError'
  }
}

/** Runs until aborted or compacted; resolves with the next revision it would have asked for. */
export async function watch(options: WatchOptions): Promise<{ nextRevision: number | undefined; compacted: boolean }> {
  let next = options.fromRevision
  let attempt = 0
  const aborted = (): boolean => options.signal?.aborted === true
  const transport = options.transport ?? fetchTransport()
  const credentials = options.credentials
  const auth = options.auth ?? (credentials?.signer === undefined ? undefined : signedStreamAuth(credentials.signer, credentials.cluster, credentials.session))
  while (!aborted()) {
    const endpoint = options.endpoints[attempt % options.endpoints.length]!
    attempt++
    const ended = { compacted: false }
    let error: Error | undefined
    try {
      await streamOnce(transport, endpoint, options, auth, next, {
        revision: (events) => {
          next = events[events.length - 1]!.revision + 1
          attempt = 0 // a stream that delivered stays the preferred endpoint
          options.onEvents(events)
        },
        // PROGRESS: every revision up to here was sent; resume after it.
        progress: (revision) => {
          next = Math.max(next ?? 0, revision + 1)
          options.onProgress?.(revision)
        },
        compacted: (compactRevision, message) => {
          ended.compacted = true
          options.onCompacted?.(compactRevision, message)
        },
      })
    } catch (e) {
      error = e as Error
    }
    if (ended.compacted) return { nextRevision: next, compacted: true }
    if (aborted()) break
    options.onDisconnect?.(endpoint, error)
    if (aborted()) break
    await pause(options.retryMs ?? 200, options.signal)
  }
  return { nextRevision: next, compacted: false }
}

interface StreamHandlers {
  revision(events: WatchEvent[]): void
  progress(revision: number): void
  compacted(compactRevision: number, message: string): void
}

function baseOf(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint.replace(/\/$/, '') : `http://${endpoint}`
}

async function streamOnce(
  transport: Transport,
  endpoint: string,
  options: WatchOptions,
  auth: StreamAuth | undefined,
  fromRevision: number | undefined,
  on: StreamHandlers,
): Promise<void> {
  const query = new URLSearchParams({ prefix: options.prefix })
  if (fromRevision !== undefined) query.set('fromRevision', String(fromRevision))
  const headers: Record<string, string> = { accept: 'text/event-stream', ...(auth?.(options.prefix) ?? {}) }
  const controller = new AbortController()
  const stop = (): void => controller.abort()
  options.signal?.addEventListener('abort', stop, { once: true })
  try {
    const res = await transport.stream({ method: 'GET', url: `${baseOf(endpoint)}/v1/watch?${query.toString()}`, headers, signal: controller.signal })
    if (res.status !== 200) {
      let text = ''
      for await (const chunk of res.chunks()) text += chunk
      res.close()
      throw new WatchRefusedError(res.status, parseJson(text), text)
    }
    options.onOpen?.(endpoint)
    const parser = new SseParser()
    let pending: WatchEvent[] = []
    try {
      for await (const chunk of res.chunks()) {
        for (const message of parser.push(chunk)) {
          if (message.event === 'COMPACTED') {
            const parsed = JSON.parse(message.data) as { compactRevision: number; message: string }
            on.compacted(parsed.compactRevision, parsed.message)
            return
          }
          if (message.event === 'PROGRESS') {
            if (message.id !== undefined) on.progress(Number(message.id))
            continue
          }
          if (message.event !== 'PUT' && message.event !== 'DELETE') continue
          pending.push(JSON.parse(message.data) as WatchEvent)
          // A revision counts once its last event (the one with the id) arrived: never half a transaction.
          if (message.id !== undefined) {
            const complete = pending
            pending = []
            on.revision(complete)
          }
        }
        if (controller.signal.aborted) return
      }
    } finally {
      res.close()
    }
    if (controller.signal.aborted) return
    throw new Error('the watch stream ended')
  } catch (error) {
    if (options.signal?.aborted === true) return
    throw error
  } finally {
    options.signal?.removeEventListener('abort', stop)
  }
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text) as unknown
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {}
  } catch {
    return { error: 'BAD_RESPONSE', message: text.slice(0, 200) }
  }
}

/** Wait `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal, clock: Clock = defaultClock): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve()
    const done = (): void => {
      clock.clearTimer(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = clock.setTimer(ms, done)
    signal?.addEventListener('abort', done, { once: true })
  })
}
