// Client load against a running cluster: concurrent writers, latency
// percentiles, and an SVG latency histogram people can look at.
import { randomUUID } from 'node:crypto'
import { type ClientCredentials, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'

export interface LoadOptions {
  readonly endpoints: readonly string[]
  readonly clients: number
  readonly operations: number
  readonly valueBytes: number
  /** Called about every 10% with the operations done so far. */
  readonly onProgress?: (done: number, total: number) => void
  /** How the workers authenticate (each worker gets its own signed-request session). */
  readonly credentials?: ClientCredentials
}

export interface LoadResult {
  readonly operations: number
  readonly errors: number
  /** Errors by kind ('503 NOT_LEADER', 'timeout', …), so a bad run says why. */
  readonly errorKinds: Readonly<Record<string, number>>
  readonly seconds: number
  readonly opsPerSecond: number
  readonly latenciesMs: readonly number[]
  readonly p50: number
  readonly p90: number
  readonly p99: number
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const value = 'x'.repeat(options.valueBytes)
  // Fresh session ids per run: a second run in the same process must not reuse (and restart) the first run's sequences.
  const run = randomUUID().slice(0, 8)
  const latencies: number[] = []
  let next = 0
  let errors = 0
  const errorKinds: Record<string, number> = {}
  let reported = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: options.clients }, async (_, worker) => {
      // One client (one exactly-once session) per worker: a session is sequential.
      const credentials = options.credentials === undefined ? {} : { ...options.credentials, session: worker }
      const client = new NodeSynodClient(options.endpoints[worker % options.endpoints.length]!, { timeoutMs: 10_000, clientId: `load-${run}-${worker}`, ...credentials, retry: { attempts: 1 } })
      while (next < options.operations) {
        const i = next++
        const t = performance.now()
        try {
          await client.put(`load-${i % 1000}`, value)
          latencies.push(performance.now() - t)
        } catch (error) {
          errors++
          const kind = error instanceof SynodHttpError ? `${error.status} ${String(error.body.error)}` : (error as Error).message.includes('within') ? 'timeout' : 'network'
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
        }
        const done = latencies.length + errors
        if (options.onProgress !== undefined && done - reported >= options.operations / 10) {
          reported = done
          options.onProgress(done, options.operations)
        }
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    operations: latencies.length,
    errors,
    errorKinds,
    seconds,
    opsPerSecond: latencies.length / seconds,
    latenciesMs: sorted,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
  }
}

export interface TimedLoadOptions {
  readonly endpoints: readonly string[]
  readonly clients: number
  readonly durationMs: number
  readonly valueBytes: number
  /** After a 429 a client waits this long before its next request. Default 100 ms. */
  readonly backoffMs?: number
  /** Per-request client timeout. Default 10 s. */
  readonly requestTimeoutMs?: number
}

export interface TimedLoadResult {
  /** Acknowledged writes. */
  readonly operations: number
  readonly seconds: number
  readonly opsPerSecond: number
  /** Failed requests by HTTP status ('network' when there was no HTTP answer), e.g. { '429': 12 }. */
  readonly failures: Readonly<Record<string, number>>
  /** One example message per failure status, for reports. */
  readonly examples: Readonly<Record<string, string>>
  readonly p50: number
  readonly p99: number
  readonly maxMs: number
}

/**
 * Closed-loop writers for a fixed time, client `w` on endpoint `w mod n`:
 * counts every answer by status instead of stopping at the first error, for
 * overload tests and `synod bench --duration`.
 */
export async function runTimedLoad(options: TimedLoadOptions): Promise<TimedLoadResult> {
  const value = 'x'.repeat(options.valueBytes)
  const backoffMs = options.backoffMs ?? 100
  const latencies: number[] = []
  const failures: Record<string, number> = {}
  const examples: Record<string, string> = {}
  const started = performance.now()
  const deadline = started + options.durationMs
  await Promise.all(
    Array.from({ length: options.clients }, async (_, worker) => {
      const endpoint = options.endpoints[worker % options.endpoints.length]!
      const client = new NodeSynodClient(endpoint, { timeoutMs: options.requestTimeoutMs ?? 10_000, clientId: `timed-${process.pid}-${worker}`, retry: { attempts: 1 } })
      for (let i = 0; performance.now() < deadline; i++) {
        const t = performance.now()
        try {
          await client.put(`load-${worker}-${i % 100}`, value)
          latencies.push(performance.now() - t)
        } catch (error) {
          const status = error instanceof SynodHttpError ? String(error.status) : 'network'
          failures[status] = (failures[status] ?? 0) + 1
          examples[status] ??= `${endpoint}: ${(error as Error).message}`
          if (status === '429') await new Promise((resolve) => setTimeout(resolve, backoffMs))
        }
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const sorted = latencies.sort((a, b) => a - b)
  return {
    operations: sorted.length,
    seconds,
    opsPerSecond: sorted.length / seconds,
    failures,
    examples,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
  }
}

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** A self-contained SVG histogram of latencies on a log scale, with p50/p99 marked. */
export function latencyHistogramSvg(title: string, result: LoadResult): string {
  const width = 720
  const height = 330
  const left = 60
  const right = 20
  const bottom = 270
  const top = 64 // percentile labels live above the bars
  const values = result.latenciesMs.filter((v) => v > 0)
  if (values.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="60"><text x="10" y="30">no data</text></svg>`
  const lo = Math.log10(Math.max(0.05, values[0]!))
  const hi = Math.log10(values[values.length - 1]! * 1.01)
  const bins = 40
  const counts = new Array<number>(bins).fill(0)
  for (const v of values) {
    const b = Math.min(bins - 1, Math.floor(((Math.log10(v) - lo) / Math.max(1e-9, hi - lo)) * bins))
    counts[Math.max(0, b)]! += 1
  }
  const max = Math.max(...counts)
  const plotWidth = width - left - right
  const barWidth = plotWidth / bins
  const x = (ms: number) => left + ((Math.log10(ms) - lo) / Math.max(1e-9, hi - lo)) * plotWidth
  const y = (count: number) => bottom - (count / max) * (bottom - top)
  const bars = counts
    .map((c, i) => {
      const h = bottom - y(c)
      return `<rect x="${(left + i * barWidth).toFixed(1)}" y="${(bottom - h).toFixed(1)}" width="${(barWidth - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#4a7bd0"/>`
    })
    .join('')
  const ticks: string[] = []
  for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
    for (const m of [1, 2, 5]) {
      const ms = m * 10 ** e
      if (Math.log10(ms) < lo || Math.log10(ms) > hi) continue
      ticks.push(
        `<line x1="${x(ms).toFixed(1)}" y1="${bottom}" x2="${x(ms).toFixed(1)}" y2="${bottom + 5}" stroke="#333"/><text x="${x(ms).toFixed(1)}" y="${bottom + 18}" font-size="11" text-anchor="middle">${ms < 1 ? ms.toFixed(1) : ms.toFixed(0)}</text>`,
      )
    }
  }
  // y axis: requests per bin
  const yTicks = [...new Set([0, Math.round(max / 2), max])]
    .map(
      (c) =>
        `<line x1="${left - 5}" y1="${y(c).toFixed(1)}" x2="${left}" y2="${y(c).toFixed(1)}" stroke="#333"/><text x="${left - 8}" y="${(y(c) + 4).toFixed(1)}" font-size="11" text-anchor="end">${c}</text>`,
    )
    .join('')
  // Percentile markers: a dashed line through the plot, the label above it on its own row so labels never collide.
  const marker = (ms: number, label: string, color: string, row: number) => {
    const at = x(ms)
    const anchor = at > width - right - 80 ? 'end' : 'start'
    const labelX = anchor === 'end' ? at - 4 : at + 4
    const labelY = top - 30 + row * 13
    return `<line x1="${at.toFixed(1)}" y1="${labelY - 9}" x2="${at.toFixed(1)}" y2="${bottom}" stroke="${color}" stroke-dasharray="4 3"/><text x="${labelX.toFixed(1)}" y="${labelY}" font-size="11" fill="${color}" text-anchor="${anchor}">${label} ${ms.toFixed(1)} ms</text>`
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${left}" y="20" font-size="14" font-weight="bold">${escape(title)}</text>
<text x="${width - right}" y="20" font-size="12" text-anchor="end">${result.operations} ops, ${result.opsPerSecond.toFixed(0)} ops/s, ${result.errors} errors</text>
${bars}
<line x1="${left}" y1="${bottom}" x2="${width - right}" y2="${bottom}" stroke="#333"/>
<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>
${ticks.join('')}${yTicks}
<text x="${left + plotWidth / 2}" y="${height - 8}" font-size="12" text-anchor="middle">latency (ms, log scale)</text>
<text x="16" y="${(top + bottom) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${(top + bottom) / 2})">requests</text>
${marker(result.p50, 'p50', '#1a7f37', 0)}${marker(result.p90, 'p90', '#9a6700', 1)}${marker(result.p99, 'p99', '#cf222e', 2)}
</svg>
`
}
