import { decodeCanonical, utf8, type NodeId } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeBatchBody, encodeStateChunk } from '../src/messages.js'
import { unsafeTestSwitches } from '../src/test-switches.js'
import { decodeMessage, Forger, isResult, TestCluster } from './helpers.js'

const kindOf = (bytes: Uint8Array): unknown => (decodeCanonical(bytes) as { k?: unknown }).k

afterEach(() => {
  unsafeTestSwitches.skipBatchDigestCheck = false
  unsafeTestSwitches.skipChunkDigestCheck = false
})

/**
 * r3 never receives the pre-prepare of seq 1 ('set k good'), which prepares at the others; the
 * primary crashes and the view change names the batch by digest, so r3 fetches the body. A
 * byzantine r2 answers every fetch at once with another validly signed batch ('set k evil').
 */
async function fetchWithLiar(): Promise<TestCluster> {
  const c = new TestCluster({
    n: 4,
    options: { checkpointInterval: 4, logWindow: 8, maxBatchBundles: 1, viewChangeTimeoutMs: 1_000, requestRetransmitMs: 300, stateTransferRetryMs: 300 },
    requestTimeoutMs: 10_000,
  })
  const forger = new Forger(c)
  let blockCommits = true
  for (const id of c.ids)
    c.sim.network.setOutboundFilter(id, (out) => {
      const kind = kindOf(out.message)
      if (kind === 'c' && blockCommits) return []
      if (kind === 'pp' && id === 'r0' && out.to === 'r3') return []
      if (kind === 'bf' && id === 'r3') {
        const seq = (decodeMessage(out.message) as { seq: number }).seq
        const evil = encodeBatchBody(seq, [forger.bundle('r0', 1, ['set k evil'])])
        c.sim.schedule(0, () => forger.inject('r2', 'r3', evil))
      }
      return [out]
    })
  await c.start()
  forger.inject('r1', 'r0', forger.request(forger.bundle('r0', 1, ['set k good'])))
  await c.runUntil(() => false, 200)
  c.node('r0').crash()
  blockCommits = false
  await c.settle(['r1', 'r2', 'r3'].map((via) => c.propose(via, `set after ${via}`)), 30_000)
  return c
}

/**
 * r3 lags behind a stable checkpoint and fetches the state; whichever peer first sends it a chunk
 * corrupts every chunk it sends (one byte: the last register's value).
 */
async function transferWithLiar(): Promise<TestCluster> {
  const c = new TestCluster({ n: 4, options: { checkpointInterval: 4, logWindow: 8, maxInFlight: 2, stateTransferRetryMs: 300, viewChangeTimeoutMs: 60_000 } })
  let liar: NodeId | undefined
  for (const id of ['r0', 'r1', 'r2'])
    c.sim.network.setOutboundFilter(id, (out) => {
      if (out.to !== 'r3' || kindOf(out.message) !== 'sc') return [out]
      liar ??= id
      if (id !== liar) return [out]
      const m = decodeMessage(out.message) as { seq: number; index: number; data: Uint8Array }
      const data = m.data.slice()
      data[data.byteLength - 1]! ^= 0x01
      return [{ to: out.to, message: encodeStateChunk(m.seq, m.index, data) }]
    })
  await c.start()
  c.sim.network.isolate('r3')
  for (let wave = 0; (c.status('r0').detail as { lastExecutedSeq: number }).lastExecutedSeq < 12; wave++)
    expect((await c.settle([c.propose(`r${wave % 3}`, `set k${wave % 3} w${wave}`)])).every(isResult)).toBe(true)
  await c.runUntil(() => (c.status('r0').detail as { lowWatermark: number }).lowWatermark === 12, 2_000)
  c.sim.network.heal()
  await c.runUntil(() => (c.status('r3').counters['snapshots.installed'] ?? 0) >= 1, 10_000)
  expect(c.status('r3').counters['snapshots.installed']).toBeGreaterThanOrEqual(1)
  return c
}

const read = (c: TestCluster, id: NodeId, key: string) => new TextDecoder().decode(c.node(id).replica!.readLocal(utf8(key)).result)

describe('pbft fetches check what peers send', { timeout: 60_000 }, () => {
  it('a fetched batch body that does not hash to the O-set digest is dropped; the body comes from an honest peer', async () => {
    const c = await fetchWithLiar()
    expect(c.status('r3').detail?.['drops']).toHaveProperty('unsolicited-batch')
    expect(read(c, 'r3', 'k')).toBe('good')
    expect(c.committedCount('r3')).toBe(c.committedCount('r1'))
    c.assertAgreement(['r1', 'r2', 'r3'])
  })

  it('(defence off: the lying peer makes r3 execute another batch)', async () => {
    unsafeTestSwitches.skipBatchDigestCheck = true
    const c = await fetchWithLiar()
    expect(read(c, 'r3', 'k')).toBe('evil')
    expect(() => c.assertAgreement(['r1', 'r2', 'r3'])).toThrow(/disagreement/)
  })

  it('a state chunk that does not match the manifest is dropped; the state comes from another peer', async () => {
    const c = await transferWithLiar()
    expect(c.status('r3').detail?.['drops']).toHaveProperty('bad-state-chunk')
    for (const key of ['k0', 'k1', 'k2']) expect(read(c, 'r3', key)).toBe(read(c, 'r0', key))
  })

  it('(defence off: the corrupted chunk is installed)', async () => {
    unsafeTestSwitches.skipChunkDigestCheck = true
    const c = await transferWithLiar()
    expect(read(c, 'r3', 'k2')).not.toBe(read(c, 'r0', 'k2'))
  })
})
