import { describe, expect, it } from 'vitest'
import { utf8 } from '@synod/core'
import { verifyReplyCertificate } from '@synod/crypto'
import { isResult, keysFor, TestCluster } from './helpers.js'

describe('chained HotStuff, normal case (PODC\'19 §5)', () => {
  for (const n of [4, 7]) {
    it(`orders commands from every proxy at n = ${n}, with reply certificates in PBFT's format`, async () => {
      const c = new TestCluster({ n })
      await c.start()
      const proposals = c.ids.flatMap((id, i) => [c.propose(id, `set k${i} a`), c.propose(id, `set k${i} b`)])
      const answers = await c.settle(proposals)
      for (const a of answers) expect(isResult(a), String(a)).toBe(true)
      await c.runFor(500)
      c.assertAgreement()
      for (const id of c.ids) expect(c.committedCount(id)).toBe(2 * n)
      const first = answers[0]!
      if (!isResult(first)) throw first
      const verified = verifyReplyCertificate(first.proof!, c.membership, keysFor('client').verifier, { command: utf8('set k0 a'), result: first.result, index: first.index })
      expect(verified.signers.length).toBeGreaterThanOrEqual(Math.floor((n - 1) / 3) + 1)
      expect(() =>
        verifyReplyCertificate(first.proof!, c.membership, keysFor('client').verifier, { command: utf8('set k0 a'), result: utf8('lie'), index: first.index }),
      ).toThrow()
      expect(c.errors).toEqual([])
    }, 60_000)
  }

  it('batches: one block carries many commands', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    const answers = await c.settle(Array.from({ length: 200 }, (_, i) => c.propose('r1', `set k${i} v`)))
    expect(answers.every(isResult)).toBe(true)
    const detail = c.status('r1').detail!
    // 200 commands in far fewer blocks than commands (each view orders a batch).
    expect(detail['committedHeight'] as number).toBeLessThan(20)
  }, 60_000)

  it('stays idle (no view changes) when there is nothing to order', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    await c.settle([c.propose('r0', 'set a 1')])
    await c.runFor(300)
    const view = c.status('r0').term
    await c.runFor(10_000)
    expect(c.status('r0').term).toBe(view)
  }, 60_000)
})
