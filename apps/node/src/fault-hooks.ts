// TEST-ONLY fault hooks for `synod-conformance --cluster` (issue 20 §2): a
// skewed clock and a disk whose fsync stalls, both steered at run time by a
// small JSON control file that only the runner writes. The hooks exist only
// when SYNOD_DEBUG_FAULT_CONTROL names that file: a normal start has neither
// the wrapper nor the poller, and a node that has them says so in its log.
import { readFileSync } from 'node:fs'
import type { Clock, Storage, TimerId } from '@synod/core'

/** SYNOD_DEBUG_FAULT_CONTROL=<path>: the control file the runner writes (JSON, see FaultState). */
export const FAULT_CONTROL = 'SYNOD_DEBUG_FAULT_CONTROL'

export interface FaultState {
  /** Speed of this process's clock (1 = real time; 0.5 = half as fast: its leases and timers last twice as long). */
  readonly clockRate: number
  /** Added to the clock; a decrease holds the clock still until real time catches up (it stays monotonic). */
  readonly clockOffsetMs: number
  /** While true, storage syncs do not complete (a disk whose fsync hangs). */
  readonly stallFsync: boolean
}

export const NO_FAULTS: FaultState = { clockRate: 1, clockOffsetMs: 0, stallFsync: false }

/** Parse the control file's text; anything malformed or out of range is ignored field by field. */
export function parseFaultState(text: string): FaultState {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return NO_FAULTS
  }
  if (typeof raw !== 'object' || raw === null) return NO_FAULTS
  const r = raw as Record<string, unknown>
  const rate = typeof r.clockRate === 'number' && r.clockRate >= 0.05 && r.clockRate <= 20 ? r.clockRate : 1
  const offset = typeof r.clockOffsetMs === 'number' && Number.isFinite(r.clockOffsetMs) ? r.clockOffsetMs : 0
  return { clockRate: rate, clockOffsetMs: offset, stallFsync: r.stallFsync === true }
}

/** The control file, re-read every `pollMs` (an unref'd timer: it never keeps the process alive). */
export class FaultControl {
  private current: FaultState = NO_FAULTS
  private readonly timer: NodeJS.Timeout
  private readonly listeners = new Set<() => void>()

  constructor(
    readonly path: string,
    pollMs = 20,
  ) {
    this.poll()
    this.timer = setInterval(() => this.poll(), pollMs)
    this.timer.unref()
  }

  get state(): FaultState {
    return this.current
  }

  /** Called after every poll that changed the state. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  poll(): void {
    let text: string
    try {
      text = readFileSync(this.path, 'utf8')
    } catch {
      text = '{}' // no file: no fault
    }
    const next = parseFaultState(text)
    const changed = JSON.stringify(next) !== JSON.stringify(this.current)
    this.current = next
    if (changed) for (const listener of [...this.listeners]) listener()
  }

  stop(): void {
    clearInterval(this.timer)
    this.listeners.clear()
  }
}

/** The hook, or undefined when SYNOD_DEBUG_FAULT_CONTROL is not set (a normal start). */
export function openFaultControl(env: NodeJS.ProcessEnv = process.env): FaultControl | undefined {
  const path = env[FAULT_CONTROL]
  return path === undefined || path === '' ? undefined : new FaultControl(path)
}

/**
 * `base` run at `state().clockRate` plus `state().clockOffsetMs`, never going back: time elapsed at the
 * rate in force is accumulated, and a lowered offset holds the clock until it has caught up. Timers run
 * on the skewed clock too (a timer of d ms fires after d / rate real ms), as a process whose clock is
 * slow sees all its durations — lease, heartbeat, election timeout — stretched.
 */
export function skewedClock(base: Clock, state: () => FaultState): Clock {
  let lastReal = base.now()
  let virtual = lastReal
  let returned = -Infinity
  const now = (): number => {
    const real = base.now()
    virtual += (real - lastReal) * state().clockRate
    lastReal = real
    returned = Math.max(returned, virtual + state().clockOffsetMs)
    return returned
  }
  return {
    now,
    setTimer: (afterMs: number, onFire: () => void): TimerId => base.setTimer(afterMs / state().clockRate, onFire),
    clearTimer: (id: TimerId) => base.clearTimer(id),
  }
}

/**
 * `storage` whose `sync()` does not complete while `control` says stallFsync (checked when the sync is
 * asked and again when the stall ends), then syncs for real. Everything else passes through.
 */
export function stallingStorage<S extends Storage>(storage: S, control: FaultControl): S {
  const whenUnstalled = (): Promise<void> =>
    new Promise((resolve) => {
      if (!control.state.stallFsync) return resolve()
      const off = control.onChange(() => {
        if (control.state.stallFsync) return
        off()
        resolve()
      })
    })
  const sync = async (): Promise<void> => {
    await whenUnstalled()
    await storage.sync()
  }
  return new Proxy(storage, {
    get(target, property, receiver) {
      if (property === 'sync') return sync
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}
