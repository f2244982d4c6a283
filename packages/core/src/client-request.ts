// The signed client request: one envelope for every protocol and for the
// daemon's HTTP API (docs/adr/0006-client-identity.md). A client is an ed25519
// key; it signs what it asks for together with a per-session timestamp, so
// that no node can act in its name and no answer to an older request can be
// passed off as the answer to a new one.
import {
  bytesEqual,
  decodeCanonical,
  encodeCanonical,
  expectBytes,
  expectOnlyKeys,
  expectRecord,
  expectUint,
  toHex,
} from './codec.js'
import { CborWriter, cborHeadLength } from './cbor-writer.js'
import { InvalidMessageError } from './errors.js'
import type { Signer, Verifier } from './runtime-contracts.js'

/** Domain separation: a client signature can never be mistaken for a signature of another kind. */
export const CLIENT_REQUEST_DOMAIN = 'synod/client-request/v1'
export const CLIENT_KEY_BYTES = 32
export const CLIENT_SIGNATURE_BYTES = 64
/** Ceiling of one envelope's operation; protocols and the daemon enforce their own, smaller limits. */
export const MAX_CLIENT_OPERATION_BYTES = 64 * 1024 * 1024
/** Sessions per client identity are small numbers chosen by the client (one request in flight each). */
export const MAX_CLIENT_SESSION = 0xffff

export interface ClientRequest {
  /** The client's ed25519 public key: its identity. */
  readonly client: Uint8Array
  /** A stream chosen by the client; each session has at most one request in flight. */
  readonly session: number
  /** Strictly increasing per (client, session); clients use milliseconds since the epoch, bumped past the last one. */
  readonly timestamp: number
  /** The canonical bytes of what the client asks (e.g. an encoded KV command). */
  readonly operation: Uint8Array
}

export interface SignedClientRequest extends ClientRequest {
  readonly signature: Uint8Array
}

/** The client id used in logs, roles and sessions: lowercase hex of the public key. */
export function clientIdOf(publicKey: Uint8Array): string {
  return toHex(publicKey)
}

/**
 * The bytes a client signs: canonical CBOR of [domain, cluster, client, session, timestamp, operation].
 * `transient`: a view of a shared buffer, valid until the next transient call — for a MAC computed at
 * once (never for a signer or verifier that might keep it).
 */
export function clientRequestStatement(request: ClientRequest, cluster: string, transient = false): Uint8Array {
  const { client, session, timestamp, operation } = request
  const clusterBytes = asciiBytes(cluster)
  // Written by hand (once per request on both sides of every authenticated call): the same bytes as
  // encodeCanonical of the array, which the odd shapes (non-ASCII cluster, non-integers) still take.
  if (clusterBytes === undefined || !isUint(session) || !isUint(timestamp) || !(client instanceof Uint8Array) || !(operation instanceof Uint8Array))
    return encodeCanonical([CLIENT_REQUEST_DOMAIN, cluster, client, session, timestamp, operation])
  if (transient) {
    // A MAC of every request consumes the statement at once: write it into one reused buffer, allocate nothing.
    return statementScratch.reset().raw(DOMAIN_HEAD).head(3, clusterBytes.byteLength).raw(clusterBytes).bytes(client).head(0, session).head(0, timestamp).bytes(operation).view()
  }
  // Sized exactly, so `finish` hands back the buffer itself: one allocation per statement.
  const size =
    DOMAIN_HEAD.byteLength +
    cborHeadLength(clusterBytes.byteLength) + clusterBytes.byteLength +
    cborHeadLength(client.byteLength) + client.byteLength +
    cborHeadLength(session) + cborHeadLength(timestamp) +
    cborHeadLength(operation.byteLength) + operation.byteLength
  const w = new CborWriter(size)
  return w.raw(DOMAIN_HEAD).head(3, clusterBytes.byteLength).raw(clusterBytes).bytes(client).head(0, session).head(0, timestamp).bytes(operation).finish()
}

const statementScratch = new CborWriter(1024)

/** The array head and the domain text, which open every statement. */
const DOMAIN_HEAD = Uint8Array.of(0x86, 0x60 | CLIENT_REQUEST_DOMAIN.length, ...Array.from(CLIENT_REQUEST_DOMAIN, (c) => c.charCodeAt(0)))
const isUint = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

let lastCluster = ''
let lastClusterBytes = new Uint8Array(0)
/** UTF-8 of an ASCII cluster name (cached: a process talks to one cluster), undefined for any other text. */
function asciiBytes(text: string): Uint8Array | undefined {
  if (text === lastCluster) return lastClusterBytes
  const bytes = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7f) return undefined
    bytes[i] = c
  }
  lastCluster = text
  lastClusterBytes = bytes
  return bytes
}

export function signClientRequest(signer: Signer, request: Omit<ClientRequest, 'client'>, cluster: string): SignedClientRequest {
  const unsigned: ClientRequest = { client: signer.publicKey, session: request.session, timestamp: request.timestamp, operation: request.operation }
  checkShape(unsigned)
  return { ...unsigned, signature: signer.sign(clientRequestStatement(unsigned, cluster)) }
}

/** True when `request.signature` is the client's signature over the request for `cluster`. */
export function verifyClientRequest(verifier: Verifier, request: SignedClientRequest, cluster: string): boolean {
  if (request.client.byteLength !== CLIENT_KEY_BYTES || request.signature.byteLength !== CLIENT_SIGNATURE_BYTES) return false
  return verifier.verify(request.client, clientRequestStatement(request, cluster), request.signature)
}

const ENVELOPE_KEYS = ['v', 'c', 'n', 't', 'o', 's'] as const

/** Canonical CBOR map { v: 1, c: client, n: session, t: timestamp, o: operation, s: signature }. */
export function encodeSignedClientRequest(request: SignedClientRequest): Uint8Array {
  checkShape(request)
  return encodeCanonical({ v: 1, c: request.client, n: request.session, t: request.timestamp, o: request.operation, s: request.signature })
}

/** Decode and check the shape (not the signature). Throws InvalidMessageError naming the field. */
export function decodeSignedClientRequest(bytes: Uint8Array, maxBytes = MAX_CLIENT_OPERATION_BYTES + 1024): SignedClientRequest {
  const record = expectRecord(decodeCanonical(bytes, maxBytes), 'client request')
  expectOnlyKeys(record, ENVELOPE_KEYS, 'client request')
  if (expectUint(record['v'], 'client request version') !== 1) throw new InvalidMessageError('client request version must be 1')
  const request: SignedClientRequest = {
    client: expectBytes(record['c'], 'client key', CLIENT_KEY_BYTES),
    session: expectUint(record['n'], 'client session'),
    timestamp: expectUint(record['t'], 'client timestamp'),
    operation: expectBytes(record['o'], 'client operation', MAX_CLIENT_OPERATION_BYTES),
    signature: expectBytes(record['s'], 'client signature', CLIENT_SIGNATURE_BYTES),
  }
  checkShape(request)
  // Canonical form only: the bytes a reply certificate binds are exactly the bytes the client sent.
  if (!bytesEqual(encodeSignedClientRequest(request), bytes)) throw new InvalidMessageError('client request is not in canonical form')
  return request
}

/**
 * A cheap test for "these bytes are an envelope" (a CBOR map of six entries
 * whose first key is "c"), used to tell envelopes from plain commands without
 * a full decode. A true answer still needs decodeSignedClientRequest.
 */
export function isSignedClientRequest(bytes: Uint8Array): boolean {
  // 0xa6: map(6); 0x61 0x63: text(1) "c" — canonical order sorts keys by encoded bytes: c, n, o, s, t, v.
  return bytes.byteLength > 3 && bytes[0] === 0xa6 && bytes[1] === 0x61 && bytes[2] === 0x63
}

function checkShape(request: ClientRequest | SignedClientRequest): void {
  if (request.client.byteLength !== CLIENT_KEY_BYTES) throw new InvalidMessageError(`client key must be ${CLIENT_KEY_BYTES} bytes`)
  if (!Number.isSafeInteger(request.session) || request.session < 0 || request.session > MAX_CLIENT_SESSION)
    throw new InvalidMessageError(`client session must be an integer in [0, ${MAX_CLIENT_SESSION}]`)
  if (!Number.isSafeInteger(request.timestamp) || request.timestamp < 1) throw new InvalidMessageError('client timestamp must be a positive integer')
  if ('signature' in request && request.signature.byteLength !== CLIENT_SIGNATURE_BYTES)
    throw new InvalidMessageError(`client signature must be ${CLIENT_SIGNATURE_BYTES} bytes`)
}

