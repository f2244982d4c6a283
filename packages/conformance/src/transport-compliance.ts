// The Transport compliance suite: a function that registers vitest
// describe/it blocks, in the style of @libp2p/interface-compliance-tests. An
// implementation proves itself with one small test file; this module depends
// on no implementation.
import { bytesEqual, type NodeId, type Transport } from '@synod/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

export interface TransportComplianceContext {
  /**
   * At least two started transports, each a member of every other one's
   * membership and able to reach it.
   */
  readonly transports: Transport[]
  /**
   * A started transport that knows how to reach the members but is not in
   * their membership. Without it the non-member test is skipped (with that
   * reason in its title).
   */
  readonly outsider?: Transport
  /** The largest message the transport promises to carry; the suite sends one that size. Default 1 MiB. */
  readonly maxMessageBytes?: number
  /**
   * Let time pass while the suite waits for deliveries. Real-time transports
   * leave it out (the suite sleeps a few ms); a simulated network advances
   * its virtual clock here.
   */
  readonly advance?: (ms: number) => Promise<void> | void
  /** Stop everything the setup started. */
  teardown(): Promise<void>
}

export interface TransportComplianceOptions {
  /** Budget for each wait on deliveries. Default 10 000 ms. */
  readonly deliveryTimeoutMs?: number
  /** Messages per link in the ordering test. Default 1000. */
  readonly orderedMessages?: number
  /** vitest timeout per test. Default 30 000 ms. */
  readonly testTimeoutMs?: number
}

interface Received {
  readonly from: NodeId
  readonly message: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * Register the compliance tests of a core `Transport` implementation:
 * delivery between every pair with the authenticated sender as `from`,
 * per-link ordering without loss pressure, large messages, stop/start, and
 * no delivery from a non-member. `setup` runs before each test and must
 * return started transports; `teardown` runs after it.
 */
export function describeTransportCompliance(
  name: string,
  setup: () => Promise<TransportComplianceContext>,
  options: TransportComplianceOptions = {},
): void {
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 10_000
  const orderedMessages = options.orderedMessages ?? 1000
  const testTimeoutMs = options.testTimeoutMs ?? 30_000

  describe(`Transport compliance: ${name}`, () => {
    let context: TransportComplianceContext | undefined
    let inboxes: Received[][] = []

    beforeEach(async () => {
      context = await setup()
      if (context.transports.length < 2) throw new Error('the compliance setup must return at least two transports')
      inboxes = context.transports.map((transport) => {
        const inbox: Received[] = []
        transport.onMessage((from, message) => inbox.push({ from, message }))
        return inbox
      })
    }, testTimeoutMs)

    afterEach(async () => {
      await context?.teardown()
      context = undefined
    }, testTimeoutMs)

    const ctx = (): TransportComplianceContext => context!

    async function waitUntil(condition: () => boolean, what: string): Promise<void> {
      const step = 5
      let waited = 0
      while (!condition()) {
        if (waited >= deliveryTimeoutMs) throw new Error(`${name}: timed out after ${deliveryTimeoutMs} ms waiting for ${what}`)
        const advance = ctx().advance
        if (advance === undefined) await new Promise((resolve) => setTimeout(resolve, step))
        else await advance(step)
        waited += step
      }
    }

    it(
      'delivers a message between every ordered pair, with the sender as `from`',
      async () => {
        const { transports } = ctx()
        for (const [i, sender] of transports.entries())
          for (const [j, receiver] of transports.entries())
            if (i !== j) sender.send(receiver.self, encoder.encode(`${i}->${j}`))
        const expected = (j: number) =>
          transports
            .map((t, i) => ({ from: t.self, text: `${i}->${j}` }))
            .filter((_, i) => i !== j)
            .sort(byText)
        await waitUntil(() => inboxes.every((inbox, j) => inbox.length >= expected(j).length), 'one message per pair')
        for (const [j, inbox] of inboxes.entries()) {
          const got = inbox.map((r) => ({ from: r.from, text: decoder.decode(r.message) })).sort(byText)
          expect(got).toEqual(expected(j))
        }
      },
      testTimeoutMs,
    )

    it(
      `keeps the order of ${orderedMessages} messages on each link (no loss without pressure)`,
      async () => {
        const { transports } = ctx()
        const n = transports.length
        // A ring (each to the next) and its reverse, so every transport sends and receives on two links.
        for (const [i, sender] of transports.entries()) {
          const next = transports[(i + 1) % n]!
          const previous = transports[(i + n - 1) % n]!
          for (let seq = 0; seq < orderedMessages; seq++) {
            sender.send(next.self, sequenceMessage(seq))
            if (previous !== next) sender.send(previous.self, sequenceMessage(seq))
          }
        }
        const perReceiver = n === 2 ? orderedMessages : 2 * orderedMessages
        await waitUntil(() => inboxes.every((inbox) => inbox.length >= perReceiver), 'every ordered message')
        for (const inbox of inboxes) {
          const bySender = new Map<NodeId, number[]>()
          for (const { from, message } of inbox) {
            const list = bySender.get(from) ?? []
            list.push(readSequence(message))
            bySender.set(from, list)
          }
          for (const sequence of bySender.values()) expect(sequence).toEqual(Array.from({ length: orderedMessages }, (_, k) => k))
        }
      },
      testTimeoutMs,
    )

    it(
      'carries messages of 0 bytes up to maxMessageBytes intact',
      async () => {
        const { transports, maxMessageBytes = 1024 * 1024 } = ctx()
        const [a, b] = transports as [Transport, Transport]
        const sizes = [...new Set([0, 1, 1000, 65_536, 65_537, Math.floor(maxMessageBytes / 2), maxMessageBytes])]
          .filter((size) => size <= maxMessageBytes)
          .sort((x, y) => x - y)
        const messages = sizes.map((size, k) => patterned(size, k))
        for (const message of messages) a.send(b.self, message)
        await waitUntil(() => inboxes[1]!.length >= messages.length, `${messages.length} messages up to ${maxMessageBytes} bytes`)
        const got = inboxes[1]!.map((r) => r.message)
        expect(got.map((m) => m.byteLength)).toEqual(sizes)
        for (const [k, message] of messages.entries()) expect(bytesEqual(got[k]!, message)).toBe(true)
      },
      testTimeoutMs,
    )

    it(
      'works again after stop() and start()',
      async () => {
        const { transports } = ctx()
        const [a, b] = transports as [Transport, Transport]
        await a.stop()
        await a.start()
        // Delivery is best-effort while links re-form: resend until one gets through each way.
        let round = 0
        const arrived = (inbox: Received[], from: NodeId) =>
          inbox.some((r) => r.from === from && decoder.decode(r.message).startsWith('after-restart'))
        await waitUntil(() => {
          if (round++ % 20 === 0) {
            a.send(b.self, encoder.encode(`after-restart ${round}`))
            b.send(a.self, encoder.encode(`after-restart ${round}`))
          }
          return arrived(inboxes[1]!, a.self) && arrived(inboxes[0]!, b.self)
        }, 'messages both ways after a restart')
      },
      testTimeoutMs,
    )

    it(
      'never delivers a message from a peer outside the membership',
      async (testContext) => {
        const { transports, outsider } = ctx()
        if (outsider === undefined) {
          testContext.skip('the setup provides no outsider transport')
          return
        }
        const [a, b] = transports as [Transport, Transport]
        outsider.onMessage(() => undefined)
        for (let k = 0; k < 10; k++) {
          for (const member of transports) outsider.send(member.self, encoder.encode('intruder'))
          await waitFor(20, ctx().advance)
        }
        // Members still talk, so the silence above is not a dead network.
        a.send(b.self, encoder.encode('control'))
        await waitUntil(() => inboxes[1]!.some((r) => decoder.decode(r.message) === 'control'), 'a control message')
        for (const inbox of inboxes) {
          expect(inbox.filter((r) => r.from === outsider.self)).toEqual([])
          expect(inbox.filter((r) => decoder.decode(r.message) === 'intruder')).toEqual([])
        }
      },
      testTimeoutMs,
    )
  })
}

function byText(x: { text: string }, y: { text: string }): number {
  return x.text < y.text ? -1 : x.text > y.text ? 1 : 0
}

function sequenceMessage(seq: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setUint32(0, seq)
  return out
}

function readSequence(message: Uint8Array): number {
  return new DataView(message.buffer, message.byteOffset, message.byteLength).getUint32(0)
}

/** Content that differs per position and per message, so reordered or mixed-up chunks show. */
function patterned(size: number, salt: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let k = 0; k < size; k++) out[k] = (k * 31 + salt * 17 + (k >>> 8)) & 0xff
  return out
}

async function waitFor(ms: number, advance: ((ms: number) => Promise<void> | void) | undefined): Promise<void> {
  if (advance === undefined) await new Promise((resolve) => setTimeout(resolve, ms))
  else await advance(ms)
}
