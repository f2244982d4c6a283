/**
 * Running 64-bit FNV-1a (two 32-bit lanes with different offset bases) over
 * everything that happened in a run. Two runs of the same seed must end with
 * the same value; that is the simulator's determinism self-check.
 */
export class TraceHash {
  private lo = 0x811c9dc5
  private hi = 0xcbf29ce4
  private count = 0

  addByte(byte: number): void {
    this.lo = Math.imul(this.lo ^ byte, 0x01000193) >>> 0
    this.hi = Math.imul(this.hi ^ byte ^ (this.lo >>> 24), 0x01000193) >>> 0
  }

  addBytes(bytes: Uint8Array): void {
    this.addNumber(bytes.byteLength)
    for (let i = 0; i < bytes.byteLength; i++) this.addByte(bytes[i]!)
  }

  addString(text: string): void {
    this.addNumber(text.length)
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i)
      this.addByte(c & 0xff)
      this.addByte(c >>> 8)
    }
  }

  /** Numbers go in as their decimal text so fractional virtual times hash exactly. */
  addNumber(value: number): void {
    const text = String(value)
    for (let i = 0; i < text.length; i++) this.addByte(text.charCodeAt(i))
    this.addByte(0x1f)
  }

  /** Count of recorded items plus the hash, as hex. */
  digest(): string {
    return `${this.hi.toString(16).padStart(8, '0')}${this.lo.toString(16).padStart(8, '0')}`
  }

  record(): void {
    this.count++
  }

  get items(): number {
    return this.count
  }
}
