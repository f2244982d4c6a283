import { describe, expect, it } from 'vitest'
import { InvalidMessageError, utf8, type CommandResult } from '@synod/core'
import { decodeReplyCertificate, encodeReplyCertificate, verifyReplyCertificate } from '../src/index.js'
import { merklePath, merkleRoot, merkleTree, resultLeaf, rootFromPath } from '../src/merkle.js'
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
  })

  it('merkle paths prove every leaf of odd and even sized batches', () => {
    for (const size of [1, 2, 3, 5, 8, 13]) {
      const leaves = Array.from({ length: size }, (_, i) => resultLeaf(i + 1, utf8(`command ${i}`), utf8(`result ${i}`), false))
      const levels = merkleTree(leaves)
      const root = merkleRoot(leaves)
      leaves.forEach((leaf, i) => expect(rootFromPath(leaf, merklePath(levels, i))).toEqual(root))
      if (size > 1) expect(rootFromPath(leaves[0]!, merklePath(levels, 1))).not.toEqual(root)
    }
  })
})
