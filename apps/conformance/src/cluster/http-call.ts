// One HTTP request to a node's client API, classified the way a history
// needs it: 'ok' with the answer, 'fail' only when the request certainly took
// no effect, 'info' when its outcome is unknown.
import { request } from 'node:http'

export type CallResult =
  /** `text`: the body as received (`body` is {} when it is not JSON, e.g. /metrics). */
  | { readonly kind: 'ok'; readonly status: number; readonly body: Record<string, unknown>; readonly text?: string }
  | { readonly kind: 'fail' | 'info'; readonly error: string; readonly status?: number; readonly body?: Record<string, unknown> }

/**
 * A fresh connection per request (agent: false): a refused connection then
 * certainly never reached the node ('fail'), whereas a pooled socket to a
 * node that was killed meanwhile resets with the request possibly delivered.
 * Certain refusals are 4xx answers (the command was refused, never proposed —
 * 409 included: no sessions are used, so only type errors give it). Timeouts,
 * resets and every 5xx (a 503 can come after a proposal, when a leader steps
 * down with the entry in flight; a 500 from a failed forward) are 'info'.
 */
export function call(host: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<CallResult> {
  const [hostname, port] = splitHost(host)
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve) => {
    let sent = false
    let settled = false
    const settle = (result: CallResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(result)
    }
    const req = request(
      {
        host: hostname,
        port,
        path,
        method,
        agent: false,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(payload.length) },
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', (error) => settle({ kind: 'info', error: `response: ${error.message}` }))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          let parsed: Record<string, unknown> = {}
          const text = Buffer.concat(chunks).toString('utf8')
          try {
            parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
          } catch {
            parsed = {}
          }
          if (status >= 200 && status < 300) settle({ kind: 'ok', status, body: parsed, text })
          else
            settle({
              kind: status >= 400 && status < 500 ? 'fail' : 'info',
              status,
              body: parsed,
              error: `${status} ${typeof parsed.error === 'string' ? parsed.error : 'ERROR'}`,
            })
        })
      },
    )
    const timer = setTimeout(() => {
      settle({ kind: 'info', error: `timeout after ${timeoutMs} ms` })
      req.destroy()
    }, timeoutMs)
    req.on('socket', (socket) => socket.once('connect', () => (sent = true)))
    req.on('error', (error: NodeJS.ErrnoException) => {
      // Refused before any byte was sent: certainly no effect.
      const certain = !sent && (error.code === 'ECONNREFUSED' || error.code === 'EADDRNOTAVAIL')
      settle({ kind: certain ? 'fail' : 'info', error: error.code ?? error.message })
    })
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

function splitHost(host: string): [string, number] {
  const at = host.lastIndexOf(':')
  return [host.slice(0, at), Number(host.slice(at + 1))]
}

export const kvPath = (key: string): string => `/v1/kv/${encodeURIComponent(key)}`
