// How the client reaches a node: one HTTP exchange at a time, or a streamed answer (a watch). The default
// is the platform's fetch (browsers, Node ≥ 18, Deno, Bun); Node programs that want keep-alive sockets
// without fetch's extra write per request, or a private CA / client certificate, use nodeTransport from
// '@synod/client/node' (this entry stays free of node: imports).
import { NetworkError } from './errors.js'

export interface TransportRequest {
  readonly method: string
  /** Absolute URL (http: or https:). */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** JSON text; content-type and length are the transport's business. */
  readonly body?: string
  /** Aborts the exchange (the client's per-request timeout, or the caller's signal). */
  readonly signal: AbortSignal
}

export interface TransportResponse {
  readonly status: number
  /** A response header (lowercase name), undefined when absent. */
  header(name: string): string | undefined
  readonly text: string
}

export interface StreamingResponse {
  readonly status: number
  header(name: string): string | undefined
  /** The body as text chunks, as they arrive; ends when the node closes the stream. */
  chunks(): AsyncIterable<string>
  /** Stop reading and release the connection. */
  close(): void
}

export interface Transport {
  /**
   * One request and its whole answer. Rejects with NetworkError when no answer came, and with the
   * signal's reason (or any error) when aborted — the client maps its own timeout to RequestTimeoutError.
   */
  send(request: TransportRequest): Promise<TransportResponse>
  /** A request whose answer is read as it arrives (Server-Sent Events). */
  stream(request: TransportRequest): Promise<StreamingResponse>
  /** Release pooled connections. */
  close?(): void
}

/** The system error code under fetch's "fetch failed" TypeError (undici puts it in `cause`). */
function networkError(error: unknown): NetworkError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause
  const code = typeof cause?.code === 'string' ? cause.code : undefined
  const detail = typeof cause?.message === 'string' ? `: ${cause.message}` : ''
  return new NetworkError(`${(error as Error).message}${detail}`, code, { cause: error })
}

async function fetchOnce(request: TransportRequest): Promise<Response> {
  try {
    return await fetch(request.url, {
      method: request.method,
      headers: request.body === undefined ? request.headers : { ...request.headers, 'content-type': 'application/json' },
      ...(request.body === undefined ? {} : { body: request.body }),
      signal: request.signal,
    })
  } catch (error) {
    if (request.signal.aborted) throw error
    throw networkError(error)
  }
}

/** The platform's fetch: works in browsers and in Node ≥ 18 (global fetch). */
export function fetchTransport(): Transport {
  return {
    async send(request) {
      const res = await fetchOnce(request)
      let text: string
      try {
        text = await res.text()
      } catch (error) {
        if (request.signal.aborted) throw error
        throw networkError(error)
      }
      return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, text }
    },
    async stream(request) {
      const res = await fetchOnce(request)
      const body = res.body
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
      return {
        status: res.status,
        header: (name) => res.headers.get(name) ?? undefined,
        async *chunks() {
          if (body === null) return
          reader = body.getReader()
          const decoder = new TextDecoder()
          try {
            while (true) {
              const { done, value } = await reader.read()
              if (done) break
              yield decoder.decode(value, { stream: true })
            }
          } catch (error) {
            if (request.signal.aborted) return
            throw networkError(error)
          }
        },
        close() {
          void (reader ?? body)?.cancel().catch(() => undefined)
        },
      }
    },
  }
}
