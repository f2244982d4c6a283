import { describe, expect, it } from 'vitest'
import { RequestTimer, type WaitingRequest } from '../src/request-timers.js'

/** A RequestTimer on a hand-driven clock: `advance(ms)` fires due timers in order. */
function harness(timeoutMs = 100) {
  let now = 0
  let nextId = 1
  const timers = new Map<number, { at: number; callback: () => void }>()
  const waiting = new Set<string>()
  const expired: Array<{ at: number; request: WaitingRequest }> = []
  let enabled = true
  const key = (r: WaitingRequest) => `${r.proxy}/${r.ts}`
  const timer = new RequestTimer({
    setTimer: (ms, callback) => {
      const id = nextId++
      timers.set(id, { at: now + ms, callback })
      return id as never
    },
    clearTimer: (id) => void timers.delete(id as unknown as number),
    enabled: () => enabled,
    isWaiting: (r) => waiting.has(key(r)),
    timeoutMs: () => timeoutMs,
    expired: (request) => expired.push({ at: now, request }),
  })
  return {
    timer,
    expired,
    arrive(proxy: string, ts: number) {
      waiting.add(key({ proxy, ts }))
      timer.add({ proxy, ts })
    },
    execute(proxy: string, ts: number) {
      waiting.delete(key({ proxy, ts }))
      timer.update()
    },
    setEnabled(value: boolean) {
      enabled = value
    },
    advance(ms: number) {
      const until = now + ms
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0]
        if (due === undefined) break
        timers.delete(due[0])
        now = due[1].at
        due[1].callback()
      }
      now = until
    },
    pending: () => timers.size,
  }
}

describe('per-request view-change timer (TOCS\'02 §4.4)', () => {
  it('is not restarted by other requests executing: a request left waiting expires one timeout after it arrived', () => {
    const h = harness(100)
    h.arrive('r3', 1) // the censored one
    for (let t = 1; t <= 9; t++) {
      h.arrive('r1', t)
      h.advance(10)
      h.execute('r1', t) // others keep executing
    }
    h.advance(10)
    expect(h.expired).toEqual([{ at: 100, request: { proxy: 'r3', ts: 1 } }])
  })

  it('restarts for the request waiting longest when its own executes, and stops when nothing waits', () => {
    const h = harness(100)
    h.arrive('r1', 1)
    h.advance(30)
    h.arrive('r2', 1)
    h.advance(30)
    h.execute('r1', 1) // at 60: the timer restarts, for r2's request, with a full timeout
    expect(h.timer.running()).toEqual({ proxy: 'r2', ts: 1 })
    h.advance(90)
    expect(h.expired).toEqual([])
    h.execute('r2', 1)
    expect(h.timer.running()).toBeUndefined()
    expect(h.pending()).toBe(0)
    h.advance(1_000)
    expect(h.expired).toEqual([])
  })

  it('does not run while disabled (a view change), and restart() gives every waiting request a fresh timeout', () => {
    const h = harness(100)
    h.setEnabled(false)
    h.arrive('r1', 1)
    expect(h.timer.running()).toBeUndefined()
    h.advance(500)
    h.setEnabled(true)
    h.timer.restart() // the new view is installed
    h.advance(99)
    expect(h.expired).toEqual([])
    h.advance(1)
    expect(h.expired).toEqual([{ at: 600, request: { proxy: 'r1', ts: 1 } }])
  })
})
