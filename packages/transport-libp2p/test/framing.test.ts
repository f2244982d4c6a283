import { describe, expect, it } from 'vitest'
import { encodeFrames, FrameDecoder, PeerSendQueue } from '../src/index.js'

function decodeAll(decoder: FrameDecoder, chunks: Uint8Array[]): { frames: number[][]; results: string[] } {
  const frames: number[][] = []
  const results = chunks.map((chunk) => decoder.push([chunk], (f) => frames.push([...f])))
  return { frames, results }
}

describe('frames: 4-byte big-endian length prefix', () => {
  const messages = [new Uint8Array([]), Uint8Array.from([1]), Uint8Array.from([2, 3, 4]), new Uint8Array(300).fill(9)]

  it('encodes a batch as consecutive frames', () => {
    const bytes = encodeFrames(messages.slice(1, 3))
    expect([...bytes]).toEqual([0, 0, 0, 1, 1, 0, 0, 0, 3, 2, 3, 4])
  })

  it('decodes whatever the chunking, even one byte at a time', () => {
    const bytes = encodeFrames(messages)
    for (const size of [1, 2, 3, 5, 7, 64, bytes.length]) {
      const chunks: Uint8Array[] = []
      for (let k = 0; k < bytes.length; k += size) chunks.push(bytes.subarray(k, k + size))
      const { frames, results } = decodeAll(new FrameDecoder(1024), chunks)
      expect(results.every((r) => r === 'ok')).toBe(true)
      expect(frames).toEqual(messages.map((m) => [...m]))
    }
  })

  it('hands out copies that do not alias the input', () => {
    const bytes = encodeFrames([Uint8Array.from([5, 6])])
    let frame: Uint8Array | undefined
    new FrameDecoder(16).push([bytes], (f) => (frame = f))
    bytes.fill(0)
    expect([...frame!]).toEqual([5, 6])
  })

  it('rejects an oversized frame from its header alone, then refuses more input', () => {
    const decoder = new FrameDecoder(10)
    const got: number[] = []
    expect(decoder.push([encodeFrames([new Uint8Array(10)])], (f) => got.push(f.length))).toBe('ok')
    expect(decoder.push([Uint8Array.from([0, 0, 0, 11])], () => got.push(-1))).toBe('oversized')
    expect(decoder.push([encodeFrames([new Uint8Array(1)])], () => got.push(-2))).toBe('oversized')
    expect(got).toEqual([10])
    // a 4 GiB announcement is refused without buffering
    expect(new FrameDecoder(10).push([Uint8Array.from([0xff, 0xff, 0xff, 0xff])], () => undefined)).toBe('oversized')
  })

  it('reports the bytes of an incomplete frame', () => {
    const decoder = new FrameDecoder(100)
    decoder.push([Uint8Array.from([0, 0, 0, 5, 1, 2])], () => undefined)
    expect(decoder.pendingBytes).toBe(6)
  })
})

describe('PeerSendQueue: bounded, drops the oldest', () => {
  const msg = (n: number, size = 10) => new Uint8Array(size).fill(n)

  it('drops the oldest messages when the count bound is reached', () => {
    const queue = new PeerSendQueue(3, 1000)
    const dropped = [1, 2, 3, 4, 5].map((n) => queue.push(msg(n)))
    expect(dropped).toEqual([0, 0, 0, 1, 1])
    expect(queue.takeBatch(1000).map((m) => m[0])).toEqual([3, 4, 5])
  })

  it('drops the oldest messages when the byte bound is reached', () => {
    const queue = new PeerSendQueue(100, 25)
    expect(queue.push(msg(1))).toBe(0)
    expect(queue.push(msg(2))).toBe(0)
    expect(queue.push(msg(3, 20))).toBe(2)
    expect(queue.bytes).toBe(20)
    expect(queue.push(msg(4, 26))).toBe(1) // alone larger than the bound: refused, the queue kept
    expect(queue.length).toBe(1)
  })

  it('takes batches by size, at least one message each', () => {
    const queue = new PeerSendQueue(100, 10_000)
    for (let n = 0; n < 10; n++) queue.push(msg(n, 100))
    expect(queue.takeBatch(250).length).toBe(2)
    expect(queue.takeBatch(1).length).toBe(1)
    expect(queue.takeBatch(10_000).length).toBe(7)
    expect(queue.length).toBe(0)
    expect(queue.bytes).toBe(0)
  })

  it('stays FIFO over many pushes and takes (lazy compaction)', () => {
    const queue = new PeerSendQueue(5000, 1 << 30)
    let next = 0
    let expected = 0
    for (let round = 0; round < 50; round++) {
      for (let k = 0; k < 300; k++) queue.push(new Uint8Array(Uint32Array.of(next++).buffer))
      for (const m of queue.takeBatch(4 * 250)) {
        expect(new Uint32Array(m.buffer)[0]).toBe(expected++)
      }
    }
    expect(queue.length).toBe(next - expected)
  })
})
