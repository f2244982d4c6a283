/** One scheduled event of the simulation. */
export interface ScheduledEvent {
  /** Virtual time (ms) at which it runs (moved forward when a paused owner resumes). */
  at: number
  /** Insertion sequence: breaks ties so equal times run in scheduling order. */
  seq: number
  /** Address whose pause defers this event (a node's timers and incoming messages); undefined for harness events. */
  readonly owner: string | undefined
  readonly run: () => void
  cancelled: boolean
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

/** Binary min-heap ordered by (time, insertion sequence): the simulation's single scheduler. */
export class EventQueue {
  private readonly heap: ScheduledEvent[] = []

  get size(): number {
    return this.heap.length
  }

  push(event: ScheduledEvent): void {
    const heap = this.heap
    heap.push(event)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  peek(): ScheduledEvent | undefined {
    return this.heap[0]
  }

  pop(): ScheduledEvent | undefined {
    const heap = this.heap
    const top = heap[0]
    if (top === undefined) return undefined
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
        i = smallest
      }
    }
    return top
  }
}
