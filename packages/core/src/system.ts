import { randomInt } from 'node:crypto'
import type { Clock, Random, TimerId } from './runtime-contracts.js'

/** The wall clock (monotonic `performance.now()`) and real timers, for the daemon. */
export function systemClock(): Clock {
  const timers = new Map<TimerId, ReturnType<typeof setTimeout>>()
  let nextId = 1
  return {
    now: () => performance.now(),
    setTimer(afterMs, onFire) {
      const id = nextId++
      const handle = setTimeout(() => {
        timers.delete(id)
        onFire()
      }, afterMs)
      handle.unref?.()
      timers.set(id, handle)
      return id
    },
    clearTimer(id) {
      const handle = timers.get(id)
      if (handle !== undefined) {
        clearTimeout(handle)
        timers.delete(id)
      }
    },
  }
}

/** Unpredictable randomness for the daemon (election jitter must not be guessable by peers). */
export function systemRandom(): Random {
  return { next: () => randomInt(0, 2 ** 47) / 2 ** 47 }
}
