import { describe, expect, it } from 'vitest'
import { latencyHistogramSvg, type LoadResult, percentile } from '../src/load.js'

function result(latencies: number[]): LoadResult {
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    operations: sorted.length,
    errors: 0,
    errorKinds: {},
    seconds: 1,
    opsPerSecond: sorted.length,
    latenciesMs: sorted,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
  }
}

describe('load figures and the latency picture', () => {
  it('computes nearest-rank percentiles', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(sorted, 50)).toBe(50)
    expect(percentile(sorted, 99)).toBe(99)
    expect(percentile(sorted, 100)).toBe(100)
    expect(percentile([], 50)).toBeNaN()
  })

  it('draws a histogram with 40 bins, a count axis and the p50/p90/p99 markers', () => {
    const latencies = Array.from({ length: 1000 }, (_, i) => 1 + (i % 100) * 0.5)
    const svg = latencyHistogramSvg('raft <3 nodes>', result(latencies))
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg.match(/<rect x=/g)).toHaveLength(40) // plus one background rect
    expect(svg).toMatch(/p90 \d+\.\d ms/)
    expect(svg).toContain('>requests</text>')
    expect(svg).toMatch(/p50 25\.5 ms/)
    expect(svg).toMatch(/p99 50\.0 ms/)
    expect(svg).toContain('raft &lt;3 nodes&gt;')
    expect(svg).not.toMatch(/NaN|Infinity/)
  })

  it('says so when there is nothing to draw', () => {
    expect(latencyHistogramSvg('empty', result([]))).toMatch(/no data/)
  })
})
