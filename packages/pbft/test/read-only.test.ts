// Issue 12 point 10: read-only requests (TOCS'02 §5.1.3) answered by 2f+1
// matching replies without ordering, falling back to ordering otherwise; and
// the 2f+1 write threshold that keeps them linearizable.
import { afterEach, describe, expect, it } from 'vitest'
import { utf8, type CommandResult, type NodeId } from '@synod/core'
import { type OutboundMessage } from '@synod/transport-memory'
import { decodeReplyCertificate, isReadCertificate, verifyReadCertificate, verifyReplyCertificate, type PbftOptions } from '../src/index.js'
import { merkleRoot } from '@synod/crypto'
import { encodeReadReply, type Digest } from '../src/messages.js'
import { readLeaf, readReplyStatement } from '../src/read-certificate.js'
import { readOnlyTesting } from '../src/read-only.js'
import { decodeMessage, Forger, isResult, keysFor, RegisterMachine, TestCluster } from './helpers.js'

/** The register, where an ordered read (a bare key, not `set k v`) answers what `query` answers. */
class ReadableRegister extends RegisterMachine {
  override apply(command: Uint8Array, index: number): Uint8Array {
    return new TextDecoder().decode(command).startsWith('set ') ? super.apply(command, index) : this.query(command)
  }
}
const cluster = () => new TestCluster({ n: 4, options, createStateMachine: () => new ReadableRegister() })

const options: Partial<PbftOptions> = { readOnlyRequests: true, readTimeoutMs: 200, requestRetransmitMs: 100, viewChangeTimeoutMs: 1000 }
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

interface Detail {
  lastExecutedSeq: number
  readsServed: number
  readFallbacks: number
  drops: Record<string, number>
}
const detail = (c: TestCluster, id: NodeId) => c.status(id).detail as unknown as Detail

function read(c: TestCluster, via: NodeId, key: string): Promise<CommandResult | Error> {
  return c.node(via).replica!.read(utf8(key)).catch((error: unknown) => error as Error)
}

afterEach(() => {
  readOnlyTesting.weakWriteQuorum = false
})

describe('pbft readOnlyRequests', () => {
  it('answers reads from 2f+1 matching replies without ordering them, with a read certificate', async () => {
    const c = cluster()
    await c.start()
    const [write] = await c.settle([c.propose('r1', 'set x 1')])
    expect(isResult(write!), String(write)).toBe(true)
    // Writes are acknowledged by 2f+1 = 3 signed replies when reads skip ordering.
    expect(decodeReplyCertificate((write as CommandResult).proof!).replies).toHaveLength(3)
    verifyReplyCertificate((write as CommandResult).proof!, c.membership, keysFor('r0').verifier, { command: utf8('set x 1'), result: (write as CommandResult).result })
    await c.runUntil(() => c.ids.every((id) => detail(c, id).lastExecutedSeq === 1), 1_000)
    const seqBefore = c.ids.map((id) => detail(c, id).lastExecutedSeq)

    const reads = c.ids.flatMap((id) => [read(c, id, 'x'), read(c, id, 'x'), read(c, id, 'y')])
    const answers = (await c.settle(reads, 2_000)) as CommandResult[]
    answers.forEach((answer, i) => {
      expect(isResult(answer), String(answer)).toBe(true)
      const key = i % 3 === 2 ? 'y' : 'x'
      expect(text(answer.result)).toBe(key === 'x' ? '1' : '')
      expect(isReadCertificate(answer.proof!)).toBe(true)
      const verified = verifyReadCertificate(answer.proof!, c.membership, keysFor('r0').verifier, { request: utf8(key), result: answer.result })
      expect(verified.signers).toHaveLength(3)
    })
    // No sequence number was used: nothing was ordered.
    await c.runUntil(() => false, 500)
    expect(c.ids.map((id) => detail(c, id).lastExecutedSeq)).toEqual(seqBefore)
    expect(c.ids.map((id) => detail(c, id).readsServed)).toEqual([3, 3, 3, 3])
    expect(c.ids.map((id) => detail(c, id).readFallbacks)).toEqual([0, 0, 0, 0])
    // A certificate does not pass for another request or another result.
    const one = answers[0]!
    expect(() => verifyReadCertificate(one.proof!, c.membership, keysFor('r0').verifier, { request: utf8('y'), result: one.result })).toThrow(/needs 3/)
    expect(() => verifyReadCertificate(one.proof!, c.membership, keysFor('r0').verifier, { request: utf8('x'), result: utf8('2') })).toThrow(/needs 3/)
    c.assertAgreement()
  })

  it('falls back to ordering when 2f+1 replies do not arrive in time', async () => {
    const c = cluster()
    await c.start()
    await c.settle([c.propose('r0', 'set x 1')])
    // r2 and r3 never answer reads (their other messages flow): only 2 of the 3 answers needed.
    for (const id of ['r2', 'r3'])
      c.sim.network.setOutboundFilter(id, (out) => (decodeMessage(out.message).k === 'ra' ? [] : [out]))
    const seq = detail(c, 'r0').lastExecutedSeq
    const [answer] = (await c.settle([read(c, 'r0', 'x')], 3_000)) as CommandResult[]
    expect(text(answer!.result)).toBe('1')
    // Ordered: a reply certificate (2f+1 signatures), one more sequence number.
    expect(isReadCertificate(answer!.proof!)).toBe(false)
    expect(decodeReplyCertificate(answer!.proof!).replies).toHaveLength(3)
    expect(detail(c, 'r0').lastExecutedSeq).toBe(seq + 1)
    expect(detail(c, 'r0').readFallbacks).toBe(1)
    // The next batch waits twice as long (readTimeoutMs 200 → 400) before it is ordered.
    const start = c.sim.now()
    void read(c, 'r0', 'x')
    await c.runUntil(() => detail(c, 'r0').readFallbacks === 2, 2_000)
    expect(c.sim.now() - start).toBeGreaterThanOrEqual(400)
    expect(c.sim.now() - start).toBeLessThan(450)
    // That timeout doubled it again (to 800 ms); each batch that completes in time halves it.
    const silentR2 = (out: OutboundMessage) => (decodeMessage(out.message).k === 'ra' ? [] : [out])
    const timeoutAfter = async (successes: number): Promise<number> => {
      c.sim.network.setOutboundFilter('r2', undefined)
      for (let i = 0; i < successes; i++) await c.settle([read(c, 'r0', 'x')], 1_000)
      c.sim.network.setOutboundFilter('r2', silentR2)
      const fallbacks = detail(c, 'r0').readFallbacks
      const begin = c.sim.now()
      void read(c, 'r0', 'x')
      await c.runUntil(() => detail(c, 'r0').readFallbacks === fallbacks + 1, 3_000)
      return c.sim.now() - begin
    }
    expect(await timeoutAfter(1)).toBeGreaterThanOrEqual(400) // 800 → 400, then doubled to 800 again
    expect(await timeoutAfter(3)).toBeLessThan(250) // 800 → 400 → 200 → 200
  })

  it('drops read replies with forged signatures or bad diffs and orders the read instead', async () => {
    const c = cluster()
    await c.start()
    await c.settle([c.propose('r0', 'set x 1')])
    // r2 flips a bit of its signature; r3 claims a leaf at a position past the batch.
    c.sim.network.setOutboundFilter('r2', (out) => {
      const m = decodeMessage(out.message)
      if (m.k !== 'ra') return [out]
      const sig = m.sig.slice()
      sig[0]! ^= 1
      return [{ to: out.to, message: encodeReadReply(m.id, sig, m.diffs) }]
    })
    c.sim.network.setOutboundFilter('r3', (out) => {
      const m = decodeMessage(out.message)
      return m.k === 'ra' ? [{ to: out.to, message: encodeReadReply(m.id, m.sig, [[99, new Uint8Array(32)]]) }] : [out]
    })
    const [answer] = (await c.settle([read(c, 'r0', 'x')], 3_000)) as CommandResult[]
    expect(text(answer!.result)).toBe('1')
    expect(isReadCertificate(answer!.proof!)).toBe(false)
    const d = detail(c, 'r0')
    expect(d.readFallbacks).toBe(1)
    expect(d.drops['bad-signature']).toBe(1)
    expect(d.drops['read-reply-bad-diff']).toBe(1)
  })

  it('a proxy in a view change orders its reads at once instead of sending them', async () => {
    const c = cluster()
    await c.start()
    await c.settle([c.propose('r0', 'set x 1')])
    let readBatchesSent = 0
    c.sim.network.setOutboundFilter('r1', (out) => {
      if (decodeMessage(out.message).k === 'rd') readBatchesSent++
      return [out]
    })
    // Cut off, r1 times out on a request of its own and starts a view change nobody joins.
    c.sim.network.isolate('r1')
    void c.propose('r1', 'set y 1')
    await c.runUntil(() => (c.status('r1').detail as { active: boolean }).active === false, 5_000)
    void read(c, 'r1', 'x')
    await c.runUntil(() => false, 50)
    expect(detail(c, 'r1').readFallbacks).toBe(1)
    expect(readBatchesSent).toBe(0)
    // An active proxy does send its reads.
    void read(c, 'r2', 'x')
    await c.runUntil(() => detail(c, 'r2').readsServed === 1, 1_000)
    expect(detail(c, 'r2').readFallbacks).toBe(0)
  })

  // The f = 1 attack: a write executed by r0 and a Byzantine r3 only; r1 and r2 lag. With writes
  // acknowledged by f+1 replies (the defence off) the write is acknowledged, and a read through the
  // lagging r1 gets three matching stale replies (r1, r2, and r3 lying) — a stale read after an
  // acknowledged write. With 2f+1 the write is acknowledged only once r2 executed it too, and the
  // read, short of 2f+1 matching replies, is ordered and sees it.
  for (const mode of ['defence', 'weak'] as const) {
    it(`a lagging replica and a Byzantine replica answering stale: ${mode === 'defence' ? 'the read falls back and sees the write' : 'STALE READ with writes acknowledged by f+1'}`, async () => {
      const c = cluster()
      const forge = new Forger(c)
      await c.start()
      await c.settle([c.propose('r0', 'set x old')])
      await c.runUntil(() => c.ids.every((id) => detail(c, id).lastExecutedSeq === 1), 1_000)
      readOnlyTesting.weakWriteQuorum = mode === 'weak'

      // Hold ordering messages to r1 (it lags) and commits to r2 (it prepares, never commits).
      const held: Array<{ from: NodeId } & OutboundMessage> = []
      let holdR1 = true
      let holdR2 = true
      const readBatches = new Map<number, { requests: readonly Uint8Array[]; leaves: readonly Digest[] }>()
      const filter =
        (from: NodeId) =>
        (out: OutboundMessage): OutboundMessage[] => {
          const m = decodeMessage(out.message)
          if (from === 'r1' && m.k === 'rd') readBatches.set(m.id, m)
          const hold = (out.to === 'r1' && holdR1 && ['pp', 'p', 'c'].includes(m.k)) || (out.to === 'r2' && holdR2 && m.k === 'c')
          if (hold) {
            held.push({ from, ...out })
            return []
          }
          // r3 is Byzantine: it answers r1's reads with what the lagging r1 has (the stale value).
          if (from === 'r3' && out.to === 'r1' && m.k === 'ra') {
            const batch = readBatches.get(m.id)!
            const leaves = batch.requests.map((r) => readLeaf(r, c.node('r1').replica!.readLocal(r).result))
            const sig = keysFor('r3').signer.sign(readReplyStatement(merkleRoot(leaves)))
            const diffs = leaves.flatMap((leaf, i): Array<[number, Digest]> => (text(leaf) === text(batch.leaves[i]!) ? [] : [[i, leaf]]))
            return [{ to: out.to, message: encodeReadReply(m.id, sig, diffs) }]
          }
          return [out]
        }
      for (const id of c.ids) c.sim.network.setOutboundFilter(id, filter(id))
      const release = (to: NodeId) => {
        for (const h of held.filter((m) => m.to === to)) forge.inject(h.from, h.to, h.message)
      }

      const write = c.propose('r0', 'set x new')
      await c.runUntil(() => detail(c, 'r0').lastExecutedSeq === 2 && detail(c, 'r3').lastExecutedSeq === 2, 1_000)
      let writeDone = false
      void write.then(() => (writeDone = true))
      await c.runUntil(() => writeDone, 300)
      expect(detail(c, 'r1').lastExecutedSeq).toBe(1)
      expect(detail(c, 'r2').lastExecutedSeq).toBe(1)
      if (mode === 'defence') {
        // Only r0 and r3 executed it: no 2f+1 replies, not acknowledged yet.
        expect(writeDone).toBe(false)
        holdR2 = false
        release('r2')
        const [ack] = (await c.settle([write], 1_000)) as CommandResult[]
        expect(decodeReplyCertificate(ack!.proof!).replies).toHaveLength(3)
        expect(detail(c, 'r2').lastExecutedSeq).toBe(2)
      } else {
        expect(writeDone).toBe(true)
        expect(isResult(await write)).toBe(true)
      }

      // The write is acknowledged; now a client reads x through the lagging r1.
      const pending = read(c, 'r1', 'x')
      let readDone = false
      void pending.then(() => (readDone = true))
      await c.runUntil(() => readDone || detail(c, 'r1').readFallbacks > 0, 1_000)
      if (mode === 'weak') {
        const answer = (await pending) as CommandResult
        // Linearizability violated: "old" is read after "set x new" was acknowledged, with a valid certificate.
        expect(text(answer.result)).toBe('old')
        expect(verifyReadCertificate(answer.proof!, c.membership, keysFor('r0').verifier, { request: utf8('x'), result: answer.result }).signers).toHaveLength(3)
        return
      }
      // Defence: r0 and r2 answer "new", so "old" has only r1 and the liar r3: the read is ordered.
      expect(detail(c, 'r1').readFallbacks).toBe(1)
      expect(detail(c, 'r1').readsServed).toBe(0)
      holdR1 = false
      release('r1')
      const [answer] = (await c.settle([pending], 3_000)) as CommandResult[]
      expect(isResult(answer!), String(answer)).toBe(true)
      expect(text(answer!.result)).toBe('new')
      expect(isReadCertificate(answer!.proof!)).toBe(false)
      c.assertAgreement()
    })
  }
})
