// The workspace patches @libp2p/utils' LengthPrefixedDecoder (patches/@libp2p__utils@7.4.1.patch; pnpm's
// patchedDependencies): when a chunk ends on a frame boundary — nearly every chunk noise decrypts — the
// unpatched decoder asks the length decoder to read an empty buffer, which throws a RangeError that the
// decoder catches: a stack trace per chunk, 5–10% of a loaded node's CPU in the daemon's profiles
// (attributed to noise's `uint16BEDecode`). Patched, it stops at an empty buffer; frames decode as before.
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { describe, expect, it } from 'vitest'

/** noise's length decoder: two bytes, big-endian, RangeError when fewer are buffered. */
function counting(): { decode: (data: { length: number; getUint16(offset: number): number }) => number; throws: () => number } {
  let thrown = 0
  return {
    decode: (data) => {
      if (data.length < 2) {
        thrown++
        throw new RangeError('Could not decode int16BE')
      }
      return data.getUint16(0)
    },
    throws: () => thrown,
  }
}

const frame = (payload: number[]) => Uint8Array.of(payload.length >> 8, payload.length & 0xff, ...payload)

describe('LengthPrefixedDecoder (patched)', () => {
  it('throws nothing when chunks end on a frame boundary', () => {
    const length = counting()
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: length.decode as never, encodingLength: () => 2 })
    const out: number[][] = []
    for (let i = 0; i < 100; i++) for (const b of decoder.decode(Uint8Array.of(...frame([i, i + 1]), ...frame([i])))) out.push([...b.subarray()])
    expect(out).toHaveLength(200)
    expect(out[0]).toEqual([0, 1])
    expect(out[199]).toEqual([99])
    expect(length.throws()).toBe(0)
  })

  it('still waits for the rest of a frame (or of its length) split across chunks', () => {
    const length = counting()
    const decoder = new LengthPrefixedDecoder({ lengthDecoder: length.decode as never, encodingLength: () => 2 })
    const whole = Uint8Array.of(...frame([1, 2, 3]), ...frame([4]))
    const out: number[][] = []
    for (const part of [whole.subarray(0, 1), whole.subarray(1, 4), whole.subarray(4, 6), whole.subarray(6)]) for (const b of decoder.decode(part)) out.push([...b.subarray()])
    expect(out).toEqual([[1, 2, 3], [4]])
    // One byte of a length: the length decoder's RangeError is what says "wait", as before the patch.
    expect(length.throws()).toBeGreaterThan(0)
  })
})
