// Canonical CBOR written and read by hand for what every write touches
// (ADR 0020, after ADR 0012): command slot values, the acceptor's run
// records (accepted-records.ts, ADR 0024), and the Accept / Heartbeat / Accepted messages. The encoders emit
// byte for byte what `encodeCanonical` emits (the wire format does not depend
// on which path wrote a message). The readers take only the exact shapes they know
// (shortest heads, definite lengths, safe integers, no trailing bytes) and
// answer `undefined` for anything else, which then goes through the generic
// `cborg` decoder: that keeps the strictness and the error messages of the
// generic path, and a fast path can never accept what it would refuse.
import { CborWriter } from '@synod/core'

/** 2^53 − 1 has a high word of 0x1fffff: above it a uint is not a safe integer. */
const MAX_HIGH_WORD = 0x1f_ffff

/** A strict reader of canonical CBOR heads over one buffer; every method answers undefined on anything unexpected. */
export class HotReader {
  offset: number

  constructor(
    readonly bytes: Uint8Array,
    start: number,
  ) {
    this.offset = start
  }

  get atEnd(): boolean {
    return this.offset === this.bytes.byteLength
  }

  /** The value of a head of major type `major` in its shortest form, or undefined. */
  head(major: number): number | undefined {
    const b = this.bytes
    const o = this.offset
    if (o >= b.byteLength) return undefined
    const first = b[o]!
    if (first >> 5 !== major) return undefined
    const info = first & 0x1f
    if (info < 24) {
      this.offset = o + 1
      return info
    }
    if (info === 24) {
      if (o + 2 > b.byteLength || b[o + 1]! < 24) return undefined
      this.offset = o + 2
      return b[o + 1]!
    }
    if (info === 25) {
      if (o + 3 > b.byteLength) return undefined
      const v = (b[o + 1]! << 8) | b[o + 2]!
      if (v < 0x100) return undefined
      this.offset = o + 3
      return v
    }
    if (info === 26) {
      if (o + 5 > b.byteLength) return undefined
      const v = ((b[o + 1]! << 24) | (b[o + 2]! << 16) | (b[o + 3]! << 8) | b[o + 4]!) >>> 0
      if (v < 0x10000) return undefined
      this.offset = o + 5
      return v
    }
    if (info === 27) {
      if (o + 9 > b.byteLength) return undefined
      const hi = ((b[o + 1]! << 24) | (b[o + 2]! << 16) | (b[o + 3]! << 8) | b[o + 4]!) >>> 0
      const lo = ((b[o + 5]! << 24) | (b[o + 6]! << 16) | (b[o + 7]! << 8) | b[o + 8]!) >>> 0
      if (hi === 0 || hi > MAX_HIGH_WORD) return undefined
      this.offset = o + 9
      return hi * 0x1_0000_0000 + lo
    }
    return undefined
  }

  uint(): number | undefined {
    return this.head(0)
  }

  bool(): boolean | undefined {
    const v = this.bytes[this.offset]
    if (v === 0xf5 || v === 0xf4) {
      this.offset++
      return v === 0xf5
    }
    return undefined
  }

  /** A byte string of at most `max` bytes, as a view of the input (as cborg returns it). */
  byteString(max: number): Uint8Array | undefined {
    const n = this.head(2)
    if (n === undefined || n > max || this.offset + n > this.bytes.byteLength) return undefined
    const out = this.bytes.subarray(this.offset, this.offset + n)
    this.offset += n
    return out
  }
}

const TRUE = Uint8Array.of(0xf5)
const FALSE = Uint8Array.of(0xf4)

/** One writer reused by every hot encoder (results are copied out): no allocation but the result. */
const writer = new CborWriter(4096)

export function hotWriter(): CborWriter {
  return writer.reset()
}

export function writeBool(w: CborWriter, value: boolean): void {
  w.raw(value ? TRUE : FALSE)
}

/** encodeCanonical([1, nonce, counter, command]): a command slot value. */
export function encodeCommandValueHot(nonce: number, counter: number, command: Uint8Array): Uint8Array {
  return hotWriter().head(4, 4).head(0, 1).head(0, nonce).head(0, counter).bytes(command).copy()
}

/** [nonce, counter, command] of a canonical command value [1, nonce, counter, command], or undefined for any other shape. */
export function readCommandValue(bytes: Uint8Array, maxCommandBytes: number): { nonce: number; counter: number; command: Uint8Array } | undefined {
  if (bytes.byteLength < 5 || bytes[0] !== 0x84 || bytes[1] !== 0x01) return undefined
  const r = new HotReader(bytes, 2)
  const nonce = r.uint()
  if (nonce === undefined) return undefined
  const counter = r.uint()
  if (counter === undefined) return undefined
  const command = r.byteString(maxCommandBytes)
  if (command === undefined || !r.atEnd) return undefined
  return { nonce, counter, command }
}
