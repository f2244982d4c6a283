import { describe, expect, it } from 'vitest'
import { crc32c } from '../src/checksum.js'

/** The textbook CRC-32C, a byte at a time: the reference for the slicing-by-8 version. */
function reference(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous
  for (const byte of bytes) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0x82f63b78 ^ (crc >>> 1) : crc >>> 1
  }
  return ~crc >>> 0
}

describe('CRC-32C (slicing-by-8)', () => {
  it('gives the standard check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(0))).toBe(0)
  })

  it('equals the bytewise CRC on every length, offset and running value, and extends chunk by chunk', () => {
    let seed = 1
    const data = new Uint8Array(4096).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24)
    for (let length = 0; length <= 40; length++)
      for (let offset = 0; offset < 9; offset++) {
        const part = data.subarray(offset, offset + length)
        expect(crc32c(part, 0x1234567)).toBe(reference(part, 0x1234567))
      }
    // A running value over uneven chunks is the CRC of the whole.
    let running = 0
    for (let at = 0; at < data.length; ) {
      const end = Math.min(data.length, at + 1 + ((at * 7) % 61))
      running = crc32c(data.subarray(at, end), running)
      at = end
    }
    expect(running).toBe(reference(data))
  })
})
