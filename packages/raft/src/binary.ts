import { InvalidMessageError } from '@synod/core'

// A small strict binary reader/writer. Raft's hot path (AppendEntries with
// many small commands) is dominated by encoding cost, so messages are laid
// out by hand with a DataView instead of CBOR; every read is bounds-checked
// and decoders insist on consuming the whole input.

/** Largest value whose high 32 bits fit a safe integer (2^53 - 1). */
const MAX_HIGH_WORD = 0x1f_ffff
const TWO_POW_32 = 0x1_0000_0000

export const UINT_BYTES = 8

export class ByteWriter {
  readonly bytes: Uint8Array
  private readonly view: DataView
  private offset = 0

  constructor(size: number) {
    this.bytes = new Uint8Array(size)
    this.view = new DataView(this.bytes.buffer)
  }

  u8(value: number): void {
    this.bytes[this.offset++] = value
  }

  u16(value: number): void {
    this.view.setUint16(this.offset, value)
    this.offset += 2
  }

  u32(value: number): void {
    this.view.setUint32(this.offset, value)
    this.offset += 4
  }

  /** A non-negative safe integer in 8 bytes (big-endian). */
  uint(value: number): void {
    this.view.setUint32(this.offset, Math.floor(value / TWO_POW_32))
    this.view.setUint32(this.offset + 4, value >>> 0)
    this.offset += 8
  }

  raw(data: Uint8Array): void {
    this.bytes.set(data, this.offset)
    this.offset += data.byteLength
  }

  /** u32 length prefix + bytes. */
  lengthPrefixed(data: Uint8Array): void {
    this.u32(data.byteLength)
    this.raw(data)
  }

  /** u16 length prefix + bytes, for short fields (node ids, keys). */
  shortBytes(data: Uint8Array): void {
    this.u16(data.byteLength)
    this.raw(data)
  }

  /** The written bytes; throws if the size computed up front was wrong (a bug, not bad input). */
  finish(): Uint8Array {
    if (this.offset !== this.bytes.byteLength) throw new Error(`encoder wrote ${this.offset} of ${this.bytes.byteLength} bytes`)
    return this.bytes
  }
}

export class ByteReader {
  private readonly view: DataView
  private offset = 0

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining(): number {
    return this.bytes.byteLength - this.offset
  }

  private need(n: number, what: string): void {
    if (this.offset + n > this.bytes.byteLength) throw new InvalidMessageError(`truncated ${what}`)
  }

  u8(what: string): number {
    this.need(1, what)
    return this.bytes[this.offset++]!
  }

  u16(what: string): number {
    this.need(2, what)
    const value = this.view.getUint16(this.offset)
    this.offset += 2
    return value
  }

  u32(what: string): number {
    this.need(4, what)
    const value = this.view.getUint32(this.offset)
    this.offset += 4
    return value
  }

  uint(what: string): number {
    this.need(8, what)
    const high = this.view.getUint32(this.offset)
    if (high > MAX_HIGH_WORD) throw new InvalidMessageError(`${what} exceeds the safe integer range`)
    const value = high * TWO_POW_32 + this.view.getUint32(this.offset + 4)
    this.offset += 8
    return value
  }

  bool(what: string): boolean {
    const value = this.u8(what)
    if (value > 1) throw new InvalidMessageError(`${what} must be 0 or 1`)
    return value === 1
  }

  /** `length` bytes as a view into the input (no copy). */
  raw(length: number, what: string): Uint8Array {
    this.need(length, what)
    const out = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return out
  }

  lengthPrefixed(what: string, maxLength: number): Uint8Array {
    const length = this.u32(`${what} length`)
    if (length > maxLength) throw new InvalidMessageError(`${what} is ${length} bytes, over ${maxLength}`)
    return this.raw(length, what)
  }

  shortBytes(what: string): Uint8Array {
    return this.raw(this.u16(`${what} length`), what)
  }

  /** Every decoder ends here: trailing bytes are malformed input. */
  end(what: string): void {
    if (this.offset !== this.bytes.byteLength)
      throw new InvalidMessageError(`${what} has ${this.bytes.byteLength - this.offset} trailing bytes`)
  }
}
