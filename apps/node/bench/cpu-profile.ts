// Self time per function in a node's CPU profile (`node --cpu-prof`), inside a
// time window: what `bench:vs-etcd --profile` and `bench/auth-profile.ts` summarize.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

export interface SelfTimes {
  /** µs of self time by `${function}\u0000${file:line}` (idle excluded). */
  readonly self: Map<string, number>
  readonly busyUs: number
  readonly idleUs: number
}

/** Monotonic µs, the clock V8 stamps profile samples with (CLOCK_MONOTONIC, shared by all processes). */
export const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n)

/** The main thread's profile in `dir`: the largest .cpuprofile (workers write smaller ones); undefined when none. */
export function mainThreadProfile(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0]
}

/**
 * Self time per function of the samples inside `window` (monotonic µs). When no sample falls inside it
 * (clocks that do not line up, on another OS), the whole profile, rather than nothing.
 */
export function selfTimes(file: string, window: { readonly from: number; readonly to: number }): SelfTimes {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>
    startTime: number
    samples: number[]
    timeDeltas: number[]
  }
  let at = profile.startTime
  const inWindow = profile.timeDeltas.map((dt) => {
    at += dt
    return at >= window.from && at <= window.to
  })
  const useWindow = inWindow.some(Boolean)
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<string, number>()
  let idleUs = 0
  let busyUs = 0
  profile.samples.forEach((id, i) => {
    if (useWindow && !inWindow[i]) return
    const dt = profile.timeDeltas[i] ?? 0
    const frame = byId.get(id)!.callFrame
    if (frame.functionName === '(idle)') {
      idleUs += dt
      return
    }
    busyUs += dt
    const where = frame.url === '' ? '' : `${frame.url.replace(/^.*node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?/, '').replace(/^.*\/(apps|packages)\//, '$1/')}:${frame.lineNumber + 1}`
    const key = `${frame.functionName || '(anonymous)'}\u0000${where}`
    self.set(key, (self.get(key) ?? 0) + dt)
  })
  return { self, busyUs, idleUs }
}

export interface ProfileTop {
  readonly busyMs: number
  readonly idleMs: number
  readonly top: ReadonlyArray<{ readonly fn: string; readonly where: string; readonly ms: number; readonly share: number }>
}

/** The `topN` functions with the most self time in the main-thread profile in `dir`, inside `window`; undefined when none. */
export function topSelfTimes(dir: string, window: { readonly from: number; readonly to: number }, topN = 15): ProfileTop | undefined {
  const file = mainThreadProfile(dir)
  if (file === undefined) return undefined
  const { self, busyUs, idleUs } = selfTimes(file, window)
  const top = [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([key, us]) => {
      const [fn, where] = key.split('\u0000') as [string, string]
      return { fn, where, ms: us / 1000, share: us / Math.max(1, busyUs) }
    })
  return { busyMs: busyUs / 1000, idleMs: idleUs / 1000, top }
}
