import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { latencyHistogramSvg, type LoadResult, percentile, runTimedLoad } from '../src/load.js'

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

describe('timed load (overload test, bench --duration)', () => {
  it('counts answers by status instead of stopping at the first error', async () => {
    let n = 0
    // Worker w always gets the same status, so each status is seen whatever the machine's speed.
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        n++
        const worker = Number(String(req.headers['synod-client-id']).split('-').at(-1))
        const status = [200, 429, 503][worker % 3]!
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(status === 200 ? '{"index":1}' : `{"error":"E${status}","message":"m"}`)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const endpoint = `127.0.0.1:${(server.address() as { port: number }).port}`
      const result = await runTimedLoad({ endpoints: [endpoint], clients: 3, durationMs: 200, valueBytes: 10, backoffMs: 1 })
      expect(result.operations).toBeGreaterThan(0)
      expect(result.failures['429']).toBeGreaterThan(0)
      expect(result.failures['503']).toBeGreaterThan(0)
      expect(Object.keys(result.failures).sort()).toEqual(['429', '503'])
      expect(result.operations + result.failures['429']! + result.failures['503']!).toBe(n)
      expect(result.examples['503']).toMatch(/E503/)
    } finally {
      server.close()
    }
  })
})
