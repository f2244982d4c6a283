// GET /v1/watch: a Server-Sent Events stream of key changes, read from the replicated watch history of the
// local state machine (packages/kv history.ts). Each watcher keeps only the next revision it needs; on every
// applied change (and on a timer) it reads the history from there, so the stream is in revision order with
// no gap and no duplicate whatever this node's role, and a client that reconnects with fromRevision (or
// Last-Event-ID) resumes exactly where it stopped, on any node. See docs/adr/0015-watches-and-leases.md.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { KvEvent, KvStateMachine, KvValue } from '@synod/kv'
import { HttpError } from './http-error.js'

export { WATCH_PATH } from './auth/operations.js'
const WATCH_PARAMS = ['prefix', 'fromRevision']

export interface WatchParams {
  readonly prefix: string
  /** First revision wanted; undefined: from the next change on. */
  readonly fromRevision: number | undefined
}

/** Read and check a watch's query (400 naming the parameter); `Last-Event-ID` (the last complete revision) resumes after it. */
export function watchParams(query: URLSearchParams, lastEventId?: string): WatchParams {
  for (const name of query.keys())
    if (!WATCH_PARAMS.includes(name)) throw new HttpError(400, 'UNKNOWN_PARAMETER', `unknown query parameter '${name}' (allowed: ${WATCH_PARAMS.join(', ')})`)
  const from = query.get('fromRevision')
  if (from !== null && !/^\d{1,15}$/.test(from)) throw new HttpError(400, 'BAD_PARAMETER', 'fromRevision must be a non-negative integer')
  if (lastEventId !== undefined && !/^\d{1,15}$/.test(lastEventId)) throw new HttpError(400, 'BAD_PARAMETER', 'Last-Event-ID must be a revision')
  const fromRevision = lastEventId !== undefined ? Number(lastEventId) + 1 : from === null || from === '0' ? undefined : Number(from)
  return { prefix: query.get('prefix') ?? '', fromRevision }
}

const text = new TextDecoder()

function valueText(value: KvValue | undefined): string | null {
  if (value === undefined) return null
  if (value instanceof Uint8Array) return text.decode(value)
  return JSON.stringify(value.map((element) => text.decode(element)))
}

/** One SSE message: `event: PUT|DELETE`, the change as JSON; `id` only on a revision's last event (complete revisions resume). */
function eventMessage(event: KvEvent, last: boolean): string {
  const data =
    event.type === 'put'
      ? { type: 'PUT', revision: event.revision, key: event.key, value: valueText(event.value), createRevision: event.createRevision, modRevision: event.modRevision, version: event.version }
      : { type: 'DELETE', revision: event.revision, key: event.key }
  return `event: ${data.type}\n${last ? `id: ${event.revision}\n` : ''}data: ${JSON.stringify(data)}\n\n`
}

export interface WatchHubOptions {
  /** Watchers this node serves at once; more get 429 TOO_MANY_WATCHERS. */
  readonly maxWatchers: number
  /** A PROGRESS event (the revision reached, as `id`) after this long without one. Default 10 s. */
  readonly progressMs?: number
}

/** Every watch stream of this node, woken by the state machine's changes. */
export class WatchHub {
  private readonly watchers = new Set<() => void>()
  private readonly closers = new Set<() => void>()

  constructor(
    private readonly kv: KvStateMachine,
    private readonly options: WatchHubOptions,
  ) {
    kv.onChange = () => {
      for (const wake of this.watchers) wake()
    }
  }

  get size(): number {
    return this.watchers.size
  }

  /** End every stream (the node is stopping): clients reconnect elsewhere with their last revision. */
  closeAll(): void {
    for (const close of [...this.closers]) close()
  }

  /** Serve one watch until the client goes away, the history is compacted past it, or the node stops. */
  serve(_req: IncomingMessage, res: ServerResponse, params: WatchParams): Promise<void> {
    if (this.watchers.size >= this.options.maxWatchers)
      throw new HttpError(429, 'TOO_MANY_WATCHERS', `this node serves ${this.watchers.size} watchers, its limit; retry later or watch through another node`)
    let next = params.fromRevision ?? this.kv.currentRevision + 1
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    // The revision the stream starts at, so a client knows where it stands before any change.
    res.write(`: watching '${params.prefix}' from revision ${next}\n\n`)
    return new Promise<void>((resolve) => {
      let done = false
      let waitingDrain = false
      let lastProgress = Date.now()
      const progressMs = this.options.progressMs ?? 10_000
      const finish = () => {
        if (done) return
        done = true
        this.watchers.delete(pump)
        this.closers.delete(finish)
        clearInterval(timer)
        res.end()
        resolve()
      }
      const pump = () => {
        if (done || waitingDrain) return
        for (;;) {
          const read = this.kv.changesSince(next, params.prefix, 256)
          if (read.compacted) {
            const data = {
              error: 'COMPACTED',
              compactRevision: read.compactRevision,
              message: `revision ${next} is no longer in the watch history (compacted up to ${read.compactRevision}); read the current state, then watch from its revision + 1`,
            }
            res.write(`event: COMPACTED\ndata: ${JSON.stringify(data)}\n\n`)
            return finish()
          }
          let chunk = ''
          read.events.forEach((event, i) => (chunk += eventMessage(event, read.events[i + 1]?.revision !== event.revision)))
          const moved = read.revision > next
          next = read.revision
          if (chunk !== '') {
            lastProgress = Date.now()
            if (!res.write(chunk)) {
              // A slow reader: stop reading the history until its socket drains (it may meet COMPACTED then).
              waitingDrain = true
              res.once('drain', () => {
                waitingDrain = false
                pump()
              })
              return
            }
          }
          if (read.events.length === 0 || !moved) return
        }
      }
      const timer = setInterval(() => {
        pump()
        if (done || waitingDrain || Date.now() - lastProgress < progressMs) return
        lastProgress = Date.now()
        // etcd's progress notify: every revision below `next` has been sent (or did not match), so resume after it.
        res.write(`event: PROGRESS\nid: ${next - 1}\ndata: ${JSON.stringify({ revision: next - 1 })}\n\n`)
      }, Math.min(1000, progressMs))
      timer.unref()
      this.watchers.add(pump)
      this.closers.add(finish)
      // The response's close: the client went away (or the socket broke); the request itself has long been read.
      res.once('close', finish)
      pump()
    })
  }
}
