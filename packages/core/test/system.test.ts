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
})
