// A minimal canonical CBOR writer for hot structures written by hand (the
// reply certificate, once per client answer; PBFT's request bundles): heads
// in their shortest form, so `decodeCanonical` accepts the result. Shared
// parts are encoded once per batch and spliced in as bytes.

export function cborHead(major: number, value: number): Uint8Array {
  const m = major << 5
  if (value < 24) return Uint8Array.of(m | value)
  if (value < 0x100) return Uint8Array.of(m | 24, value)
  if (value < 0x10000) return Uint8Array.of(m | 25, value >> 8, value & 0xff)
  if (value < 0x100000000) return Uint8Array.of(m | 26, value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)
  const hi = Math.floor(value / 0x100000000)
  const lo = value >>> 0
  return Uint8Array.of(m | 27, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff)
}

/** Bytes of a head in its shortest form. */
export function cborHeadLength(value: number): number {
  return value < 24 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 0x100000000 ? 5 : 9
}

/** Write a head in its shortest form at `offset` of `out`; returns the offset after it. */
export function writeHead(out: Uint8Array, offset: number, major: number, value: number): number {
  const m = major << 5
  if (value < 24) {
    out[offset] = m | value
    return offset + 1
  }
  if (value < 0x100) {
    out[offset] = m | 24
    out[offset + 1] = value
    return offset + 2
  }
  const head = cborHead(major, value)
  out.set(head, offset)
  return offset + head.byteLength
}

export const cborArrayHead = (length: number): Uint8Array => cborHead(4, length)

export function cborBytes(bytes: Uint8Array): Uint8Array[] {
  return [cborHead(2, bytes.byteLength), bytes]
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.byteLength
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

const textEncoder = new TextEncoder()

/**
 * Writes CBOR heads and raw bytes into one growing buffer: no per-item allocations on the hot path.
 * A writer kept by a hot encoder and `reset()` per use allocates only the result (`copy()`): typed
 * arrays over 64 bytes live outside V8's heap, and allocating one costs several times a CBOR head
 * (measured: ≈7× Buffer.allocUnsafe of the same size), so the encoders of every request reuse theirs.
 */
export class CborWriter {
  private buffer: Uint8Array
  private offset = 0

  constructor(capacity = 256) {
    this.buffer = new Uint8Array(capacity)
  }

  private reserve(bytes: number): void {
    if (this.offset + bytes <= this.buffer.byteLength) return
    const next = new Uint8Array(Math.max(this.buffer.byteLength * 2, this.offset + bytes))
    next.set(this.buffer.subarray(0, this.offset))
    this.buffer = next
  }

  head(major: number, value: number): this {
    this.reserve(9)
    const m = major << 5
    const b = this.buffer
    if (value < 24) b[this.offset++] = m | value
    else if (value < 0x100) {
      b[this.offset++] = m | 24
      b[this.offset++] = value
    } else if (value < 0x10000) {
      b[this.offset++] = m | 25
      b[this.offset++] = value >> 8
      b[this.offset++] = value & 0xff
    } else if (value < 0x100000000) {
      b[this.offset++] = m | 26
      this.uint32(value)
    } else {
      // Written in place (a timestamp in ms is one of these on every authenticated request): no head array.
      b[this.offset++] = m | 27
      this.uint32(Math.floor(value / 0x100000000))
      this.uint32(value >>> 0)
    }
    return this
  }

  private uint32(value: number): void {
    const b = this.buffer
    b[this.offset++] = value >>> 24
    b[this.offset++] = (value >>> 16) & 0xff
    b[this.offset++] = (value >>> 8) & 0xff
    b[this.offset++] = value & 0xff
  }

  /** Start over, keeping the buffer (for a writer an encoder reuses; never while a result is a view of it). */
  reset(): this {
    this.offset = 0
    return this
  }

  /** A CBOR text string (major 3) of `text`'s UTF-8, encoded straight into the buffer. */
  text(text: string): this {
    return this.utf8(3, text)
  }

  /** A CBOR byte string (major 2) holding `text`'s UTF-8 (a value given as text), encoded straight into the buffer. */
  textAsBytes(text: string): this {
    return this.utf8(2, text)
  }

  private utf8(major: number, text: string): this {
    // UTF-8 is at most 3 bytes per UTF-16 unit: leave room for the longest head that length could need,
    // encode after it, then move the bytes left if the real length has a shorter head.
    const most = text.length * 3
    const room = cborHeadLength(most)
    // (At least 9: `head` below must not grow the buffer, which would drop the bytes written past the offset.)
    this.reserve(Math.max(9, room + most))
    const start = this.offset
    const { written } = textEncoder.encodeInto(text, this.buffer.subarray(start + room))
    const headLength = cborHeadLength(written)
    if (headLength !== room) this.buffer.copyWithin(start + headLength, start + room, start + room + written)
    this.head(major, written)
    this.offset = start + headLength + written
    return this
  }

  bytes(value: Uint8Array): this {
    this.head(2, value.byteLength)
    return this.raw(value)
  }

  raw(value: Uint8Array): this {
    this.reserve(value.byteLength)
    this.buffer.set(value, this.offset)
    this.offset += value.byteLength
    return this
  }

  /** A copy of the written bytes, exactly sized (a reused writer's result). */
  copy(): Uint8Array {
    return this.buffer.slice(0, this.offset)
  }

  /**
   * The written bytes as a view of the buffer, valid only until the writer is used again: for bytes
   * consumed at once (hashed, MAC'd, verified), never kept.
   */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.offset)
  }

  /** The written bytes: the buffer itself when it was sized exactly (no copy), else a trimmed copy. */
  finish(): Uint8Array {
    return this.offset === this.buffer.byteLength ? this.buffer : this.buffer.slice(0, this.offset)
  }
}
