import { connect, createServer, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { systemClock, systemRandom } from '../src/index.js'

describe('system clock and randomness (daemon)', () => {
  it('draws uniform numbers in [0, 1)', () => {
    const random = systemRandom()
    const draws = Array.from({ length: 2000 }, () => random.next())
    expect(draws.every((x) => x >= 0 && x < 1)).toBe(true)
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length
    expect(mean).toBeGreaterThan(0.4)
    expect(mean).toBeLessThan(0.6)
  })

  it('fires timers once and honours clearTimer', async () => {
    const clock = systemClock()
    const fired: string[] = []
    const start = clock.now()
    clock.setTimer(5, () => fired.push('a'))
    const cancelled = clock.setTimer(5, () => fired.push('b'))
    clock.clearTimer(cancelled)
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(fired).toEqual(['a'])
    expect(clock.now()).toBeGreaterThan(start)
  })

  it('fires a timer after the socket data that arrived while the event loop was blocked', async () => {
    // The failure this prevents: a follower's event loop stalls past its election timeout while the
    // leader's heartbeats sit in the socket; the election timer must not run before they are read.
    const server = createServer()
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const client = connect((server.address() as { port: number }).port, '127.0.0.1')
    await new Promise<void>((resolve) => client.once('connect', resolve))
    const receiver = await accepted
    try {
      const order = async (setTimer: (ms: number, onFire: () => void) => void): Promise<string[]> => {
        const events: string[] = []
        const got = new Promise<void>((resolve) =>
          receiver.once('data', () => {
            events.push('data')
            resolve()
          }),
        )
        const fired = new Promise<void>((resolve) =>
          setTimer(5, () => {
            events.push('timer')
            resolve()
          }),
        )
        client.write('heartbeat')
        const until = performance.now() + 60
        while (performance.now() < until) {
          // a stalled event loop: the timer expires and the bytes arrive meanwhile
        }
        await Promise.all([got, fired])
        return events
      }
      // Without the deferral (a plain setTimeout) Node runs the expired timer first.
      expect(await order((ms, onFire) => setTimeout(onFire, ms))).toEqual(['timer', 'data'])
      const clock = systemClock()
      expect(await order((ms, onFire) => clock.setTimer(ms, onFire))).toEqual(['data', 'timer'])
    } finally {
      client.destroy()
      receiver.destroy()
      server.close()
    }
  })

  it('clears a timer that expired but has not fired yet', async () => {
    const clock = systemClock()
    const fired: string[] = []
    const id = clock.setTimer(1, () => fired.push('late'))
    // Due with it, registered after it: runs in the same timers phase, after it expired, before it fires.
    setTimeout(() => clock.clearTimer(id), 1)
    const until = performance.now() + 20
    while (performance.now() < until) {
      // both expire
    }
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(fired).toEqual([])
  })
})
