import { describe, expect, it } from 'vitest'
import { utf8 } from '@synod/core'
import { buildReadCertificate, decodeReadCertificate, encodeReadCertificate, isReadCertificate, readLeaf } from '../src/read-certificate.js'
import { encodeReplies, merklePath, merkleTree } from '@synod/crypto'

describe('read certificate encoding', () => {
  it('the hand-written certificate is byte-identical to the canonical encoder, for one and several groups and any batch size', () => {
    for (const size of [1, 2, 7, 8, 9, 64, 300]) {
      const leaves = Array.from({ length: size }, (_, i) => readLeaf(utf8(`k${i}`), utf8(`v${i}`)))
      const other = leaves.map((leaf, i) => (i % 5 === 1 ? readLeaf(utf8(`k${i}`), utf8('x')) : leaf))
      const a = merkleTree(leaves)
      const b = merkleTree(other)
      const sig = (n: number) => new Uint8Array(64).fill(n)
      const groupA = [{ id: 'r0', sig: sig(1) }, { id: 'r2', sig: sig(2) }]
      const groupB = [{ id: 'replica-three', sig: sig(3) }]
      for (const position of [0, size - 1, Math.floor(size / 2)]) {
        const hand = buildReadCertificate(position, [
          { levels: a, encodedReplies: encodeReplies(groupA) },
          { levels: b, encodedReplies: encodeReplies(groupB) },
        ])
        const canonical = encodeReadCertificate({
          groups: [
            { path: merklePath(a, position), replies: groupA },
            { path: merklePath(b, position), replies: groupB },
          ],
        })
        expect([...hand]).toEqual([...canonical])
        expect(isReadCertificate(hand)).toBe(true)
        expect(decodeReadCertificate(hand).groups).toHaveLength(2)
      }
    }
  })

  it('rejects malformed certificates and is not confused with reply certificates', () => {
    expect(isReadCertificate(utf8('nonsense'))).toBe(false)
    expect(() => decodeReadCertificate(utf8('nonsense'))).toThrow()
    expect(() => decodeReadCertificate(encodeReadCertificate({ groups: [] }).slice(0, 3))).toThrow()
  })
})
