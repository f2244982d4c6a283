/** An HTTP error with a JSON body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

/**
 * Whether an HTTP status says the node itself failed: 5xx other than 501 (not supported), 503 (unavailable:
 * not the leader, no quorum, the leader unreachable) and 504 (timed out, outcome unknown). Every expected
 * failure maps to one of those or to a 4xx; the daemon logs the rest as errors, and `synod-conformance
 * --cluster` fails a run on them.
 */
export function isNodeFailure(status: number): boolean {
  return status >= 500 && status < 600 && status !== 501 && status !== 503 && status !== 504
}
