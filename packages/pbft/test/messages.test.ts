import { describe, expect, it } from 'vitest'
import { bytesEqual, encodeCanonical } from '@synod/core'
import { decodeBundle, encodeBundleBody } from '../src/messages.js'

describe('pbft wire format', () => {
  it('the hand-written bundle body encoder is byte-identical to encodeCanonical and decodes back', () => {
    const op = (length: number, fill: number) => new Uint8Array(length).fill(fill)
    const opLists = [[op(0, 0)], [op(23, 1), op(24, 2), op(255, 3), op(256, 4)], [op(65_536, 5)], Array.from({ length: 300 }, (_, i) => op(i % 40, i))]
    for (const proxy of ['r1', 'n12', 'x'.repeat(24), 'ü-replica', 'y'.repeat(256)])
      for (const ts of [1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3])
        for (const ops of opLists) {
          const body = encodeBundleBody(proxy, ts, ops)
          expect(bytesEqual(body, encodeCanonical({ p: proxy, t: ts, r: ops })), `${proxy} ${ts} ${ops.length}`).toBe(true)
          const bundle = decodeBundle({ b: body, g: new Uint8Array(64) })
          expect(bundle.proxy).toBe(proxy)
          expect(bundle.ts).toBe(ts)
          expect(bundle.ops.length).toBe(ops.length)
          expect(bundle.ops.every((o, i) => bytesEqual(o, ops[i]!))).toBe(true)
        }
  })
})
