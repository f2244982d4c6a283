import type { Stream } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { FrameDecoder } from '../src/index.js'
import { PeerStats } from '../src/metrics.js'
import { PeerLink, type PeerLinkOptions } from '../src/peer-link.js'

/** A stream that records what is written and can be made to need a drain. */
class FakeStream extends EventTarget {
  writes: Uint8Array[] = []
  writableNeedsDrain = false
  writeStatus = 'writable'
  /** Accept this many more writes, then report a full buffer. */
  room = Number.POSITIVE_INFINITY
  send(data: Uint8Array | { subarray(): Uint8Array }): boolean {
    this.writes.push(data instanceof Uint8Array ? data : data.subarray())
    this.room--
    if (this.room <= 0) this.writableNeedsDrain = true
    return !this.writableNeedsDrain
  }
  drain(room = Number.POSITIVE_INFINITY): void {
    this.room = room
    this.writableNeedsDrain = false
    this.dispatchEvent(new Event('drain'))
  }
  abort(): void {}
  /** Every frame written, in order, as text. */
  frames(): string[] {
    const out: string[] = []
    const decoder = new FrameDecoder(1 << 20)
    for (const w of this.writes) decoder.push([w], (f) => out.push(new TextDecoder().decode(f)))
    return out
  }
}

const options: PeerLinkOptions = {
  maxQueuedMessages: 4,
  maxQueuedBytes: 1 << 20,
  maxUrgentMessages: 16,
  maxUrgentBytes: 1 << 20,
  maxWriteBytes: 64,
  reconnectInitialDelayMs: 100,
  reconnectMaxDelayMs: 1000,
  stableStreamMs: 1000,
  random: () => 0.5,
}

async function linkWithStream(): Promise<{ link: PeerLink; stream: FakeStream; stats: PeerStats }> {
  const stream = new FakeStream()
  const stats = new PeerStats()
  const link = new PeerLink(
    'peer',
    { running: true, openStream: () => Promise.resolve(stream as unknown as Stream), countDrop: () => undefined },
    options,
    stats,
  )
  link.enqueue(new TextEncoder().encode('hello'))
  await new Promise((resolve) => setTimeout(resolve, 0)) // dialed, attached, flushed
  expect(stream.frames()).toEqual(['hello'])
  return { link, stream, stats }
}

const bytes = (text: string) => new TextEncoder().encode(text)

describe('PeerLink: urgent messages ahead of bulk ones', () => {
  it('writes urgent messages first when the stream drains after backpressure', async () => {
    const { link, stream } = await linkWithStream()
    stream.writableNeedsDrain = true // the peer is slow: everything queues
    for (let i = 1; i <= 3; i++) link.enqueue(bytes(`append-${i}`))
    link.enqueue(bytes('heartbeat'), true)
    await Promise.resolve()
    expect(stream.frames()).toEqual(['hello'])
    stream.drain()
    expect(stream.frames()).toEqual(['hello', 'heartbeat', 'append-1', 'append-2', 'append-3'])
  })

  it('never drops an urgent message to make room for bulk ones', async () => {
    const { link, stream, stats } = await linkWithStream()
    stream.writableNeedsDrain = true
    link.enqueue(bytes('vote'), true)
    for (let i = 1; i <= 10; i++) link.enqueue(bytes(`append-${i}`)) // the bulk queue holds 4
    expect(stats.drops.get('queue-full')).toBe(6)
    stream.drain()
    expect(stream.frames()).toEqual(['hello', 'vote', 'append-7', 'append-8', 'append-9', 'append-10'])
  })

  it('a bulk-only link keeps FIFO order', async () => {
    const { link, stream } = await linkWithStream()
    stream.writableNeedsDrain = true
    link.enqueue(bytes('a'))
    link.enqueue(bytes('b'))
    stream.drain()
    expect(stream.frames()).toEqual(['hello', 'a', 'b'])
  })
})
