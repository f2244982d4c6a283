import { describe, expect, it } from 'vitest'
import type { RunRecord } from '@synod/conformance'
import { latencyBuckets, renderLatencyHistogramSvg } from '../src/latency-histogram.js'
import { renderHtmlReport } from '../src/report-html.js'
import { buildJsonReport } from '../src/report-json.js'
import type { RunResult } from '../src/run-result.js'
import { timelineModel } from '../src/timeline-svg.js'

/** n1 leads term 1, crashes at 300 and restarts at 600; n2 leads term 2 from 350; a partition 100–200; healed at 800. */
const record: RunRecord = {
  nodes: ['n1', 'n2', 'n3'],
  correctNodes: ['n1', 'n2', 'n3'],
  history: [
    { id: 0, client: 0, key: 'k0', kind: 'write', input: { value: 'a' }, invokedAt: 10, completedAt: 14, outcome: 'ok' },
    { id: 1, client: 1, key: 'k0', kind: 'read', input: {}, invokedAt: 20, completedAt: 21, outcome: 'ok', output: { value: 'a' } },
  ],
  commits: [
    { node: 'n1', incarnation: 0, index: 1, digest: 'aa', at: 12 },
    { node: 'n2', incarnation: 0, index: 1, digest: 'aa', at: 13 },
    { node: 'n2', incarnation: 0, index: 2, digest: 'bb', at: 400 },
    { node: 'n3', incarnation: 0, index: 1, digest: 'aa', at: 13 },
    { node: 'n3', incarnation: 0, index: 2, digest: 'bb', at: 401 },
  ],
  leaders: [
    { node: 'n1', term: 1, at: 5 },
    { node: 'n2', term: 2, at: 350 },
  ],
  timeline: [
    { at: 5, node: 'n1', kind: 'leader', detail: 'leader of term 1' },
    { at: 100, kind: 'fault', detail: 'partition n3 | n1 n2' },
    { at: 200, kind: 'heal', detail: 'network healed' },
    { at: 300, node: 'n1', kind: 'crash', detail: 'n1 crashed' },
    { at: 350, node: 'n2', kind: 'leader', detail: 'leader of term 2' },
    { at: 600, node: 'n1', kind: 'restart', detail: 'n1 restarted' },
    { at: 610, node: 'n1', kind: 'role', detail: 'follower in term 2' },
    { at: 800, kind: 'heal', detail: 'all faults healed; liveness phase begins' },
  ],
  healedAt: 800,
  endedAt: 1000,
  acknowledgedCommands: new Map([[0, 'aa']]),
  livenessBudgetMs: 200,
}

const result = (overrides: Partial<RunResult>): RunResult => ({
  protocol: 'toy',
  scenario: 'leader-crash',
  seed: 1,
  nodes: 3,
  verdict: 'ok',
  checks: [{ checker: 'agreement', verdict: 'ok', violations: [] }],
  opsCompleted: 2,
  unknowns: 0,
  recoveryMs: 12,
  traceHash: 'abc',
  reproduce: 'pnpm synod-conformance --protocol toy --scenario leader-crash --seed 1',
  wallMs: 5,
  latenciesMs: [4, 1],
  ...overrides,
})

const failing = result({
  seed: 2,
  verdict: 'violation',
  checks: [{ checker: 'agreement', verdict: 'violation', violations: [{ checker: 'agreement', message: 'index 2: n1 <b>x</b> but n2 y' }] }],
  reproduce: 'pnpm synod-conformance --protocol toy --scenario leader-crash --seed 2',
  latenciesMs: [30, 700, 3000],
  record,
})

describe('timelineModel', () => {
  it('derives leader, crash and fault spans and the commit steps', () => {
    const model = timelineModel(record)
    const n1 = model.nodes.find((l) => l.node === 'n1')!
    expect(n1.leader).toEqual([{ from: 5, to: 300, label: 'leader of term 1' }])
    expect(n1.down).toEqual([{ from: 300, to: 600, label: 'crashed' }])
    expect(model.nodes.find((l) => l.node === 'n2')!.leader).toEqual([{ from: 350, to: 1000, label: 'leader of term 2' }])
    expect(model.network).toEqual([{ kind: 'partition', from: 100, to: 200, label: 'partition n3 | n1 n2' }])
    expect(model.commitSteps.find((s) => s.node === 'n3')!.points).toEqual([
      [0, 0],
      [13, 1],
      [401, 2],
    ])
  })
})

describe('timelineModel leadership', () => {
  it('resumes a leader that restarts in the same term, and ends one that steps down', () => {
    const model = timelineModel({
      ...record,
      leaders: [{ node: 'n1', term: 1, at: 5 }],
      timeline: [
        { at: 300, node: 'n1', kind: 'crash', detail: 'n1 crashed' },
        { at: 600, node: 'n1', kind: 'restart', detail: 'n1 restarted' },
        { at: 620, node: 'n1', kind: 'role', detail: 'leader in term 1' },
        { at: 900, node: 'n1', kind: 'role', detail: 'follower in term 3' },
      ],
    })
    expect(model.nodes[0]!.leader).toEqual([
      { from: 5, to: 300, label: 'leader of term 1' },
      { from: 620, to: 900, label: 'leader of term 1' },
    ])
  })
})

describe('latency histogram', () => {
  it('buckets latencies logarithmically', () => {
    const buckets = latencyBuckets([1, 1.9, 2, 4.9, 3000])
    expect(buckets[0]).toEqual({ label: '<2', count: 2 })
    expect(buckets[1]).toEqual({ label: '<5', count: 2 })
    expect(buckets.at(-1)).toEqual({ label: '≥2000', count: 1 })
    expect(buckets.reduce((s, b) => s + b.count, 0)).toBe(5)
  })

  it('draws one bar per bucket, the tallest full height', () => {
    const svg = renderLatencyHistogramSvg('toy', [1, 1, 1, 30])
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(11)
    expect(svg).toContain('data-bucket="&lt;2" data-count="3"')
    expect(svg).toContain('data-bucket="&lt;50" data-count="1"')
  })
})

describe('renderHtmlReport', () => {
  const html = renderHtmlReport([result({}), failing, result({ scenario: 'steady-state', record })], { command: 'synod-conformance --seeds 2', generatedAt: '2025-01-01T00:00:00.000Z' })

  it('is one self-contained page', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true)
    expect(html).not.toMatch(/<script|<link|src=|href="http/)
    expect(html).toContain('command: <code>synod-conformance --seeds 2</code>')
  })

  it('has the summary table with the failing row marked', () => {
    expect(html).toContain('<tr class="violation"><td>leader-crash</td><td>toy</td><td>2</td><td>1</td><td>0</td><td>0</td><td>4</td><td>0</td><td>12 ms</td></tr>')
    expect(html).toContain('<tr><td>steady-state</td><td>toy</td><td>1</td><td>0</td>')
  })

  it('draws the failing run with a lane per node and escapes messages', () => {
    const failure = html.slice(html.indexOf('<details class="run" data-verdict="violation" open>'), html.indexOf('</details>'))
    expect(failure).toContain('pnpm synod-conformance --protocol toy --scenario leader-crash --seed 2')
    expect(failure).toContain('index 2: n1 &lt;b&gt;x&lt;/b&gt; but n2 y')
    for (const node of ['n1', 'n2', 'n3']) {
      expect(failure).toContain(`data-lane="node" data-node="${node}"`)
      expect(failure).toContain(`<path class="commit-line" data-node="${node}"`)
    }
    expect(failure).toContain('data-lane="network"')
    expect(failure.match(/class="leader-span"/g)).toHaveLength(2)
    expect(failure.match(/class="down-span"/g)).toHaveLength(1)
    expect(failure.match(/class="fault-span partition"/g)).toHaveLength(1)
    expect(failure).toContain('class="heal-line"')
  })

  it('shows a sample run for pairs without failures, and a histogram per protocol', () => {
    expect(html).toContain('<h2>Sample runs</h2>')
    expect(html.match(/<details class="run" data-verdict="ok">/g)).toHaveLength(1)
    expect(html.match(/<svg class="histogram" data-protocol="toy"/g)).toHaveLength(1)
    expect(html).toContain('latency (virtual ms), 7 operations')
  })
})

describe('buildJsonReport', () => {
  it('keeps records only for failing runs, with the acknowledged map as an object', () => {
    const report = buildJsonReport([result({ record }), failing])
    expect(report.runs).toHaveLength(2)
    expect(report.runs.every((r) => !('record' in r) && !('latenciesMs' in r))).toBe(true)
    expect(report.failures).toHaveLength(1)
    expect(report.failures[0]!.record.acknowledgedCommands).toEqual({ '0': 'aa' })
    expect(JSON.parse(JSON.stringify(report)).summary[0]).toMatchObject({ scenario: 'leader-crash', runs: 2, violations: 1 })
  })
})
