import type { KvValue } from './result.js'
import { ConfigError } from '@synod/core'

/** Size limits of the key-value state machine. Every replica of a cluster must use the same limits. */
export interface KvLimits {
  /** Longest key, in UTF-8 bytes. Default 1 KiB. */
  readonly maxKeyBytes: number
  /** Largest value, in bytes; for a list value, the sum of its elements. Default 1 MiB. */
  readonly maxValueBytes: number
  /** Most elements in one list value. Default 65,536. */
  readonly maxListItems: number
  /** Most keys one `list` command returns. Default 1,000. */
  readonly maxListKeys: number
  /**
   * Most value bytes one `list` with values returns (at least one key is always returned);
   * past it the answer says `more`. Default 4 MiB.
   */
  readonly maxListBytes: number
}

export const DEFAULT_KV_LIMITS: KvLimits = Object.freeze({
  maxKeyBytes: 1024,
  maxValueBytes: 1024 * 1024,
  maxListItems: 65_536,
  maxListKeys: 1000,
  maxListBytes: 4 * 1024 * 1024,
})

/** Fill in defaults and check every limit is a positive integer (ConfigError naming the field). */
export function resolveLimits(limits: Partial<KvLimits> = {}): KvLimits {
  return resolvePositiveIntegers(DEFAULT_KV_LIMITS, limits)
}

/** `defaults` overridden by the fields of `given` that are set, each a positive integer (ConfigError naming the field). */
export function resolvePositiveIntegers<T extends { readonly [K in keyof T]: number }>(defaults: T, given: Partial<T>): T {
  const resolved = { ...defaults }
  for (const field of Object.keys(defaults) as Array<keyof T & string>) {
    const value = given[field]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`must be a positive integer, got ${String(value)}`, field)
    resolved[field] = value
  }
  return resolved
}

/** UTF-8 length of a string without allocating its encoding (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8ByteLength(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4
        i++
      } else bytes += 3
    } else bytes += 3
  }
  return bytes
}

/** What a key and its value count against the quota: the key's UTF-8 length and the value's bytes (a list: its elements'). */
export function entryBytes(key: string, value: KvValue): number {
  let bytes = utf8ByteLength(key)
  if (value instanceof Uint8Array) return bytes + value.byteLength
  for (const element of value) bytes += element.byteLength
  return bytes
}
