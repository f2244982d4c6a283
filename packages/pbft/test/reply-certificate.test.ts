import { describe, expect, it } from 'vitest'
import { InvalidMessageError, utf8, type CommandResult } from '@synod/core'
import { decodeReplyCertificate, encodeReplyCertificate, verifyReplyCertificate } from '../src/index.js'
import { encodeAnswerCertificate, encodeReplies, merklePath, merkleRoot, merkleTree, resultLeaf, rootFromPath } from '@synod/crypto'
import { keysFor, TestCluster } from './helpers.js'

async function oneAnswer(): Promise<{ c: TestCluster; answer: CommandResult }> {
  const c = new TestCluster({ n: 4 })
  await c.start()
  const [answer] = await c.settle([c.propose('r2', 'set a 1')])
  return { c, answer: answer as CommandResult }
}

describe('reply certificates (f+1 matching signed replies)', () => {
  const verifier = keysFor('client').verifier

  it('accepts a genuine certificate and binds it to the command, result and index', async () => {
    const { c, answer } = await oneAnswer()
    const ok = verifyReplyCertificate(answer.proof!, c.membership, verifier, { command: utf8('set a 1'), result: answer.result, index: answer.index })
    expect(ok.signers).toHaveLength(2)
    const real = { command: utf8('set a 1'), result: answer.result }
    expect(() => verifyReplyCertificate(answer.proof!, c.membership, verifier, { ...real, command: utf8('set a 2') })).toThrow(/0 valid/)
    expect(() => verifyReplyCertificate(answer.proof!, c.membership, verifier, { ...real, result: utf8('lie') })).toThrow(/0 valid/)
    expect(() => verifyReplyCertificate(answer.proof!, c.membership, verifier, { ...real, index: answer.index + 1 })).toThrow(/different index/)
  })

  it('rejects too few, duplicated, forged, non-member and mismatching replies', async () => {
    const { c, answer } = await oneAnswer()
    const cert = decodeReplyCertificate(answer.proof!)
    const check = (bytes: Uint8Array) => () => verifyReplyCertificate(bytes, c.membership, verifier, { command: utf8('set a 1'), result: answer.result })
    expect(check(answer.proof!)).not.toThrow()
    // too few
    expect(check(encodeReplyCertificate({ ...cert, replies: cert.replies.slice(0, 1) }))).toThrow(InvalidMessageError)
    // the same replica twice counts once
    expect(check(encodeReplyCertificate({ ...cert, replies: [cert.replies[0]!, cert.replies[0]!] }))).toThrow(/1 valid/)
    // a forged signature
    const forged = cert.replies[1]!.sig.slice()
    forged[0]! ^= 1
    expect(check(encodeReplyCertificate({ ...cert, replies: [cert.replies[0]!, { id: cert.replies[1]!.id, sig: forged }] }))).toThrow(/1 valid/)
    // a signature by a key that is not a member, under a member-looking id
    const outsider = keysFor('outsider').signer.sign(utf8('anything'))
    expect(check(encodeReplyCertificate({ ...cert, replies: [cert.replies[0]!, { id: 'intruder', sig: outsider }] }))).toThrow(/1 valid/)
    // mismatching content: another index or a claimed failure no longer hashes to the signed root
    expect(check(encodeReplyCertificate({ ...cert, index: cert.index + 1 }))).toThrow(/0 valid/)
    expect(check(encodeReplyCertificate({ ...cert, failed: true }))).toThrow(/0 valid/)
    expect(check(encodeReplyCertificate({ ...cert, seq: cert.seq + 1 }))).toThrow(/0 valid/)
    // garbage
    expect(check(utf8('nope'))).toThrow(InvalidMessageError)
    // malformed path steps
    const sibling = new Uint8Array(32)
    expect(() => decodeReplyCertificate(encodeReplyCertificate({ ...cert, path: [{ position: 2, siblings: [sibling] }] }))).toThrow(/past its siblings/)
    expect(() => decodeReplyCertificate(encodeReplyCertificate({ ...cert, path: [{ position: 0, siblings: [] }] }))).toThrow(/at least one sibling/)
    expect(() => decodeReplyCertificate(encodeReplyCertificate({ ...cert, path: [{ position: 0, siblings: Array(8).fill(sibling) }] }))).toThrow(InvalidMessageError)
  })

  it('merkle paths prove every leaf of odd and even sized batches', () => {
    // Arity 8: full and partial groups, a lone last node carried up (9, 65, 513), several levels.
    for (const size of [1, 2, 3, 5, 8, 9, 13, 64, 65, 100, 513]) {
      const leaves = Array.from({ length: size }, (_, i) => resultLeaf(i + 1, utf8(`command ${i}`), utf8(`result ${i}`), false))
      const levels = merkleTree(leaves)
      const root = merkleRoot(leaves)
      leaves.forEach((leaf, i) => expect(rootFromPath(leaf, merklePath(levels, i))).toEqual(root))
      if (size > 1) expect(rootFromPath(leaves[0]!, merklePath(levels, 1))).not.toEqual(root)
      if (size > 2) {
        // The same siblings with our node at another position hash to another root.
        const [first, ...rest] = merklePath(levels, 1)
        expect(rootFromPath(leaves[1]!, [{ position: 0, siblings: first!.siblings }, ...rest])).not.toEqual(root)
      }
    }
  })

  it('the proxy\'s direct certificate writer produces exactly encodeReplyCertificate\'s bytes', () => {
    const replies = [{ id: 'r0', sig: new Uint8Array(64).fill(1) }, { id: 'r1', sig: new Uint8Array(64).fill(2) }]
    for (const size of [1, 2, 7, 8, 9, 64, 65, 300]) {
      const levels = merkleTree(Array.from({ length: size }, (_, i) => resultLeaf(i, utf8(`c${i}`), utf8(`r${i}`), false)))
      for (const position of new Set([0, 1, size - 1, Math.floor(size / 2)].filter((p) => p < size))) {
        for (const [seq, index] of [[1, position + 1], [70_000, 2 ** 33 + position]] as const) {
          const direct = encodeAnswerCertificate(seq, index, false, levels, position, encodeReplies(replies))
          expect(direct).toEqual(encodeReplyCertificate({ seq, index, failed: false, path: merklePath(levels, position), replies }))
          expect(direct.byteLength).toBe(direct.buffer.byteLength) // exactly sized, not a view of a larger buffer
        }
      }
    }
  })

  it('pins the leaf encoding (index above 2^32, failed flag) so that an optimisation cannot change what clients recompute', () => {
    const leaf = resultLeaf(2 ** 40 + 7, Uint8Array.of(1, 2, 3), Uint8Array.of(4), true)
    expect(Buffer.from(leaf).toString('hex')).toBe('a0973f6f10e6b8561a7b7eabd4623ce20e63497caf1d998428b1348ed7c8b8b9')
    // Consecutive leaves of different sizes share the scratch buffer: each must still hash only its own bytes.
    const big = resultLeaf(1, new Uint8Array(5000).fill(1), new Uint8Array(0), false)
    expect(resultLeaf(1, new Uint8Array(5000).fill(1), new Uint8Array(0), false)).toEqual(big)
    expect(resultLeaf(2 ** 40 + 7, Uint8Array.of(1, 2, 3), Uint8Array.of(4), true)).toEqual(leaf)
  })
})

