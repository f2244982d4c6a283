import type { Clock, TimerId } from '@synod/core'
import { EventQueue, type ScheduledEvent } from './event-queue.js'
import { SimulatedNetwork } from './network.js'
import { SeededRandom } from './prng.js'
import { SimulatedNode, type SimulatedNodeOptions } from './simulated-node.js'
import { TraceHash } from './trace-hash.js'

/** Let every pending microtask (promise continuation) run: the Replica's drains, storage syncs, client callbacks. */
function settleMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => nextMacrotask(resolve))
}

/**
 * Run `callback` once every queued microtask has run: setImmediate in Node; in a browser (which has
 * none) a MessageChannel message — a macrotask without setTimeout's 4 ms clamp.
 */
const nextMacrotask: (callback: () => void) => void = (() => {
  const host = globalThis as { setImmediate?: (callback: () => void) => unknown }
  if (typeof host.setImmediate === 'function') {
    const immediate = host.setImmediate
    return (callback) => void immediate(callback)
  }
  const channel = new MessageChannel()
  const waiting: Array<() => void> = []
  // The browser's MessagePort (Node's typings describe worker_threads' port, which this branch never runs on).
  ;(channel.port1 as unknown as { onmessage: (() => void) | null }).onmessage = () => waiting.shift()?.()
  return (callback) => {
    waiting.push(callback)
    channel.port2.postMessage(null)
  }
})()

export interface SimulationOptions {
  /** The one seed the whole run derives from. */
  readonly seed: number
  /** Refuse to run more events than this (a runaway protocol that schedules timers of 0 ms forever). Default 5,000,000. */
  readonly maxEvents?: number
}

/** A node's skewed view of time: local = anchorLocal + (virtual − anchorVirtual) × rate. */
interface ClockSkew {
  anchorVirtual: number
  anchorLocal: number
  rate: number
}

/**
 * The deterministic scheduler: one priority queue of events over virtual
 * time, seeded randomness per subsystem, and a trace hash. Every event runs
 * to completion and then every microtask it started settles before the next
 * event is taken, so a run is exactly reproduced from its seed.
 */
export class Simulation {
  readonly seed: number
  private readonly queue = new EventQueue()
  private readonly maxEvents: number
  private time = 0
  private seq = 0
  private eventsRun = 0
  private readonly pausedEvents = new Map<string, ScheduledEvent[]>()
  private readonly skews = new Map<string, ClockSkew>()
  private readonly clocks = new Map<string, NodeClock>()
  private readonly streams = new Map<string, SeededRandom>()
  private readonly hash = new TraceHash()
  /** The simulated network; its faults draw from the 'network' stream. */
  readonly network: SimulatedNetwork

  constructor(options: SimulationOptions) {
    this.seed = options.seed >>> 0
    this.maxEvents = options.maxEvents ?? 5_000_000
    this.network = new SimulatedNetwork(this)
  }

  /** A node hosting a Replica on this simulation's network and clocks. Call `start()` on it. */
  addNode<Options>(options: SimulatedNodeOptions<Options>): SimulatedNode<Options> {
    return new SimulatedNode<Options>(this, this.network, options)
  }

  /** Virtual time in ms since the start of the run. */
  now(): number {
    return this.time
  }

  get eventCount(): number {
    return this.eventsRun
  }

  get pendingEvents(): number {
    return this.queue.size
  }

  /**
   * The random stream named `label` (e.g. 'network', 'node:n1#0', 'workload').
   * Streams are independent: drawing more from one never shifts another.
   */
  random(label: string): SeededRandom {
    let stream = this.streams.get(label)
    if (stream === undefined) {
      stream = SeededRandom.forLabel(this.seed, label)
      this.streams.set(label, stream)
    }
    return stream
  }

  /** Run `run` after `afterMs` of virtual time. Events owned by a paused address wait for its resume. */
  schedule(afterMs: number, run: () => void, owner?: string): ScheduledEvent {
    if (!(afterMs >= 0) || !Number.isFinite(afterMs)) afterMs = 0
    const event: ScheduledEvent = { at: this.time + afterMs, seq: this.seq++, owner, run, cancelled: false }
    this.queue.push(event)
    return event
  }

  cancel(event: ScheduledEvent): void {
    event.cancelled = true
  }

  /** Run the next event and let its microtasks settle. False when nothing is left to run. */
  async step(): Promise<boolean> {
    // Work the caller started outside any event (a propose, a start) settles first, as if it were an event.
    await settleMicrotasks()
    const event = this.takeNext(Number.POSITIVE_INFINITY)
    if (event === undefined) return false
    this.execute(event)
    await settleMicrotasks()
    return true
  }

  /** Run every event due within the next `ms`, then advance virtual time to exactly that point. */
  async runFor(ms: number): Promise<void> {
    const until = this.time + ms
    await settleMicrotasks()
    for (;;) {
      const event = this.takeNext(until)
      if (event === undefined) break
      this.execute(event)
      await settleMicrotasks()
    }
    if (this.time < until) this.time = until
  }

  /**
   * Run events until `predicate` holds (checked before the first and after
   * each event) or `budgetMs` of virtual time pass. Returns whether it held.
   */
  async runUntil(predicate: () => boolean, budgetMs: number): Promise<boolean> {
    await settleMicrotasks()
    const until = this.time + budgetMs
    if (predicate()) return true
    for (;;) {
      const event = this.takeNext(until)
      if (event === undefined) break
      this.execute(event)
      await settleMicrotasks()
      if (predicate()) return true
    }
    if (this.time < until) this.time = until
    return predicate()
  }

  private takeNext(until: number): ScheduledEvent | undefined {
    for (;;) {
      const next = this.queue.peek()
      if (next === undefined || next.at > until) return undefined
      this.queue.pop()
      if (next.cancelled) continue
      if (next.owner !== undefined) {
        const deferred = this.pausedEvents.get(next.owner)
        if (deferred !== undefined) {
          deferred.push(next)
          continue
        }
      }
      return next
    }
  }

  private execute(event: ScheduledEvent): void {
    if (++this.eventsRun > this.maxEvents)
      throw new Error(`simulation ran more than ${this.maxEvents} events (seed ${this.seed}); a protocol is looping`)
    if (event.at > this.time) this.time = event.at
    event.run()
  }

  // ---- pause / resume ----

  /** Freeze `address`: its timers do not fire and messages to it wait until `resume`. */
  pause(address: string): void {
    if (!this.pausedEvents.has(address)) this.pausedEvents.set(address, [])
  }

  /** Unfreeze `address`: everything it missed runs now, in the order it was due. */
  resume(address: string): void {
    const deferred = this.pausedEvents.get(address)
    if (deferred === undefined) return
    this.pausedEvents.delete(address)
    for (const event of deferred) {
      if (event.cancelled) continue
      // The same object is re-queued so a handle held by a timer can still cancel it.
      event.at = this.time
      event.seq = this.seq++
      this.queue.push(event)
    }
  }

  isPaused(address: string): boolean {
    return this.pausedEvents.has(address)
  }

  // ---- clocks ----

  /** The Clock of `address`, honouring its skew. One instance per address. */
  clock(address: string): NodeClock {
    let clock = this.clocks.get(address)
    if (clock === undefined) {
      clock = new NodeClock(this, address)
      this.clocks.set(address, clock)
    }
    return clock
  }

  /**
   * Skew a node's clock: `rate` is how fast its time runs relative to
   * virtual time (1.1 = 10% fast), `jumpMs` a forward jump. Clocks stay
   * monotonic, so backward jumps are refused. Timers already set keep
   * their virtual deadline.
   */
  setClockSkew(address: string, skew: { rate?: number; jumpMs?: number }): void {
    const rate = skew.rate ?? this.skewOf(address).rate
    const jump = skew.jumpMs ?? 0
    if (!(rate > 0)) throw new RangeError(`clock rate must be positive, got ${rate}`)
    if (jump < 0) throw new RangeError('clocks are monotonic: jumpMs must be ≥ 0')
    const local = this.localTime(address)
    this.skews.set(address, { anchorVirtual: this.time, anchorLocal: local + jump, rate })
  }

  /** A node's local time. */
  localTime(address: string): number {
    const skew = this.skews.get(address)
    if (skew === undefined) return this.time
    return skew.anchorLocal + (this.time - skew.anchorVirtual) * skew.rate
  }

  /** How fast a node's clock runs relative to virtual time. */
  clockRate(address: string): number {
    return this.skewOf(address).rate
  }

  private skewOf(address: string): ClockSkew {
    return this.skews.get(address) ?? { anchorVirtual: 0, anchorLocal: 0, rate: 1 }
  }

  // ---- trace ----

  /** Fold something observable into the trace hash (deliveries and commits are folded in by the network and nodes). */
  trace(...items: Array<string | number | Uint8Array>): void {
    this.hash.addNumber(this.time)
    for (const item of items) {
      if (typeof item === 'string') this.hash.addString(item)
      else if (typeof item === 'number') this.hash.addNumber(item)
      else this.hash.addBytes(item)
    }
    this.hash.record()
  }

  /** Hex digest of everything traced so far. Equal seeds must give equal digests. */
  traceHash(): string {
    return this.hash.digest()
  }

  get tracedItems(): number {
    return this.hash.items
  }
}

/**
 * core's Clock for one node of the simulation: local time may run at a
 * skewed rate, and timers are owned by the node's address so that pausing
 * it defers them.
 */
export class NodeClock implements Clock {
  private nextTimerId = 1
  private readonly timers = new Map<TimerId, ScheduledEvent>()

  constructor(
    private readonly simulation: Simulation,
    readonly address: string,
  ) {}

  now(): number {
    return this.simulation.localTime(this.address)
  }

  setTimer(afterMs: number, onFire: () => void): TimerId {
    const id = this.nextTimerId++
    // The node asks for local milliseconds; a fast clock reaches them sooner in virtual time.
    const virtualDelay = Math.max(0, afterMs) / this.simulation.clockRate(this.address)
    const event = this.simulation.schedule(
      virtualDelay,
      () => {
        this.timers.delete(id)
        onFire()
      },
      this.address,
    )
    this.timers.set(id, event)
    return id
  }

  clearTimer(id: TimerId): void {
    const event = this.timers.get(id)
    if (event === undefined) return
    this.timers.delete(id)
    this.simulation.cancel(event)
  }

  /** Timers set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.timers.size
  }

  /** Drop every timer (a crash: volatile state is gone). */
  clearAll(): void {
    for (const event of this.timers.values()) this.simulation.cancel(event)
    this.timers.clear()
  }
}
