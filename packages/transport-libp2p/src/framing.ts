// Wire format of a Synod stream: a sequence of frames, each a 4-byte
// big-endian length followed by that many bytes of message. A fixed prefix
// (rather than a varint) lets the reader reject an oversized frame from its
// first four bytes and keeps the raw-TCP baseline in the benchmark identical.

export const FRAME_HEADER_BYTES = 4
/** The largest length a 4-byte prefix can carry. */
export const MAX_FRAME_LENGTH = 0xffff_ffff

/** Encode `messages` as consecutive frames in one buffer: one write for the whole batch. */
export function encodeFrames(messages: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const message of messages) total += FRAME_HEADER_BYTES + message.byteLength
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  let offset = 0
  for (const message of messages) {
    view.setUint32(offset, message.byteLength)
    out.set(message, offset + FRAME_HEADER_BYTES)
    offset += FRAME_HEADER_BYTES + message.byteLength
  }
  return out
}

export type FrameDecodeResult = 'ok' | 'oversized'

/**
 * Reassembles frames from chunks as they arrive. Frames are handed out as
 * fresh copies: the receiver may keep them, and they never alias the
 * transport's buffers. A frame longer than `maxFrameBytes` is reported from
 * its header alone, before any of it is buffered.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number
  private chunks: Uint8Array[] = []
  private bufferedBytes = 0
  /** Length of the frame whose header was read; -1 while waiting for a header. */
  private frameLength = -1
  private failed = false

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes held for an incomplete frame (header included). */
  get pendingBytes(): number {
    return this.bufferedBytes + (this.frameLength >= 0 ? FRAME_HEADER_BYTES : 0)
  }

  /** Feed chunks; `onFrame` runs for every complete frame, in order. After 'oversized' the decoder refuses more input. */
  push(chunks: Iterable<Uint8Array>, onFrame: (frame: Uint8Array) => void): FrameDecodeResult {
    if (this.failed) return 'oversized'
    for (const chunk of chunks) {
      if (chunk.byteLength === 0) continue
      this.chunks.push(chunk)
      this.bufferedBytes += chunk.byteLength
    }
    while (true) {
      if (this.frameLength < 0) {
        if (this.bufferedBytes < FRAME_HEADER_BYTES) return 'ok'
        const header = this.take(FRAME_HEADER_BYTES)
        const length = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES).getUint32(0)
        if (length > this.maxFrameBytes) {
          this.failed = true
          this.chunks = []
          this.bufferedBytes = 0
          return 'oversized'
        }
        this.frameLength = length
      }
      if (this.bufferedBytes < this.frameLength) return 'ok'
      const frame = this.take(this.frameLength)
      this.frameLength = -1
      onFrame(frame)
    }
  }

  /** Remove and return the next `n` buffered bytes as a new array. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const head = this.chunks[0]!
      const wanted = n - filled
      if (head.byteLength <= wanted) {
        out.set(head, filled)
        filled += head.byteLength
        this.chunks.shift()
      } else {
        out.set(head.subarray(0, wanted), filled)
        filled += wanted
        this.chunks[0] = head.subarray(wanted)
      }
    }
    this.bufferedBytes -= n
    return out
  }
}
