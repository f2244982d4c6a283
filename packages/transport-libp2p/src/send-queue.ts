/**
 * Messages waiting for one peer's stream, bounded in count and bytes. When a
 * new message does not fit, the OLDEST ones are dropped: consensus protocols
 * tolerate loss and retransmit, and the newest message (latest heartbeat,
 * latest append) is the most useful one to keep.
 */
export class PeerSendQueue {
  private readonly maxMessages: number
  private readonly maxBytes: number
  private items: Uint8Array[] = []
  /** Index of the oldest message in `items`; the array is compacted lazily so shifting stays O(1). */
  private head = 0
  private queuedBytes = 0

  constructor(maxMessages: number, maxBytes: number) {
    this.maxMessages = maxMessages
    this.maxBytes = maxBytes
  }

  get length(): number {
    return this.items.length - this.head
  }

  get bytes(): number {
    return this.queuedBytes
  }

  /** Queue `message`; returns how many older messages were dropped to make room (or 1 if it alone cannot fit). */
  push(message: Uint8Array): number {
    if (message.byteLength > this.maxBytes || this.maxMessages === 0) return 1
    let dropped = 0
    while (this.length > 0 && (this.length + 1 > this.maxMessages || this.queuedBytes + message.byteLength > this.maxBytes)) {
      this.shift()
      dropped++
    }
    this.items.push(message)
    this.queuedBytes += message.byteLength
    return dropped
  }

  /** Remove the oldest messages, at least one and up to about `maxBytes` in total. */
  takeBatch(maxBytes: number): Uint8Array[] {
    const batch: Uint8Array[] = []
    let bytes = 0
    while (this.length > 0) {
      const next = this.items[this.head]!
      if (batch.length > 0 && bytes + next.byteLength > maxBytes) break
      batch.push(this.shift())
      bytes += next.byteLength
    }
    return batch
  }

  /** Empty the queue; returns the number of messages discarded. */
  clear(): number {
    const discarded = this.length
    this.items = []
    this.head = 0
    this.queuedBytes = 0
    return discarded
  }

  private shift(): Uint8Array {
    const message = this.items[this.head]!
    this.items[this.head] = EMPTY
    this.head++
    this.queuedBytes -= message.byteLength
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return message
  }
}

const EMPTY = new Uint8Array(0)
