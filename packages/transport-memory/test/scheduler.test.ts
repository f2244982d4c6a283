import { describe, expect, it } from 'vitest'
import { EventQueue, SeededRandom, Simulation, type ScheduledEvent } from '../src/index.js'

function event(at: number, seq: number): ScheduledEvent {
  return { at, seq, owner: undefined, run: () => {}, cancelled: false }
}

describe('EventQueue', () => {
  it('pops by time, then by insertion sequence', () => {
    const queue = new EventQueue()
    const random = new SeededRandom(1)
    const events = Array.from({ length: 500 }, (_, seq) => event(random.int(0, 20), seq))
    for (const e of random.shuffle(events)) queue.push(e)
    const popped: ScheduledEvent[] = []
    for (let e = queue.pop(); e !== undefined; e = queue.pop()) popped.push(e)
    const expected = [...events].sort((a, b) => a.at - b.at || a.seq - b.seq)
    expect(popped.map((e) => e.seq)).toEqual(expected.map((e) => e.seq))
  })
})

describe('SeededRandom', () => {
  it('reproduces a sequence from its seed and differs across seeds', () => {
    const draw = (r: SeededRandom) => Array.from({ length: 20 }, () => r.nextUint32())
    expect(draw(new SeededRandom(42))).toEqual(draw(new SeededRandom(42)))
    expect(draw(new SeededRandom(42))).not.toEqual(draw(new SeededRandom(43)))
  })

  it('gives labelled streams that are independent of each other', () => {
    const a = SeededRandom.forLabel(7, 'network')
    const b = SeededRandom.forLabel(7, 'workload')
    expect(a.next()).not.toBe(b.next())
    // Drawing from one stream must not shift the other.
    const fresh = SeededRandom.forLabel(7, 'workload')
    const used = SeededRandom.forLabel(7, 'workload')
    const other = SeededRandom.forLabel(7, 'network')
    for (let i = 0; i < 100; i++) other.next()
    expect(used.next()).toBe(fresh.next())
  })

  it('is roughly uniform', () => {
    const random = new SeededRandom(3)
    const buckets = new Array<number>(10).fill(0)
    for (let i = 0; i < 100_000; i++) buckets[Math.floor(random.next() * 10)]!++
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500)
  })
})

describe('Simulation', () => {
  it('runs events in virtual-time order and ties in scheduling order', async () => {
    const sim = new Simulation({ seed: 1 })
    const order: string[] = []
    sim.schedule(10, () => order.push('b@10'))
    sim.schedule(5, () => order.push('a@5'))
    sim.schedule(10, () => order.push('c@10'))
    sim.schedule(0, () => sim.schedule(10, () => order.push('d@10 (scheduled later)')))
    await sim.runFor(100)
    expect(order).toEqual(['a@5', 'b@10', 'c@10', 'd@10 (scheduled later)'])
    expect(sim.now()).toBe(100)
  })

  it('lets every microtask of an event settle before the next event', async () => {
    const sim = new Simulation({ seed: 1 })
    const order: string[] = []
    sim.schedule(1, () => {
      void (async () => {
        for (let i = 0; i < 50; i++) await Promise.resolve()
        order.push('first chain done')
      })()
    })
    sim.schedule(1, () => order.push('second event'))
    await sim.runFor(10)
    expect(order).toEqual(['first chain done', 'second event'])
  })

  it('step runs one event; cancelled events never run', async () => {
    const sim = new Simulation({ seed: 1 })
    let ran = 0
    const cancelled = sim.schedule(1, () => (ran += 100))
    sim.schedule(2, () => ran++)
    sim.cancel(cancelled)
    expect(await sim.step()).toBe(true)
    expect(ran).toBe(1)
    expect(sim.now()).toBe(2)
    expect(await sim.step()).toBe(false)
  })

  it('runUntil stops when the predicate holds or the budget is spent', async () => {
    const sim = new Simulation({ seed: 1 })
    let count = 0
    const tick = () => {
      count++
      sim.schedule(10, tick)
    }
    sim.schedule(10, tick)
    expect(await sim.runUntil(() => count >= 3, 1000)).toBe(true)
    expect(sim.now()).toBe(30)
    expect(await sim.runUntil(() => count >= 1000, 100)).toBe(false)
    expect(sim.now()).toBe(130)
  })

  it('refuses to run forever', async () => {
    const sim = new Simulation({ seed: 1, maxEvents: 100 })
    const loop = () => sim.schedule(0, loop)
    sim.schedule(0, loop)
    await expect(sim.runFor(1)).rejects.toThrow(/looping/)
  })

  it('skews a node clock: rate and forward jumps, never backwards', async () => {
    const sim = new Simulation({ seed: 1 })
    const fast = sim.clock('fast')
    const normal = sim.clock('normal')
    sim.setClockSkew('fast', { rate: 2, jumpMs: 100 })
    let firedAt: number | undefined
    fast.setTimer(50, () => (firedAt = sim.now()))
    await sim.runFor(40)
    expect(normal.now()).toBe(40)
    expect(fast.now()).toBe(180)
    expect(firedAt).toBe(25) // 50 local ms at twice the speed
    expect(() => sim.setClockSkew('fast', { jumpMs: -1 })).toThrow(RangeError)
  })

  it('pause defers a node’s timers until resume, then runs them in order', async () => {
    const sim = new Simulation({ seed: 1 })
    const clock = sim.clock('n1')
    const fired: Array<[string, number]> = []
    clock.setTimer(10, () => fired.push(['a', sim.now()]))
    clock.setTimer(20, () => fired.push(['b', sim.now()]))
    const cleared = clock.setTimer(30, () => fired.push(['cleared', sim.now()]))
    sim.pause('n1')
    await sim.runFor(50)
    expect(fired).toEqual([])
    clock.clearTimer(cleared)
    sim.resume('n1')
    await sim.runFor(1)
    expect(fired).toEqual([
      ['a', 50],
      ['b', 50],
    ])
  })
})
