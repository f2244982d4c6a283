import { decode as cborDecode, encode as cborEncode } from 'cborg'
import { InvalidMessageError } from './errors.js'

/** Default ceiling for one decoded message. Transports enforce their own frame limit too. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/**
 * Deterministic CBOR (RFC 8949 §4.2: shortest integer forms, sorted map keys,
 * no indefinite lengths). The same value always gives the same bytes, which
 * byzantine protocols need because they sign bytes.
 */
export function encodeCanonical(value: unknown): Uint8Array {
  return cborEncode(value)
}

const strictDecodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
  useMaps: false,
} as const

/**
 * Decode canonical CBOR, rejecting anything a canonical encoder would not
 * produce, trailing bytes and input over `maxBytes`. Every failure is an
 * InvalidMessageError, which the Replica counts and drops.
 */
export function decodeCanonical(bytes: Uint8Array, maxBytes = DEFAULT_MAX_MESSAGE_BYTES): unknown {
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessageError('expected bytes')
  if (bytes.byteLength > maxBytes) throw new InvalidMessageError(`message of ${bytes.byteLength} bytes exceeds ${maxBytes}`)
  if (bytes.byteLength === 0) throw new InvalidMessageError('empty message')
  try {
    return cborDecode(bytes, strictDecodeOptions)
  } catch (error) {
    throw new InvalidMessageError(`malformed CBOR: ${(error as Error).message}`, { cause: error })
  }
}

// ---- Field validators for decoded messages. Each names the offending field. ----

export type Fields = Record<string, unknown>

export function expectRecord(value: unknown, what = 'message'): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw new InvalidMessageError(`${what} must be a map`)
  return value as Fields
}

export function expectArray(value: unknown, what: string, maxLength = Number.MAX_SAFE_INTEGER): unknown[] {
  if (!Array.isArray(value)) throw new InvalidMessageError(`${what} must be an array`)
  if (value.length > maxLength) throw new InvalidMessageError(`${what} has ${value.length} items, over ${maxLength}`)
  return value
}

/** A non-negative safe integer. */
export function expectUint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidMessageError(`${what} must be a non-negative integer`)
  return value
}

export function expectBytes(value: unknown, what: string, maxLength = Number.MAX_SAFE_INTEGER): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidMessageError(`${what} must be bytes`)
  if (value.byteLength > maxLength) throw new InvalidMessageError(`${what} is ${value.byteLength} bytes, over ${maxLength}`)
  return value
}

export function expectString(value: unknown, what: string, maxLength = 4096): string {
  if (typeof value !== 'string') throw new InvalidMessageError(`${what} must be a string`)
  if (value.length > maxLength) throw new InvalidMessageError(`${what} is longer than ${maxLength}`)
  return value
}

export function expectBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidMessageError(`${what} must be a boolean`)
  return value
}

export function expectOneOf<T extends string | number>(value: unknown, allowed: readonly T[], what: string): T {
  if (!allowed.includes(value as T)) throw new InvalidMessageError(`${what} must be one of ${allowed.join(', ')}`)
  return value as T
}

/** Reject fields a decoder does not know, so a message cannot smuggle data past validation. */
export function expectOnlyKeys(record: Fields, allowed: readonly string[], what = 'message'): void {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) throw new InvalidMessageError(`${what} has unknown field '${key}'`)
  }
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

const hexTable = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.byteLength; i++) out += hexTable[bytes[i]!]
  return out
}

/** Nibble value per UTF-16 code unit (0–127); -1 for anything that is not a hex digit. */
const nibbles = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) {
  nibbles[i.toString(16).charCodeAt(0)] = i
  nibbles[i.toString(16).toUpperCase().charCodeAt(0)] = i
}

/** Decode hex (either case). A table lookup per digit: parseInt per byte showed in request-path profiles. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new InvalidMessageError('invalid hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) {
    const hi = hex.charCodeAt(2 * i)
    const lo = hex.charCodeAt(2 * i + 1)
    const h = hi < 128 ? nibbles[hi]! : -1
    const l = lo < 128 ? nibbles[lo]! : -1
    if (h < 0 || l < 0) throw new InvalidMessageError('invalid hex string')
    out[i] = (h << 4) | l
  }
  return out
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

export function utf8(text: string): Uint8Array {
  return textEncoder.encode(text)
}

export function fromUtf8(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes)
  } catch (error) {
    throw new InvalidMessageError('invalid UTF-8', { cause: error })
  }
}
