// The test-only fault hooks of issue 20 (clock skew, fsync stalls): absent unless their variable is set,
// and when set they really skew the clock and really hold syncs back until the control file says so.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { Clock, Storage, TimerId } from '@synod/core'
import { FAULT_CONTROL, FaultControl, type FaultState, NO_FAULTS, openFaultControl, parseFaultState, skewedClock, stallingStorage } from '../src/fault-hooks.js'

const dir = mkdtempSync(join(tmpdir(), 'synod-fault-hooks-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A clock whose time the test moves, with timers recorded (not run). */
function manualClock() {
  const timers: Array<{ afterMs: number }> = []
  let t = 1000
  const clock: Clock = {
    now: () => t,
    setTimer: (afterMs: number) => {
      timers.push({ afterMs })
      return timers.length as TimerId
    },
    clearTimer: () => undefined,
  }
  return { clock, timers, advance: (ms: number) => (t += ms) }
}

describe('fault hooks (test-only)', () => {
  it('do not exist unless SYNOD_DEBUG_FAULT_CONTROL is set', () => {
    expect(openFaultControl({})).toBeUndefined()
    expect(openFaultControl({ [FAULT_CONTROL]: '' })).toBeUndefined()
    const control = openFaultControl({ [FAULT_CONTROL]: join(dir, 'absent.json') })
    expect(control?.state).toEqual(NO_FAULTS) // a missing file is no fault
    control?.stop()
  })

  it('the control file is parsed field by field; garbage is no fault', () => {
    expect(parseFaultState('not json')).toEqual(NO_FAULTS)
    expect(parseFaultState('{"clockRate":0.5,"stallFsync":true}')).toEqual({ clockRate: 0.5, clockOffsetMs: 0, stallFsync: true })
    expect(parseFaultState('{"clockRate":-1,"clockOffsetMs":"x","stallFsync":1}')).toEqual(NO_FAULTS)
  })

  it('clock skew: time runs at the rate in force, offsets apply, and the clock never goes back', () => {
    const { clock, timers, advance } = manualClock()
    let state: FaultState = NO_FAULTS
    const skewed = skewedClock(clock, () => state)
    const t0 = skewed.now()
    advance(100)
    expect(skewed.now() - t0).toBe(100)
    state = { ...NO_FAULTS, clockRate: 0.5 }
    advance(100)
    expect(skewed.now() - t0).toBe(150) // half speed: 100 real ms are 50 on this clock
    skewed.setTimer(1000, () => undefined)
    expect(timers.at(-1)!.afterMs).toBe(2000) // its 1000 ms timer lasts 2000 real ms
    state = { ...NO_FAULTS, clockRate: 1, clockOffsetMs: 500 }
    expect(skewed.now() - t0).toBe(650) // a jump forward
    state = { ...NO_FAULTS, clockOffsetMs: 0 }
    expect(skewed.now() - t0).toBe(650) // the offset removed: held, not gone back
    advance(400)
    expect(skewed.now() - t0).toBe(650)
    advance(200)
    expect(skewed.now() - t0).toBe(750) // caught up, runs again
  })

  it('disk stall: a sync asked while stalled completes only after the control file lifts the stall', async () => {
    const file = join(dir, 'control.json')
    writeFileSync(file, JSON.stringify({ stallFsync: true }))
    const control = new FaultControl(file, 5)
    let synced = 0
    const storage = { lastIndex: () => 3, sync: () => Promise.resolve(void synced++) } as unknown as Storage
    const stalled = stallingStorage(storage, control)
    expect(stalled.lastIndex()).toBe(3) // the rest passes through
    let done = false
    const sync = stalled.sync().then(() => (done = true))
    // Bounded: the stall holds across many polls of the file.
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      control.poll()
    }
    expect(done).toBe(false)
    expect(synced).toBe(0)
    writeFileSync(file, JSON.stringify({ stallFsync: false }))
    control.poll()
    await sync
    expect(synced).toBe(1)
    await stalled.sync() // not stalled: straight through
    expect(synced).toBe(2)
    control.stop()
  })
})
