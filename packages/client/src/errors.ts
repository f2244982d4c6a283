// What a call to the daemon's HTTP API can fail with: an HTTP error answer (status and JSON body kept as
// the node sent them), no answer within the request's timeout, or no answer at all (connection refused,
// reset, DNS). The retry logic tells them apart: only some are safe to retry (client.ts).

/** The node answered with a non-2xx status; `body` is its JSON answer ({ error, message, … }). */
export class SynodHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(`${status} ${String(body.error ?? 'ERROR')}: ${String(body.message ?? '')}`)
    this.name = 'SynodHttpError'
  }

  /** The answer's error code ('NOT_LEADER', 'OVERLOADED', …), '' when it has none. */
  get code(): string {
    return typeof this.body.error === 'string' ? this.body.error : ''
  }
}

/** No answer within the request's timeout (the request may have reached the node: a write's outcome is unknown). */
export class RequestTimeoutError extends Error {
  constructor(
    readonly endpoint: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer from ${endpoint} within ${timeoutMs} ms`)
    this.name = 'RequestTimeoutError'
  }
}

/**
 * No HTTP answer: `code` is the system error when the platform gives one (ECONNREFUSED, ECONNRESET, …).
 * `refused`: the connection was refused, so the request certainly never reached the node.
 */
export class NetworkError extends Error {
  /** The address and port tried, when the platform says (Node). */
  readonly address?: string
  readonly port?: number

  constructor(
    message: string,
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'NetworkError'
  }

  get refused(): boolean {
    return this.code === 'ECONNREFUSED'
  }
}

/** The call was cancelled through the caller's AbortSignal. */
export class AbortedError extends Error {
  constructor() {
    super('the request was aborted')
    this.name = 'AbortError'
  }
}
