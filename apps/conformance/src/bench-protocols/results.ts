import type { CrashFigures, SlowLinkFigures, SteadyFigures, Workload } from './measure.js'
import type { BenchNetwork } from './driver.js'
import type { WallClockFigures } from './wall-clock.js'

/** One protocol at one cluster size: every figure measured for it. */
export interface ConfigurationResult {
  readonly protocol: string
  readonly faultModel: 'crash' | 'byzantine'
  readonly nodes: number
  /** Faults tolerated at this size. */
  readonly f: number
  readonly steady: SteadyFigures
  readonly crash: CrashFigures | { readonly error: string }
  readonly slowLink: SlowLinkFigures | { readonly error: string }
  /** Real clocks, in-process network: throughput and CPU per write on the machine that ran the bench. */
  readonly wallClock: WallClockFigures | { readonly error: string }
  /** Wall-clock ms the four runs of this configuration took. */
  readonly wallMs: number
}

export interface BenchReport {
  readonly command: string
  readonly generatedAt: string
  readonly seed: number
  readonly network: BenchNetwork
  readonly workload: Workload
  readonly slowLinkFactor: number
  readonly results: readonly ConfigurationResult[]
}

export function failed(figures: object): figures is { readonly error: string } {
  return 'error' in figures
}
