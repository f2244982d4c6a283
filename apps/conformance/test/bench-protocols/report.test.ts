import { describe, expect, it } from 'vitest'
import { renderChart } from '../../src/bench-protocols/chart.js'
import { benchMain, parseBenchArguments } from '../../src/bench-protocols/main.js'
import { benchResults } from '../../src/bench-protocols/bench-results.js'
import { comparisonTable, markdownReport } from '../../src/bench-protocols/markdown.js'
import { runBench } from '../../src/bench-protocols/run.js'
import { protocolRegistry } from '../../src/registry.js'

describe('bench:protocols report', () => {
  it('a tiny run (raft, n = 3 and 4) fills a measured row, the detail table, JSON-able figures and the chart', async () => {
    const factory = await protocolRegistry.get('raft')!()
    const steps: string[] = []
    const report = await runBench({
      factories: [factory],
      sizes: [3, 4],
      workload: { lowLoadOps: 10, loadOps: 40, loadClients: 4, idleMs: 200, warmupOps: 2, wallClients: 16, wallWarmupMs: 100, wallMeasureMs: 300 },
      command: 'pnpm bench:protocols --test',
      onProgress: (step, total, label) => steps.push(`${step}/${total} ${label}`),
      now: () => new Date('2026-01-02T00:00:00Z'),
    })
    expect(steps).toEqual([
      '1/8 raft n=3 steady state',
      '2/8 raft n=3 leader crash',
      '3/8 raft n=3 slow link',
      '4/8 raft n=3 wall-clock throughput',
      '5/8 raft n=4 steady state',
      '6/8 raft n=4 leader crash',
      '7/8 raft n=4 slow link',
      '8/8 raft n=4 wall-clock throughput',
    ])
    expect(report.results.map((r) => [r.nodes, r.f])).toEqual([
      [3, 1],
      [4, 1],
    ])
    for (const r of report.results) {
      expect(r.steady.perDecision.messages).toBeGreaterThan(0)
      expect('error' in r.crash).toBe(false)
      expect('error' in r.slowLink).toBe(false)
      // Real clocks: only that writes were acknowledged, whatever this machine's speed.
      expect('error' in r.wallClock ? r.wallClock.error : r.wallClock.opsPerSecond).toBeGreaterThan(0)
    }
    const row = comparisonTable(report).split('\n').find((line) => line.startsWith('| raft |'))!
    expect(row).toContain('| crash | 2f + 1 |')
    expect(row).not.toMatch(/\| – \/ – \|/)
    expect(markdownReport(report)).toContain('Regenerate with `pnpm bench:protocols --test` (2026-01-02, seed 1)')
    expect(JSON.parse(JSON.stringify(report))).toEqual(report)
    const svg = renderChart(report)
    expect(svg).toContain('<polyline')
    expect(svg.match(/<circle/g)).toHaveLength(2)
  })

  it('the same seed measures the same deterministic figures', async () => {
    const factory = await protocolRegistry.get('paxos')!()
    const run = () =>
      runBench({ factories: [factory], sizes: [3], workload: { lowLoadOps: 10, loadOps: 30, loadClients: 4, idleMs: 100, warmupOps: 2, wallClients: 4, wallWarmupMs: 0, wallMeasureMs: 100 }, command: 'x' })
    const [a, b] = [await run(), await run()]
    const deterministic = (r: (typeof a.results)[number]) => ({ ...r.steady, loaded: { ...r.steady.loaded, wallOpsPerSecond: 0, cpuMicrosPerOp: 0 } })
    expect(deterministic(a.results[0]!)).toEqual(deterministic(b.results[0]!))
    expect(a.results[0]!.crash).toEqual(b.results[0]!.crash)
  })

  it('parses its arguments and refuses unknown ones and unknown protocols', async () => {
    expect(parseBenchArguments(['--protocol', 'raft,pbft', '--nodes', '4,7', '--out', 'x', '--quick'])).toMatchObject({
      protocols: ['raft', 'pbft'],
      sizes: [4, 7],
      out: 'x',
    })
    expect(() => parseBenchArguments(['--nodes', '0'])).toThrow(/positive integers/)
    const err: string[] = []
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) } }
    expect(await benchMain(['--bogus'], io)).toBe(2)
    expect(await benchMain(['--protocol', 'nope'], io)).toBe(2)
    expect(err.join('')).toContain("unknown protocol nope")
  })
})

describe('bench:protocols README table', () => {
  it('replaces what lies between the markers and nothing else; no markers, no change', async () => {
    const { README_END, README_START, replaceReadmeTable } = await import('../../src/bench-protocols/readme-table.js')
    const text = `# Title\n\nbefore\n${README_START}\n| old |\n${README_END}\nafter\n`
    expect(replaceReadmeTable(text, '| new |')).toBe(`# Title\n\nbefore\n${README_START}\n| new |\n${README_END}\nafter\n`)
    expect(replaceReadmeTable('# no markers\n', '| new |')).toBeUndefined()
    expect(replaceReadmeTable(`${README_END}\n${README_START}\n`, '| new |')).toBeUndefined()
  })

  it('the committed README holds the committed report’s table', async () => {
    const { readFile } = await import('node:fs/promises')
    const { replaceReadmeTable } = await import('../../src/bench-protocols/readme-table.js')
    const root = new URL('../../../../', import.meta.url)
    const readme = await readFile(new URL('README.md', root), 'utf8')
    const report = JSON.parse(await readFile(new URL('docs/benchmarks/protocols.json', root), 'utf8')) as Parameters<typeof comparisonTable>[0]
    expect(replaceReadmeTable(readme, comparisonTable(report))).toBe(readme)
  })
})

describe('bench:protocols --render-only', () => {
  it('rewrites the Markdown and the SVG from the JSON of an earlier run, measuring nothing', async () => {
    const { copyFile, mkdtemp, readFile, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const dir = await mkdtemp(join(tmpdir(), 'bench-protocols-'))
    try {
      await copyFile(new URL('../../../../docs/benchmarks/protocols.json', import.meta.url), join(dir, 'protocols.json'))
      const out: string[] = []
      const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: () => true } }
      expect(await benchMain(['--render-only', '--out', dir], io)).toBe(0)
      const markdown = await readFile(join(dir, 'protocols.md'), 'utf8')
      expect(markdown).toContain('| raft | crash | 2f + 1 |')
      expect(await readFile(join(dir, 'protocols.svg'), 'utf8')).toContain('<svg')
      expect(out.join('')).not.toContain('README')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('gives the committed report in the shared bench format, machine figures with their same-run ratio to Raft', async () => {
    const { readFile } = await import('node:fs/promises')
    const root = new URL('../../../../', import.meta.url)
    const report = JSON.parse(await readFile(new URL('docs/benchmarks/protocols.json', root), 'utf8')) as Parameters<typeof benchResults>[0]
    const results = benchResults(report)
    const protocols = new Set(results.map((r) => r.params['protocol']))
    expect([...protocols].sort()).toEqual(['hotstuff', 'paxos', 'pbft', 'raft'])
    const pbft = results.find((r) => r.name === 'pbft n=4 throughput')!
    const raft = results.find((r) => r.name === 'raft n=4 throughput')!
    expect(pbft).toMatchObject({ unit: 'ops/s', baseline: 'raft n=4 throughput', ratio: Number((pbft.value / raft.value).toFixed(4)) })
    expect(raft.baseline).toBeUndefined()
    expect(results.find((r) => r.name === 'pbft n=4 messages per decision')).toMatchObject({ unit: 'messages', params: { nodes: 4 } })
    expect(results.find((r) => r.name === 'pbft n=4 messages per decision')!.baseline).toBeUndefined() // deterministic figures stand alone
  })
})
