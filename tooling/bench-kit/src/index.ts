import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One figure, as written to bench-results/<package>.json. */
export interface BenchResult {
  name: string
  value: number
  unit: string
  params: Record<string, unknown>
  /** Name of the baseline measured in the same run. */
  baseline?: string
  /** value / baseline value. */
  ratio?: number
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

/**
 * Run `fn` (which performs `ops` operations) `runs` times after a warm-up and
 * return the median rate in operations per second.
 */
export async function opsPerSecond(fn: () => unknown | Promise<unknown>, ops: number, runs = 5): Promise<number> {
  await fn()
  const rates: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    const seconds = (performance.now() - start) / 1000
    rates.push(ops / seconds)
  }
  return median(rates)
}

/** Attach `baseline` and `ratio` to a result measured in the same run as its baseline. */
export function against(result: BenchResult, baseline: BenchResult): BenchResult {
  return { ...result, baseline: baseline.name, ratio: Number((result.value / baseline.value).toFixed(4)) }
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Print a readable table and write bench-results/<pkg>.json at the repository root. */
export function report(pkg: string, results: readonly BenchResult[]): string {
  const rows = results.map((r) => [
    r.name,
    formatNumber(r.value),
    r.unit,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}× ${r.baseline}`,
    Object.entries(r.params)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' '),
  ])
  const header = ['benchmark', 'median', 'unit', 'vs baseline (same run)', 'params']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  console.log(`\n${pkg}`)
  console.log(line(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const row of rows) console.log(line(row))
  const dir = join(repoRoot, 'bench-results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${pkg.replace(/^@synod\//, '')}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  console.log(`wrote ${file}`)
  return file
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US')
  return n.toPrecision(3)
}
export { InProcessNetwork, type InProcessTransport } from './in-process-network.js'
