// Issue 12 point 7: what one Byzantine peer can make a correct replica hold or do is bounded.
import { utf8 } from '@synod/core'
import { sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeSignedBody, encodeViewChangeBody, statement, type CheckpointCertificate } from '../src/messages.js'
import { Forger, TestCluster } from './helpers.js'

const detail = (c: TestCluster, id: string) => c.status(id).detail as { drops: Record<string, number>; bufferedFuture?: Record<string, number> }
const genesis: CheckpointCertificate = { seq: 0, digest: new Uint8Array(32), votes: [] }

/** A VIEW-CHANGE for `view` validly signed by `replica`, with the given stable checkpoint and no prepared certificates. */
function viewChange(c: TestCluster, replica: string, view: number, checkpoint: CheckpointCertificate = genesis): Uint8Array {
  const body = encodeViewChangeBody(view, replica, checkpoint, [])
  return encodeSignedBody('vc', body, c.keys.get(replica)!.signer.sign(statement('view-change', sha256(body))))
}

describe('bounded resources under a Byzantine peer', () => {
  it("one sender's future-view messages cannot crowd out another's (per-sender buffers)", { timeout: 30_000 }, async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    await c.start()
    const digest = sha256(utf8('some batch'))
    // r3 floods r1 with prepares for view 1 (r1 is in view 0): far more than any buffer.
    const votes = Array.from({ length: 100 }, (_, i) => forge.vote('p', 'r3', 1, i + 1, digest))
    for (let i = 0; i < 5000; i++) forge.inject('r3', 'r1', votes[i % votes.length]!)
    // Then a correct replica's message for view 1 arrives: it must still be kept for when r1 enters view 1.
    forge.inject('r2', 'r1', forge.vote('p', 'r2', 1, 1, digest))
    await c.sim.runFor(50)
    const buffered = detail(c, 'r1').bufferedFuture ?? {}
    expect(buffered['r2']).toBe(1)
    expect(buffered['r3']).toBeLessThanOrEqual(1024)
    expect(detail(c, 'r1').drops['future-view']).toBe(5000 - buffered['r3']!)
  })

  it('backups drop (and count) pre-prepares with more bundles or bytes than a batch may have', async () => {
    const c = new TestCluster({ n: 4, options: { maxBatchBundles: 2, maxBatchBytes: 4096 } })
    const forge = new Forger(c)
    c.sim.network.setOutboundFilter('r0', () => []) // the primary is Byzantine: only what we forge leaves it
    await c.start()
    const small = (ts: number) => forge.bundle('r0', ts, [`set k ${ts}`])
    forge.inject('r0', 'r1', forge.prePrepare('r0', 0, 1, [small(1), small(2), small(3)]))
    forge.inject('r0', 'r1', forge.prePrepare('r0', 0, 2, [forge.bundle('r0', 4, [`set big ${'x'.repeat(5000)}`])]))
    forge.inject('r0', 'r1', forge.prePrepare('r0', 0, 3, [small(5), small(6)]))
    const prepares: number[] = []
    c.sim.network.setOutboundFilter('r1', (out) => {
      const m = decodeFirst(out.message)
      if (m !== undefined) prepares.push(m)
      return [out]
    })
    await c.sim.runFor(50)
    expect(detail(c, 'r1').drops['pre-prepare-oversized']).toBe(2)
    // Only the batch within the limits got r1's prepare.
    expect([...new Set(prepares)]).toEqual([3])
  })

  it('VIEW-CHANGEs for ever higher views cannot make a replica validate one per view number', { timeout: 30_000 }, async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    const verifier = c.keys.get('r1')!.verifier as { verify: (...args: never[]) => boolean }
    let verifications = 0
    const verify = verifier.verify.bind(verifier)
    verifier.verify = (...args: never[]) => {
      verifications++
      return verify(...args)
    }
    await c.start()
    await c.sim.runFor(10)
    const before = verifications
    for (let view = 1; view <= 500; view++) forge.inject('r3', 'r1', viewChange(c, 'r3', view))
    await c.sim.runFor(50)
    expect(verifications - before).toBeLessThanOrEqual(64)
    expect(detail(c, 'r1').drops['view-change-too-far']).toBe(500 - 64)
    expect(c.status('r1').term).toBe(0) // one replica's view-changes are not enough to move anyone
  })

  it('checkpoint 0 is only the genesis state: a VIEW-CHANGE claiming another digest for it is rejected', async () => {
    const c = new TestCluster({ n: 4 })
    const forge = new Forger(c)
    await c.start()
    const forged: CheckpointCertificate = { seq: 0, digest: sha256(utf8('a state nobody had')), votes: [] }
    for (const to of ['r0', 'r1', 'r2']) forge.inject('r3', to, viewChange(c, 'r3', 1, forged))
    forge.inject('r2', 'r1', viewChange(c, 'r2', 1))
    await c.sim.runFor(50)
    for (const id of ['r0', 'r1', 'r2']) expect(detail(c, id).drops['bad-view-change']).toBe(1)
    // r2's genuine one (genesis checkpoint) is accepted: no drop on r1 for it.
  })
})

/** The seq of a prepare in `bytes`, if it is one. */
function decodeFirst(bytes: Uint8Array): number | undefined {
  const m = decodeMessageSafe(bytes)
  return m?.k === 'p' ? m.seq : undefined
}

function decodeMessageSafe(bytes: Uint8Array) {
  try {
    return decodeMessage(bytes)
  } catch {
    return undefined
  }
}
