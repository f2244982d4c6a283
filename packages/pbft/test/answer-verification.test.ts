// What conformance clients check on a PBFT answer (verifyPbftAnswer): inputs it must reject.
import type { CommandResult } from '@synod/core'
import { utf8 } from '@synod/core'
import { RequestWrapper } from '@synod/conformance'
import { describe, expect, it } from 'vitest'
import { PBFT_CONFORMANCE_CLUSTER, pbftSignedClientOptions, verifyPbftAnswer } from '../src/adversaries/index.js'
import { TestCluster } from './helpers.js'

async function answer(c: TestCluster, command: Uint8Array): Promise<CommandResult> {
  const pending = c.node('r1').replica!.propose(command)
  const [result] = await c.settle([pending])
  return result!
}

describe('verifyPbftAnswer', () => {
  it("accepts the cluster's answer to the exact request, and rejects a stale certificate, another result and a missing proof", async () => {
    const c = new TestCluster({ n: 4, options: pbftSignedClientOptions })
    await c.start()
    const clients = new RequestWrapper(1, PBFT_CONFORMANCE_CLUSTER)
    const first = clients.wrap(0, utf8('set a 1'))
    const a1 = await answer(c, first)
    verifyPbftAnswer(first, a1, c.membership)
    // The same operation asked again is a new request (new timestamp): the old certificate is not its answer.
    const again = clients.wrap(0, utf8('set a 1'))
    const a2 = await answer(c, again)
    verifyPbftAnswer(again, a2, c.membership)
    expect(() => verifyPbftAnswer(again, a1, c.membership)).toThrow()
    expect(() => verifyPbftAnswer(first, { ...a1, result: utf8('0:forged') }, c.membership)).toThrow()
    expect(() => verifyPbftAnswer(first, { index: a1.index, result: a1.result }, c.membership)).toThrow(/no reply certificate/)
    expect(() => verifyPbftAnswer(first, { ...a1, index: a1.index + 1 }, c.membership)).toThrow()
  })

  it('cannot tell a stale answer from a fresh one when the command bytes repeat (unsigned commands): why the conformance clients sign', async () => {
    const c = new TestCluster({ n: 4 })
    await c.start()
    const read = utf8('get a')
    const old = await answer(c, read)
    await answer(c, utf8('set a 2'))
    const fresh = await answer(c, read)
    verifyPbftAnswer(read, fresh, c.membership)
    expect(() => verifyPbftAnswer(read, old, c.membership)).not.toThrow()
  })
})
