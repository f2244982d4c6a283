import type { Clock, Random, TimerId } from './runtime-contracts.js'

/**
 * The wall clock (monotonic `performance.now()`) and real timers, for the daemon.
 *
 * A timer fires only after the I/O that was ready when it expired has been
 * handled: Node runs expired timers before it polls sockets, so after an
 * event-loop stall (GC, a starved CPU) an election timer would otherwise run
 * before the leader's heartbeats that arrived during the stall, and a healthy
 * leader would be deposed. `setImmediate` runs after the poll phase.
 */
export function systemClock(options: { readonly keepAlive?: boolean; readonly epoch?: boolean } = {}): Clock {
  interface Handles {
    timeout?: ReturnType<typeof setTimeout>
    immediate?: ReturnType<typeof setImmediate>
  }
  const timers = new Map<TimerId, Handles>()
  let nextId = 1
  return {
    // `epoch`: milliseconds since the Unix epoch (not monotonic), for clients whose timestamps other
    // machines read (signed-request timestamps, exactly-once sequence floors, Retry-After dates).
    now: options.epoch === true ? () => Date.now() : () => performance.now(),
    setTimer(afterMs, onFire) {
      const id = nextId++
      const handles: Handles = {}
      handles.timeout = setTimeout(() => {
        handles.timeout = undefined
        handles.immediate = setImmediate(() => {
          timers.delete(id)
          onFire()
        })
      }, afterMs)
      // A protocol's timers never keep a process alive; a caller's own (a client's keep-alive) may ask to.
      if (options.keepAlive !== true) handles.timeout.unref?.()
      timers.set(id, handles)
      return id
    },
    clearTimer(id) {
      const handles = timers.get(id)
      if (handles === undefined) return
      if (handles.timeout !== undefined) clearTimeout(handles.timeout)
      if (handles.immediate !== undefined) clearImmediate(handles.immediate)
      timers.delete(id)
    },
  }
}

/**
 * Unpredictable randomness for the daemon (election jitter must not be guessable by peers): Web Crypto's
 * CSPRNG (`globalThis.crypto`, in Node ≥ 19 and every browser), so core's main entry imports no `node:` module.
 */
export function systemRandom(): Random {
  const word = new Uint32Array(2)
  return {
    next: () => {
      globalThis.crypto.getRandomValues(word)
      // 53 random bits → a double in [0, 1).
      return (word[0]! * 2 ** 21 + (word[1]! >>> 11)) / 2 ** 53
    },
  }
}
