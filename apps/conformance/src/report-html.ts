import { describeShrink } from '@synod/conformance'
import { renderLatencyHistogramSvg } from './latency-histogram.js'
import type { RunResult } from './run-result.js'
import { SUMMARY_COLUMNS, summarize, summaryCells } from './summary.js'
import { escapeXml } from './svg.js'
import { renderTimelineSvg } from './timeline-svg.js'

export interface HtmlReportOptions {
  /** The command line that produced the results, shown in the header. */
  readonly command?: string
  /** When the report was made, shown in the header (ISO text). */
  readonly generatedAt?: string
  /** Most failing runs drawn in full; the rest are listed. Default 20. */
  readonly maxFailureTimelines?: number
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#666;margin:0 0 12px}code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f4f4f4;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}th{background:#fafafa}
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}tr.violation td{background:#fdecea}tr.unknown td{background:#fff8e1}tr.skipped td{background:#eceff1;color:#455a64}
.verdict-ok{color:#2e7d32}.verdict-violation{color:#c62828;font-weight:600}.verdict-unknown{color:#b26a00}
ul.violations{margin:4px 0 8px 0;padding-left:20px}ul.violations li{font:12.5px ui-monospace,Menlo,monospace;white-space:pre-wrap}
details{margin:8px 0}summary{cursor:pointer}
.shrink{border-left:3px solid #c62828;padding:2px 10px;margin:8px 0;background:#fffafa}pre.trace{font:12px/1.35 ui-monospace,Menlo,monospace;overflow-x:auto;margin:4px 0}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg{max-width:100%;height:auto;display:block;margin:6px 0}
svg text{font:11px system-ui,sans-serif;fill:#444}svg .lane-label{text-anchor:end;font-weight:600}svg .lane-label.byzantine{fill:#c62828}
svg .tick{text-anchor:end;fill:#777}svg .tick.time,svg .tick.bucket{text-anchor:middle}svg .axis-title{fill:#555}
svg .lane-bg{fill:#f5f5f5}svg .plot-bg{fill:#fbfbfb;stroke:#e5e5e5}svg .grid{stroke:#ececec}svg .axis{stroke:#999}
svg .leader-span{fill:#f2c94c}svg .down-span{fill:#555;opacity:.85}svg .fault-span{fill:#e57373;opacity:.55}svg .fault-span.link-faults{fill:#ffb74d}
svg .fault-span.node-fault{fill:#ba68c8;opacity:.5}svg .membership-mark{fill:#1565c0}svg .commit-line{fill:none;stroke-width:1.6}svg .heal-line{stroke:#2e7d32;stroke-width:1.5;stroke-dasharray:5 3}
.histograms{display:flex;flex-wrap:wrap;gap:12px}.histograms figure{margin:0}.histograms figcaption{font-weight:600}
`

const LEGEND = `<div class="legend"><span><i style="background:#f2c94c"></i>leader</span><span><i style="background:#555"></i>crashed</span><span><i style="background:#e57373"></i>partition</span><span><i style="background:#ffb74d"></i>link faults</span><span><i style="background:#ba68c8"></i>node fault (pause, clock skew)</span><span><i style="border-top:2px dashed #2e7d32;height:0"></i>heal</span><span>lines: commit index per node</span></div>`

function runTitle(result: RunResult): string {
  return `${result.protocol} × ${result.scenario} × seed ${result.seed} (${result.nodes} nodes)`
}

/** The shrunk run: sizes before and after, its reproduce command, and its trace up to the first violation. */
function shrinkSection(result: RunResult): string {
  const shrink = result.shrink
  if (shrink === undefined) return ''
  const [headline, ...rest] = describeShrink(shrink)
  const traceAt = rest.findIndex((line) => line.startsWith('trace'))
  const trace = rest.slice(traceAt + 1).map((line) => line.replace(/^ {2}/, ''))
  return (
    `<div class="shrink"><p><b>${escapeXml(headline!)}</b></p>` +
    (shrink.reproduce === result.reproduce ? '' : `<p>reproduce shrunk: <code>${escapeXml(shrink.reproduce)}</code></p>`) +
    `<details open><summary>trace${shrink.reproduce === result.reproduce ? '' : ' of the shrunk run'} (${trace.length} lines)</summary><pre class="trace">${escapeXml(trace.join('\n'))}</pre></details></div>`
  )
}

function runSection(result: RunResult, open: boolean): string {
  const problems = result.checks.filter((c) => c.verdict !== 'ok')
  const list =
    problems.length === 0
      ? ''
      : `<ul class="violations">${problems
          .flatMap((check) => [
            ...(check.note === undefined ? [] : [`[${check.checker}] ${check.verdict}: ${check.note}`]),
            ...check.violations.slice(0, 5).map((v) => `[${check.checker}] ${v.message}`),
            ...(check.violations.length > 5 ? [`[${check.checker}] … ${check.violations.length - 5} more`] : []),
          ])
          .map((line) => `<li>${escapeXml(line)}</li>`)
          .join('')}</ul>`
  const body = `${list}<p>reproduce: <code>${escapeXml(result.reproduce)}</code></p>${shrinkSection(result)}${result.record === undefined ? '<p class="meta">(no record kept for this run)</p>' : renderTimelineSvg(result.record)}`
  const heading = `<span class="verdict-${result.verdict}">${escapeXml(result.verdict)}</span> — ${escapeXml(runTitle(result))}`
  return `<details class="run" data-verdict="${result.verdict}"${open ? ' open' : ''}><summary>${heading}</summary>${body}</details>`
}

/**
 * A self-contained HTML page (inline CSS and SVG, no external assets): the
 * summary table, a timeline for every failing run (the first few) and for
 * the first run of each protocol × scenario, and a latency histogram per
 * protocol.
 */
export function renderHtmlReport(results: readonly RunResult[], options: HtmlReportOptions = {}): string {
  const rows = summarize(results)
  const violations = results.filter((r) => r.verdict === 'violation')
  const unknown = results.filter((r) => r.verdict === 'unknown')
  const skipped = results.filter((r) => r.verdict === 'skipped')
  const maxTimelines = options.maxFailureTimelines ?? 20
  const meta = [
    `${results.length} runs`,
    `${violations.length} with violations`,
    `${unknown.length} undecided`,
    ...(skipped.length === 0 ? [] : [`${skipped.length} skipped`]),
    ...(options.generatedAt === undefined ? [] : [`generated ${options.generatedAt}`]),
  ].join(' · ')

  const table = `<table class="summary"><thead><tr>${SUMMARY_COLUMNS.map((c) => `<th>${escapeXml(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((row) => {
      const cls = row.violations > 0 ? ' class="violation"' : row.unknown > 0 ? ' class="unknown"' : row.skipped > 0 ? ' class="skipped"' : ''
      return `<tr${cls}>${summaryCells(row).map((cell) => `<td>${escapeXml(cell)}</td>`).join('')}</tr>`
    })
    .join('')}</tbody></table>`

  const failureSections =
    violations.length === 0 && unknown.length === 0
      ? '<p>No violations.</p>'
      : [...violations, ...unknown]
          .map((r, i) =>
            i < maxTimelines
              ? runSection(r, i < 5)
              : `<p>${escapeXml(runTitle(r))}: <code>${escapeXml(r.reproduce)}</code></p>`,
          )
          .join('')

  const failedPairs = new Set([...violations, ...unknown].map((r) => `${r.protocol}\u0000${r.scenario}`))
  const seenPairs = new Set<string>()
  const samples: RunResult[] = []
  for (const result of results) {
    const pair = `${result.protocol}\u0000${result.scenario}`
    if (seenPairs.has(pair) || failedPairs.has(pair) || result.record === undefined) continue
    seenPairs.add(pair)
    samples.push(result)
  }
  const sampleSections = samples.length === 0 ? '' : `<h2>Sample runs</h2><p class="meta">The first run of each protocol × scenario without failures.</p>${samples.map((r) => runSection(r, false)).join('')}`

  const skippedRows = rows.filter((r) => r.skipped > 0)
  const skippedSection =
    skippedRows.length === 0
      ? ''
      : `<h2>Skipped (not run, not passed)</h2><ul class="skipped">${skippedRows
          .map((r) => `<li>${escapeXml(`${r.protocol} × ${r.scenario} (${r.skipped} run${r.skipped === 1 ? '' : 's'}): ${(r.skipReasons ?? []).join('; ')}`)}</li>`)
          .join('')}</ul>`

  const protocols = [...new Set(results.map((r) => r.protocol))]
  const histograms = protocols
    .map((protocol, i) => {
      const latencies = results.filter((r) => r.protocol === protocol).flatMap((r) => r.latenciesMs)
      return `<figure><figcaption>${escapeXml(protocol)}</figcaption>${renderLatencyHistogramSvg(protocol, latencies, i)}</figure>`
    })
    .join('')

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Synod conformance report</title><style>${STYLE}</style></head>
<body>
<h1>Synod conformance report</h1>
<p class="meta">${escapeXml(meta)}</p>
${options.command === undefined ? '' : `<p>command: <code>${escapeXml(options.command)}</code></p>`}
<h2>Summary</h2>
${table}
${skippedSection}
<h2>Failures</h2>
${LEGEND}
${failureSections}
${sampleSections}
<h2>Latency of completed operations</h2>
<div class="histograms">${histograms}</div>
</body></html>
`
}
