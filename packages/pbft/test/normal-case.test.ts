import { describe, expect, it } from 'vitest'
import { utf8, type CommandResult } from '@synod/core'
import { verifyReplyCertificate } from '../src/index.js'
import { isResult, keysFor, TestCluster } from './helpers.js'

// Castro & Liskov TOCS'02 §4.2: pre-prepare, prepare, commit; execution in order; f+1 replies.
describe('pbft normal case (§4.2)', () => {
  for (const n of [4, 7]) {
    it(`n=${n}: commands proposed at every replica commit everywhere in one order, answered with a verifiable reply certificate`, async () => {
      const c = new TestCluster({ n })
      await c.start()
      const pending: Array<{ via: string; command: string; answer: Promise<CommandResult | Error> }> = []
      for (let i = 0; i < 40; i++) {
        const via = c.ids[i % n]!
        const command = `set k${i % 5} v${i}`
        pending.push({ via, command, answer: c.propose(via, command) })
      }
      await c.settle(pending.map((p) => p.answer))
      await c.runUntil(() => c.ids.every((id) => c.committedCount(id) === 40), 5000)
      for (const id of c.ids) expect(c.committedCount(id), id).toBe(40)
      c.assertAgreement()
      const verifier = keysFor('r0').verifier
      const indexes = new Set<number>()
      for (const p of pending) {
        const answer = await p.answer
        expect(isResult(answer), String(answer)).toBe(true)
        const result = answer as CommandResult
        indexes.add(result.index)
        expect(result.proof).toBeInstanceOf(Uint8Array)
        const verified = verifyReplyCertificate(result.proof!, c.membership, verifier, { command: utf8(p.command), result: result.result, index: result.index })
        expect(verified.signers.length).toBeGreaterThanOrEqual(Math.floor((n - 1) / 3) + 1)
      }
      expect(indexes.size).toBe(40)
      expect(c.errors).toEqual([])
      const s = c.status('r0')
      expect(s.role).toBe('primary')
      expect(s.leader).toBe('r0')
      expect(c.status('r1').role).toBe('backup')
    })
  }

  it('batches: many requests share one pre-prepare, so sequence numbers grow far slower than indexes', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    const answers = Array.from({ length: 400 }, (_, i) => c.propose(c.ids[i % 4]!, `set k v${i}`))
    expect((await c.settle(answers)).every(isResult)).toBe(true)
    await c.runUntil(() => c.ids.every((id) => c.committedCount(id) === 400), 5000)
    const detail = c.status('r0').detail as { lastExecutedSeq: number }
    expect(detail.lastExecutedSeq).toBeLessThan(40)
    c.assertAgreement()
  })
})
