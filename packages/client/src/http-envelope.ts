// The signed request over HTTP: the envelope's fields as headers; the
// operation is not sent as such — the server derives it from the request
// (method, path, body) with the same encoder the client used, so the
// signature covers exactly what the server will do.
import { fromHex, InvalidMessageError, MAX_CLIENT_SESSION, toHex, type SignedClientRequest } from '@synod/core'

export const CLIENT_KEY_HEADER = 'synod-client-key'
export const SESSION_HEADER = 'synod-session'
export const TIMESTAMP_HEADER = 'synod-timestamp'
export const SIGNATURE_HEADER = 'synod-signature'

export function signedRequestHeaders(request: SignedClientRequest): Record<string, string> {
  return {
    [CLIENT_KEY_HEADER]: toHex(request.client),
    [SESSION_HEADER]: String(request.session),
    [TIMESTAMP_HEADER]: String(request.timestamp),
    [SIGNATURE_HEADER]: toHex(request.signature),
  }
}

/** True when the request carries any of the signed-request headers. */
export function hasSignedRequestHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return headers[CLIENT_KEY_HEADER] !== undefined || headers[SIGNATURE_HEADER] !== undefined || headers[TIMESTAMP_HEADER] !== undefined
}

/**
 * The signed request in `headers` for `operation` (which the server derived
 * from the request). Checks shape only; the caller verifies the signature
 * with core's verifyClientRequest. Throws InvalidMessageError naming the header.
 */
export function parseSignedRequestHeaders(headers: Readonly<Record<string, string | string[] | undefined>>, operation: Uint8Array): SignedClientRequest {
  const key = single(headers, CLIENT_KEY_HEADER)
  const signature = single(headers, SIGNATURE_HEADER)
  const timestamp = single(headers, TIMESTAMP_HEADER)
  const session = headers[SESSION_HEADER] === undefined ? '0' : single(headers, SESSION_HEADER)
  if (!/^[0-9a-f]{64}$/.test(key)) throw new InvalidMessageError(`${CLIENT_KEY_HEADER} must be 64 lowercase hex characters (an ed25519 public key)`)
  if (!/^[0-9a-f]{128}$/.test(signature)) throw new InvalidMessageError(`${SIGNATURE_HEADER} must be 128 lowercase hex characters (an ed25519 signature)`)
  if (!/^[1-9]\d{0,15}$/.test(timestamp) || !Number.isSafeInteger(Number(timestamp)))
    throw new InvalidMessageError(`${TIMESTAMP_HEADER} must be a positive integer (milliseconds)`)
  if (!/^\d{1,5}$/.test(session) || Number(session) > MAX_CLIENT_SESSION)
    throw new InvalidMessageError(`${SESSION_HEADER} must be an integer in [0, ${MAX_CLIENT_SESSION}]`)
  return { client: fromHex(key), session: Number(session), timestamp: Number(timestamp), operation, signature: fromHex(signature) }
}

function single(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string {
  const value = headers[name]
  if (value === undefined) throw new InvalidMessageError(`missing header ${name}`)
  if (Array.isArray(value)) throw new InvalidMessageError(`header ${name} given more than once`)
  return value
}
