import { colour, escapeXml, px, ticks } from '../svg.js'
import type { BenchReport } from './results.js'

const WIDTH = 880
const HEIGHT = 360
const PANEL = { top: 50, bottom: 300, width: 340 }
const LEFT_X = 70
const RIGHT_X = 510

/** Round ticks from 0 whose last one is at least `max` (so nothing is drawn above the axis). */
function axisTicks(max: number): number[] {
  const values = ticks(max, 5)
  const step = values.length > 1 ? values[1]! - values[0]! : max
  while (values.at(-1)! < max) values.push(Math.round((values.at(-1)! + step) * 1e6) / 1e6)
  return values
}

/**
 * Two panels: messages per decision against n (one line per protocol; O(n)
 * and O(n²) show as the slope), and throughput in one process at n = 4 per protocol.
 */
export function renderChart(report: BenchReport): string {
  const protocols = [...new Set(report.results.map((r) => r.protocol))]
  const sizes = [...new Set(report.results.map((r) => r.nodes))].sort((a, b) => a - b)
  const parts: string[] = []
  const height = PANEL.bottom - PANEL.top

  // Left: messages per decision vs n.
  const maxMessages = Math.max(1, ...report.results.map((r) => r.steady.perDecision.messages))
  const yTicks = axisTicks(maxMessages)
  const yMax = yTicks.at(-1)!
  const minN = sizes[0] ?? 3
  const maxN = Math.max(minN + 1, sizes.at(-1) ?? 7)
  const x = (n: number) => LEFT_X + ((n - minN) / (maxN - minN)) * PANEL.width
  const y = (v: number) => PANEL.bottom - (v / yMax) * height
  parts.push(`<text x="${LEFT_X}" y="22" font-weight="bold">Messages per decision vs n (one write in flight)</text>`)
  for (const t of yTicks)
    parts.push(
      `<line x1="${LEFT_X}" x2="${LEFT_X + PANEL.width}" y1="${px(y(t))}" y2="${px(y(t))}" stroke="#ddd"/><text x="${LEFT_X - 6}" y="${px(y(t) + 4)}" text-anchor="end">${t}</text>`,
    )
  for (const n of sizes) parts.push(`<text x="${px(x(n))}" y="${PANEL.bottom + 18}" text-anchor="middle">${n}</text>`)
  parts.push(`<text x="${LEFT_X + PANEL.width / 2}" y="${PANEL.bottom + 36}" text-anchor="middle">nodes (n)</text>`)
  protocols.forEach((protocol, i) => {
    const points = report.results
      .filter((r) => r.protocol === protocol)
      .sort((a, b) => a.nodes - b.nodes)
      .map((r) => [x(r.nodes), y(r.steady.perDecision.messages)] as const)
    parts.push(`<polyline fill="none" stroke="${colour(i)}" stroke-width="2" points="${points.map(([a, b]) => `${px(a)},${px(b)}`).join(' ')}"/>`)
    for (const [a, b] of points) parts.push(`<circle cx="${px(a)}" cy="${px(b)}" r="3.5" fill="${colour(i)}"/>`)
    parts.push(`<rect x="${LEFT_X + 8}" y="${PANEL.top + 4 + i * 18}" width="12" height="12" fill="${colour(i)}"/><text x="${LEFT_X + 26}" y="${PANEL.top + 14 + i * 18}">${escapeXml(protocol)}</text>`)
  })

  // Right: throughput in one process at n = 4.
  const bars = protocols.map((protocol, i) => {
    const wall = report.results.find((r) => r.protocol === protocol && r.nodes === 4)?.wallClock
    return { protocol, i, value: wall === undefined || 'error' in wall ? 0 : wall.opsPerSecond }
  })
  const tTicks = axisTicks(Math.max(1, ...bars.map((b) => b.value)))
  const tMax = tTicks.at(-1)!
  const ty = (v: number) => PANEL.bottom - (v / tMax) * height
  parts.push(`<text x="${RIGHT_X}" y="22" font-weight="bold">Throughput at n = 4 (writes/s, all nodes in one process)</text>`)
  for (const t of tTicks)
    parts.push(
      `<line x1="${RIGHT_X}" x2="${RIGHT_X + PANEL.width}" y1="${px(ty(t))}" y2="${px(ty(t))}" stroke="#ddd"/><text x="${RIGHT_X - 6}" y="${px(ty(t) + 4)}" text-anchor="end">${t.toLocaleString('en-US')}</text>`,
    )
  const slot = PANEL.width / Math.max(1, bars.length)
  for (const bar of bars) {
    const left = RIGHT_X + bar.i * slot + slot * 0.2
    parts.push(
      `<rect x="${px(left)}" y="${px(ty(bar.value))}" width="${px(slot * 0.6)}" height="${px(PANEL.bottom - ty(bar.value))}" fill="${colour(bar.i)}"/><text x="${px(left + slot * 0.3)}" y="${PANEL.bottom + 18}" text-anchor="middle">${escapeXml(bar.protocol)}</text><text x="${px(left + slot * 0.3)}" y="${px(ty(bar.value) - 5)}" text-anchor="middle">${Math.round(bar.value).toLocaleString('en-US')}</text>`,
    )
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>
${parts.join('\n')}
</svg>
`
}
