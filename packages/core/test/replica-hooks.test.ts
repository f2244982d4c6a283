import { describe, expect, it } from 'vitest'
import {
  CONTRACT_VERSION,
  type ClientRef,
  membershipOf,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
  Replica,
  StoppedError,
  utf8,
} from '../src/index.js'
import { flush, ListStateMachine, ManualClock, RecordingTransport, SlowStorage } from './fakes.js'

/** Buffers proposals during a batch and emits one message per batch in flush(); answers later via respond(). */
class CoalescingNode implements ProtocolNode {
  buffered: Array<{ command: Uint8Array; client: ClientRef }> = []
  flushes = 0
  awaitingProof: Array<{ index: number; result: Uint8Array; client: ClientRef }> = []
  constructor(readonly ctx: ProtocolContext) {}
  start() {}
  receive(_from: string, message: Uint8Array) {
    // a "proof" message releases every answer held back
    for (const held of this.awaitingProof) this.ctx.respond(held.client, { index: held.index, result: held.result, proof: message })
    this.awaitingProof = []
  }
  propose(command: Uint8Array, client: ClientRef) {
    this.buffered.push({ command, client })
  }
  flush() {
    this.flushes++
    if (this.buffered.length === 0) return
    const first = this.ctx.storage.lastIndex() + 1
    this.ctx.storage.append(this.buffered.map((b, i) => ({ index: first + i, term: 1, data: b.command })))
    this.ctx.send('n2', utf8(`batch of ${this.buffered.length}`))
    this.buffered.forEach((b, i) => {
      const result = this.ctx.commit({ index: first + i, command: b.command })
      this.awaitingProof.push({ index: first + i, result: result!, client: b.client })
    })
    this.buffered = []
  }
  status() {
    return { id: 'n1', role: 'leader', term: 1, leader: 'n1', commitIndex: 0, lastIndex: 0, membership: this.ctx.membership }
  }
  stop() {}
}

describe('Replica: per-batch flush and deferred answers', () => {
  it('calls flush once per batch, before the sync that covers what it wrote', async () => {
    const nodes: CoalescingNode[] = []
    const factory: ProtocolFactory = {
      contract: CONTRACT_VERSION,
      name: 'coalescing',
      faultModel: 'byzantine',
      maxFaulty: () => 0,
      create: (ctx) => {
        const node = new CoalescingNode(ctx)
        nodes.push(node)
        return node
      },
    }
    const storage = new SlowStorage()
    const transport = new RecordingTransport('n1', storage)
    const replica = new Replica({
      factory,
      self: 'n1',
      membership: membershipOf(['n1', 'n2']),
      transport,
      storage,
      clock: new ManualClock(),
      random: { next: () => 0 },
      stateMachine: new ListStateMachine(),
    })
    await replica.start()
    const answers = [replica.propose(utf8('a')), replica.propose(utf8('b')), replica.propose(utf8('c'))]
    await flush()
    const node = nodes[0]!
    expect(storage.syncsInFlight).toBe(1)
    expect(transport.sent).toHaveLength(0)
    storage.release()
    await flush()
    expect(transport.sent.map((s) => new TextDecoder().decode(s.message))).toEqual(['batch of 3'])
    expect(transport.sent[0]!.syncedAtSend).toBe(3)
    // committed, but answered only once the proof arrives
    let settled = false
    void Promise.all(answers).then(() => (settled = true))
    await flush()
    expect(settled).toBe(false)
    storage.autoSync = true
    transport.deliver('n2', utf8('proof'))
    const results = await Promise.all(answers)
    expect(results.map((r) => r.index)).toEqual([1, 2, 3])
    expect(results.map((r) => [...r.result])).toEqual([[1], [2], [3]])
    expect(new TextDecoder().decode(results[0]!.proof!)).toBe('proof')
    expect(node.flushes).toBeGreaterThanOrEqual(2)
  })
})

/**
 * Appends each proposal, sends 'early' (marked beforeSync) and 'late', and commits its proposals only
 * in persisted(), as the Raft leader that writes its log in parallel does.
 */
class EarlyNode implements ProtocolNode {
  persistedCalls = 0
  waiting: Array<{ index: number; command: Uint8Array; client: ClientRef }> = []
  durable: Array<{ index: number; command: Uint8Array; client: ClientRef }> = []
  constructor(readonly ctx: ProtocolContext) {}
  start() {}
  receive() {}
  propose(command: Uint8Array, client: ClientRef) {
    const index = this.ctx.storage.lastIndex() + 1
    this.ctx.storage.append([{ index, term: 1, data: command }])
    this.waiting.push({ index, command, client })
    this.ctx.send('n2', utf8(`early ${index}`), { beforeSync: true })
    this.ctx.send('n2', utf8(`late ${index}`))
  }
  flush() {
    // What the coming sync makes durable.
    this.durable = this.waiting
    this.waiting = []
  }
  persisted() {
    this.persistedCalls++
    for (const w of this.durable) {
      this.ctx.commit({ index: w.index, command: w.command, client: w.client })
      this.ctx.send('n2', utf8(`committed ${w.index}`))
    }
    this.durable = []
  }
  status() {
    return { id: 'n1', role: 'leader', term: 1, leader: 'n1', commitIndex: 0, lastIndex: 0, membership: this.ctx.membership }
  }
  stop() {}
}

describe('Replica: messages marked beforeSync and persisted()', () => {
  function setup() {
    const nodes: EarlyNode[] = []
    const factory: ProtocolFactory = {
      contract: CONTRACT_VERSION,
      name: 'early',
      faultModel: 'crash',
      maxFaulty: () => 0,
      create: (ctx) => {
        const node = new EarlyNode(ctx)
        nodes.push(node)
        return node
      },
    }
    const storage = new SlowStorage()
    const transport = new RecordingTransport('n1', storage)
    const replica = new Replica({
      factory,
      self: 'n1',
      membership: membershipOf(['n1', 'n2']),
      transport,
      storage,
      clock: new ManualClock(),
      random: { next: () => 0 },
      stateMachine: new ListStateMachine(),
    })
    const sent = () => transport.sent.map((s) => `${new TextDecoder().decode(s.message)}@${s.syncedAtSend}`)
    return { nodes, storage, transport, replica, sent }
  }

  it('sends a beforeSync message ahead of the sync, the rest after it, and calls persisted() once it is durable', async () => {
    const { nodes, storage, replica, sent } = setup()
    await replica.start()
    let answered = false
    const answer = replica.propose(utf8('a')).then((r) => {
      answered = true
      return r
    })
    await flush()
    // The sync is in flight: only the early message has left, nothing is durable, nobody is answered.
    expect(storage.syncsInFlight).toBe(1)
    expect(sent()).toEqual(['early 1@0'])
    expect(nodes[0]!.persistedCalls).toBe(0)
    expect(answered).toBe(false)
    storage.release()
    await flush()
    // persisted() ran after the sync; its commit and send are the next round's and need no sync of their own.
    expect(nodes[0]!.persistedCalls).toBe(1)
    expect(sent()).toEqual(['early 1@0', 'late 1@1', 'committed 1@1'])
    expect((await answer).index).toBe(1)
    expect(replica.counters.snapshot()['messages.sentBeforeSync']).toBe(1)
  })

  it('a crash (halt) during the sync: the early message has left, the late one never does, persisted() is not called', async () => {
    const { nodes, storage, replica, sent } = setup()
    await replica.start()
    const answer = replica.propose(utf8('a')).catch((error: unknown) => error)
    await flush()
    replica.halt()
    storage.release()
    await flush()
    expect(sent()).toEqual(['early 1@0'])
    expect(nodes[0]!.persistedCalls).toBe(0)
    expect(await answer).toBeInstanceOf(StoppedError)
  })
})
