import { describe, expect, it } from 'vitest'
import { encodeCanonical, InvalidMessageError } from '@synod/core'
import { decodeBatchPayload } from '../src/batch-payload.js'
import { batchPayload } from '../src/messages.js'

const decode = (bytes: Uint8Array) => decodeBatchPayload(bytes, 256, 4096, 1 << 20)

describe('batch payload decoding (hand-written, strict)', () => {
  it('reads back what encodeCanonical writes, for every length class', () => {
    for (const [seq, sizes] of [
      [0, []],
      [23, [0, 1, 23]],
      [24, [24, 255]],
      [2 ** 32 + 5, [256, 65_535, 65_536]],
      [Number.MAX_SAFE_INTEGER, Array.from({ length: 300 }, (_, i) => i % 7)],
    ] as const) {
      const commands = sizes.map((n, i) => new Uint8Array(n).fill(i & 0xff))
      const batch = decode(batchPayload('r1', seq, commands))
      expect(batch.proxy).toBe('r1')
      expect(batch.seq).toBe(seq)
      expect(batch.commands).toEqual(commands)
    }
    expect(decode(batchPayload('réplica-ü', 1, [])).proxy).toBe('réplica-ü')
  })

  it('refuses non-canonical or foreign encodings and limits', () => {
    const good = batchPayload('r1', 7, [new Uint8Array([1, 2, 3])])
    const bad: Uint8Array[] = [
      encodeCanonical(['hotstuff/vote', 'r1', 7, [new Uint8Array([1])]]), // another tag
      encodeCanonical(['hotstuff/commands', 'r1', 7]), // three elements
      encodeCanonical(['hotstuff/commands', 'r1', -1, []]), // negative seq
      encodeCanonical(['hotstuff/commands', 'r1', 7, ['text']]), // a command that is not bytes
      encodeCanonical(['hotstuff/commands', new Uint8Array([1]), 7, []]), // proxy not text
      new Uint8Array([...good, 0]), // trailing byte
      good.subarray(0, good.length - 1), // truncated
      encodeCanonical(['hotstuff/commands', 'x'.repeat(257), 7, []]), // proxy too long
    ]
    // seq 7 written with a one-byte length (0x18 0x07): not minimal.
    const tagged = encodeCanonical(['hotstuff/commands', 'r1'])
    bad.push(new Uint8Array([0x84, ...tagged.subarray(1), 0x18, 0x07, 0x80]))
    for (const bytes of bad) expect(() => decode(bytes)).toThrow(InvalidMessageError)
    expect(() => decodeBatchPayload(batchPayload('r1', 1, [new Uint8Array(5)]), 256, 4096, 4)).toThrow(InvalidMessageError)
    expect(() => decodeBatchPayload(batchPayload('r1', 1, [new Uint8Array(1), new Uint8Array(1)]), 256, 1, 10)).toThrow(InvalidMessageError)
    // And the minimal form of the same is accepted (the test above is not vacuous).
    expect(decode(new Uint8Array([0x84, ...tagged.subarray(1), 0x07, 0x80])).seq).toBe(7)
  })
})
