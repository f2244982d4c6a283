// The cluster run's HTML report: verdicts, the fault timeline (the
// simulator report's timeline picture, fed from the live run), latency over
// time and per-node availability; self-contained, no scripts.
import type { CheckResult, RunRecord } from '@synod/conformance'
import { colour, escapeXml, px, ticks } from '../svg.js'
import { renderTimelineSvg } from '../timeline-svg.js'
import type { HistoryEvent } from './history.js'
import type { LinkRecord } from './sampler.js'

export interface ClusterRunResult {
  readonly protocol: string
  readonly nodes: readonly string[]
  readonly seed: number
  readonly nemeses: readonly string[]
  readonly durationMs: number
  readonly command: string
  /** Wall-clock time (ms since the epoch) of history time 0 (node logs' `time` minus this is history time). */
  readonly originEpochMs: number
  /** Each node's down outbound links (from its /metrics), a record per change; empty when never sampled. */
  readonly links?: readonly LinkRecord[]
  /**
   * Where the nodes ran and why (auto's choice), and what each directed link lost ('node1>node2') over the run:
   * packets its nft rules dropped (netns), or bytes a proxy black-holed in one-way faults (proxies).
   */
  readonly network?: { readonly kind: string; readonly reason: string; readonly droppedUnit: string; readonly dropped: Readonly<Record<string, number>> }
  /** Planned fault windows (ms since the start); each kill-all heal moves the windows after it by its restart wait. */
  readonly faults: readonly string[]
  /** After each kill-all heal: ms until every node answered again (at most RESTART_WAIT_MS); absent in older reports. */
  readonly restartWaitsMs?: readonly number[]
  readonly checks: readonly CheckResult[]
  readonly verdict: 'ok' | 'violation' | 'unknown'
  readonly counts: Readonly<Record<string, number>>
  readonly livenessMs: Readonly<Record<string, number | null>>
  readonly record: RunRecord
  readonly events: readonly HistoryEvent[]
}

/** Completed client operations: invoke time, latency, outcome, node. */
export function completions(events: readonly HistoryEvent[]): Array<{ at: number; latency: number; type: 'ok' | 'fail' | 'info'; node: string; f: string }> {
  const open = new Map<number, HistoryEvent>()
  const done: Array<{ at: number; latency: number; type: 'ok' | 'fail' | 'info'; node: string; f: string }> = []
  for (const event of events) {
    if (event.process === 'nemesis') continue
    if (event.type === 'invoke') open.set(event.process, event)
    else {
      const invoke = open.get(event.process)
      if (invoke === undefined) continue
      open.delete(event.process)
      // A cas that did not match is a definite, successful answer.
      const type = event.error === 'cas-mismatch' ? 'ok' : event.type
      done.push({ at: invoke.time, latency: event.time - invoke.time, type, node: invoke.node ?? '?', f: invoke.f })
    }
  }
  return done
}

const WIDTH = 960
const LEFT = 110
const RIGHT = 16
const OUTCOME_COLOUR = { ok: '#2e7d32', fail: '#ef6c00', info: '#c62828' } as const

export function renderLatencySvg(events: readonly HistoryEvent[], endedAt: number): string {
  const points = completions(events)
  const height = 180
  const plotWidth = WIDTH - LEFT - RIGHT
  const maxLatency = Math.max(10, ...points.map((p) => p.latency))
  // Log scale: 1 ms … the slowest answer (timeouts), so both fast writes and stalls show.
  const y = (ms: number) => 8 + (height - 8) * (1 - Math.log10(Math.max(1, ms)) / Math.log10(maxLatency))
  const x = (t: number) => LEFT + (endedAt <= 0 ? 0 : (t / endedAt) * plotWidth)
  const parts = [`<rect class="plot-bg" x="${LEFT}" y="8" width="${plotWidth}" height="${height - 8}"/>`]
  for (const tick of [1, 10, 100, 1000, 10_000].filter((t) => t <= maxLatency))
    parts.push(`<text class="tick" x="${LEFT - 4}" y="${px(y(tick) + 4)}">${tick} ms</text><line class="grid" x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${px(y(tick))}" y2="${px(y(tick))}"/>`)
  for (const p of points) parts.push(`<circle cx="${px(x(p.at))}" cy="${px(y(p.latency))}" r="1.6" fill="${OUTCOME_COLOUR[p.type]}"><title>${escapeXml(`${p.f} via ${p.node}: ${p.type} after ${p.latency.toFixed(0)} ms`)}</title></circle>`)
  for (const tick of ticks(endedAt)) parts.push(`<text class="tick time" x="${px(x(tick))}" y="${height + 16}">${tick}</text>`)
  parts.push(`<text class="axis-title" x="${LEFT - 60}" y="${px(height / 2)}" text-anchor="end">latency</text>`)
  return `<svg class="latency" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height + 24}" width="${WIDTH}" height="${height + 24}" role="img" aria-label="latency over time">${parts.join('')}</svg>`
}

/** Per node and second: the share of its completed requests that succeeded (green) or not (red); grey: no request. */
export function renderAvailabilitySvg(events: readonly HistoryEvent[], nodes: readonly string[], endedAt: number): string {
  const points = completions(events)
  const buckets = Math.max(1, Math.ceil(endedAt / 1000))
  const plotWidth = WIDTH - LEFT - RIGHT
  const lane = 18
  const parts: string[] = []
  nodes.forEach((node, i) => {
    const y = 4 + i * (lane + 4)
    parts.push(`<text class="lane-label" x="${LEFT - 8}" y="${y + 13}" fill="${colour(i)}">${escapeXml(node)}</text>`)
    for (let b = 0; b < buckets; b++) {
      const inBucket = points.filter((p) => p.node === node && p.at >= b * 1000 && p.at < (b + 1) * 1000)
      const ok = inBucket.filter((p) => p.type === 'ok').length
      const share = inBucket.length === 0 ? undefined : ok / inBucket.length
      const fill = share === undefined ? '#eeeeee' : `hsl(${Math.round(share * 120)},60%,${share === 1 ? 45 : 55}%)`
      parts.push(
        `<rect x="${px(LEFT + (b / buckets) * plotWidth)}" y="${y}" width="${px(Math.max(1, plotWidth / buckets - 1))}" height="${lane}" fill="${fill}"><title>${escapeXml(`${node}, second ${b}: ${ok}/${inBucket.length} ok`)}</title></rect>`,
      )
    }
  })
  const height = 4 + nodes.length * (lane + 4)
  for (const tick of ticks(endedAt)) parts.push(`<text class="tick time" x="${px(LEFT + (tick / Math.max(1, endedAt)) * plotWidth)}" y="${height + 12}">${tick}</text>`)
  return `<svg class="availability" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height + 20}" width="${WIDTH}" height="${height + 20}" role="img" aria-label="availability per node">${parts.join('')}</svg>`
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}h1{font-size:22px}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}.ok{color:#2e7d32}.violation{color:#c62828;font-weight:600}.unknown{color:#b26a00}
code,li.v{font:12.5px ui-monospace,Menlo,monospace}svg{max-width:100%;height:auto;display:block;margin:6px 0}svg text{font:11px system-ui,sans-serif;fill:#444}svg .lane-label{text-anchor:end;font-weight:600}
svg .tick{text-anchor:end;fill:#777}svg .tick.time{text-anchor:middle}svg .lane-bg{fill:#f5f5f5}svg .plot-bg{fill:#fbfbfb;stroke:#e5e5e5}svg .grid{stroke:#ececec}
svg .leader-span{fill:#f2c94c}svg .down-span{fill:#555;opacity:.85}svg .fault-span{fill:#e57373;opacity:.55}svg .fault-span.node-fault{fill:#ba68c8;opacity:.5}svg .commit-line{fill:none;stroke-width:1.6}svg .heal-line{stroke:#2e7d32;stroke-width:1.5;stroke-dasharray:5 3}`

export function renderClusterReport(result: ClusterRunResult): string {
  const rows = result.checks
    .map((c) => `<tr><td>${escapeXml(c.checker)}</td><td class="${c.verdict}">${c.verdict}</td><td>${escapeXml(c.note ?? '')}</td></tr>`)
    .join('')
  const violations = result.checks.flatMap((c) => c.violations).slice(0, 30)
  const counts = Object.entries(result.counts).map(([k, n]) => `${escapeXml(k)} ${n}`).join(', ')
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>synod-conformance --cluster: ${escapeXml(result.protocol)}</title><style>${STYLE}</style></head><body>
<h1>${escapeXml(result.protocol)} × ${result.nodes.length} live nodes — <span class="${result.verdict}">${result.verdict}</span></h1>
<p><code>${escapeXml(result.command)}</code></p>
<p>seed ${result.seed}; nemesis ${escapeXml(result.nemeses.join(',') || 'none')}; faults for ${result.durationMs} ms; operations: ${escapeXml(counts)}</p>
${result.network === undefined ? '' : `<p>network: ${escapeXml(`${result.network.kind} (${result.network.reason}); lost per link: ${Object.entries(result.network.dropped).map(([link, n]) => `${link} ${n} ${result.network!.droppedUnit}`).join(', ') || 'nothing'}`)}</p>`}
<h2>Checkers</h2><table><tr><th>checker</th><th>verdict</th><th>note</th></tr>${rows}</table>
${violations.length === 0 ? '' : `<ul>${violations.map((v) => `<li class="v">${escapeXml(`[${v.checker}] ${v.message}`)}</li>`).join('')}</ul>`}
<h2>Fault timeline</h2><p>Lanes: network partitions, then per node: leader (yellow), killed (dark), paused (purple); the dashed line is the final heal; below, each node's commit index (sampled from /v1/status). Time in ms since the start.</p>
${renderTimelineSvg(result.record).replace('virtual time (ms)', 'time since the start (ms)')}
<h2>Faults</h2><p>As planned from the seed${result.restartWaitsMs !== undefined && result.restartWaitsMs.length > 0 ? `; after each kill-all heal the schedule waited until every node answered again (${result.restartWaitsMs.map((ms) => `${Math.round(ms)} ms`).join(', ')}) and the windows after it moved by as much — the timeline above has the times they ran` : ''}.</p><ul>${result.faults.map((f) => `<li>${escapeXml(f)}</li>`).join('')}</ul>
<h2>Latency over time</h2><p>Each completed request at its start time: <span style="color:${OUTCOME_COLOUR.ok}">ok</span>, <span style="color:${OUTCOME_COLOUR.fail}">fail</span>, <span style="color:${OUTCOME_COLOUR.info}">info (unknown: timeout, reset, 5xx)</span>; log scale.</p>
${renderLatencySvg(result.events, result.record.endedAt)}
<h2>Availability per node</h2><p>Per second, the share of requests sent to the node that succeeded.</p>
${renderAvailabilitySvg(result.events, result.nodes, result.record.endedAt)}
<h2>Liveness after the heal</h2><p>${Object.entries(result.livenessMs).map(([n, ms]) => `${escapeXml(n)}: ${ms === null ? 'no write acknowledged' : `${Math.round(ms)} ms`}`).join('; ')}</p>
</body></html>
`
}
