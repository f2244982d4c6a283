// LeaseSession on an injected clock (core's Clock contract): keep-alives run on the clock's timers, and a
// session whose keep-alives keep failing ends as 'expired' once the TTL has passed on that clock — not before.
import type { Clock, TimerId } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { type SynodClient, LeaseSession, NetworkError } from '../src/index.js'

function manualClock(): Clock & { advance(ms: number): Promise<void> } {
  let now = 0
  let next = 1
  const timers = new Map<TimerId, { at: number; fire: () => void }>()
  return {
    now: () => now,
    setTimer(afterMs, fire) {
      const id = next++
      timers.set(id, { at: now + afterMs, fire })
      return id
    },
    clearTimer: (id) => void timers.delete(id),
    async advance(ms) {
      const until = now + ms
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0]
        if (due === undefined) break
        timers.delete(due[0])
        now = due[1].at
        due[1].fire()
        for (let i = 0; i < 10; i++) await Promise.resolve() // let the renewal's promise settle
      }
      now = until
    },
  }
}

describe('LeaseSession', () => {
  it('renews on the clock; failing keep-alives end it as expired only after the TTL', async () => {
    const clock = manualClock()
    let calls = 0
    let failing = false
    const client = {
      leaseKeepAlive: async () => {
        calls++
        if (failing) throw new NetworkError('down', 'ECONNREFUSED')
        return {}
      },
    } as unknown as SynodClient
    const session = await LeaseSession.open(client, { lease: 7, ttlSeconds: 3, keepAliveEveryMs: 1000, clock })
    await clock.advance(3500)
    expect(calls).toBe(3)
    expect(session.ended).toBeUndefined()
    failing = true
    await clock.advance(2000) // last success at 3000: 2000 ms without one, TTL 3000
    expect(session.ended).toBeUndefined()
    await clock.advance(1500)
    expect(session.ended).toBe('expired')
    expect(await session.done).toBe('expired')
  })
})
