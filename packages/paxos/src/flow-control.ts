// Per-acceptor flow control, after etcd-raft's Inflights (packages/raft/src/progress.ts):
// the leader remembers, per acceptor, the Accept messages sent and not yet acknowledged
// (the last slot and the size of each), and sends that acceptor no new Accept while the
// count or the bytes are at their bound. A slow or unreachable acceptor thus costs the
// leader (and its transport's queues) a bounded backlog; the quorum goes on with the others,
// and the acceptor learns what it missed through the learning path (ADR 0020).

/** The Accept messages in flight to one acceptor: last slot and size of each, oldest first. */
export class AcceptWindow {
  private lasts: number[] = []
  private sizes: number[] = []
  private head = 0
  bytes = 0

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.lasts.length - this.head
  }

  /** No further Accept may go to this acceptor until an acknowledgement frees room. */
  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes)
  }

  add(last: number, bytes: number): void {
    this.lasts.push(last)
    this.sizes.push(bytes)
    this.bytes += bytes
  }

  /**
   * The acceptor acknowledged every slot up to `slot` (accepted or known chosen): forget the
   * messages that ended there or before, lost ones included (a later acknowledgement covers them).
   */
  freeUpTo(slot: number): void {
    while (this.head < this.lasts.length && this.lasts[this.head]! <= slot) {
      this.bytes -= this.sizes[this.head]!
      this.head++
    }
    if (this.head === this.lasts.length) this.reset()
    else if (this.head > 64 && this.head * 2 > this.lasts.length) {
      this.lasts = this.lasts.slice(this.head)
      this.sizes = this.sizes.slice(this.head)
      this.head = 0
    }
  }

  /** Start over: the acceptor answers but its Accepts were lost (they are sent again). */
  reset(): void {
    this.lasts = []
    this.sizes = []
    this.head = 0
    this.bytes = 0
  }
}

/** Test-only switch that turns the defence off, so tests can show what it prevents. */
export const flowTesting = {
  /** The old behaviour: every Accept to every acceptor, retransmissions and Learn pushes each tick, reachable or not. */
  unbounded: false,
}
