import type { ProtocolFactory } from '@synod/core'
import { DEFAULT_NETWORK, DEFAULT_WORKLOAD, measureLeaderCrash, measureSlowLink, measureSteady, SLOW_LINK_FACTOR, type MeasureOptions, type Workload } from './measure.js'
import { sizesFor } from './plan.js'
import type { BenchReport, ConfigurationResult } from './results.js'
import { measureWallClock } from './wall-clock.js'

export interface BenchRunOptions {
  readonly factories: readonly ProtocolFactory<unknown>[]
  /** Cluster sizes; default per protocol (sizesFor). */
  readonly sizes?: readonly number[]
  readonly workload?: Workload
  readonly seed?: number
  readonly command: string
  /** Told before each of the four runs of every configuration. */
  readonly onProgress?: (step: number, total: number, label: string) => void
  readonly now?: () => Date
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** Every protocol × size × {steady, leader crash, slow link, wall clock}, one run at a time. A fault or wall-clock run that fails is reported, not fatal. */
export async function runBench(options: BenchRunOptions): Promise<BenchReport> {
  const seed = options.seed ?? 1
  const workload = options.workload ?? DEFAULT_WORKLOAD
  const plan = options.factories.flatMap((factory) => (options.sizes ?? sizesFor(factory)).map((nodes) => ({ factory, nodes })))
  const total = plan.length * 4
  let step = 0
  const results: ConfigurationResult[] = []
  for (const { factory, nodes } of plan) {
    const measure: MeasureOptions = { factory, nodes, seed, workload, network: DEFAULT_NETWORK }
    const started = performance.now()
    const label = `${factory.name} n=${nodes}`
    options.onProgress?.(++step, total, `${label} steady state`)
    const steady = await measureSteady(measure)
    options.onProgress?.(++step, total, `${label} leader crash`)
    const crash = await measureLeaderCrash(measure).catch((error: unknown) => ({ error: message(error) }))
    options.onProgress?.(++step, total, `${label} slow link`)
    const slowLink = await measureSlowLink(measure).catch((error: unknown) => ({ error: message(error) }))
    options.onProgress?.(++step, total, `${label} wall-clock throughput`)
    const wallClock = await measureWallClock({
      factory,
      nodes,
      seed,
      clients: workload.wallClients,
      warmupMs: workload.wallWarmupMs,
      measureMs: workload.wallMeasureMs,
    }).catch((error: unknown) => ({ error: message(error) }))
    results.push({
      protocol: factory.name,
      faultModel: factory.faultModel,
      nodes,
      f: factory.maxFaulty(nodes),
      steady,
      crash,
      slowLink,
      wallClock,
      wallMs: Math.round(performance.now() - started),
    })
    // Let signals and stream writes through between configurations.
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return {
    command: options.command,
    generatedAt: (options.now ?? (() => new Date()))().toISOString().slice(0, 10),
    seed,
    network: DEFAULT_NETWORK,
    workload,
    slowLinkFactor: SLOW_LINK_FACTOR,
    results,
  }
}
