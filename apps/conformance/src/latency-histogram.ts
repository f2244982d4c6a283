import { colour, escapeXml, px } from './svg.js'

/** Upper bounds (virtual ms) of the latency buckets; the last bucket is open-ended. */
export const LATENCY_BUCKETS_MS = [2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000] as const

export interface HistogramBucket {
  readonly label: string
  readonly count: number
}

export function latencyBuckets(latencies: readonly number[]): HistogramBucket[] {
  const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0)
  for (const latency of latencies) {
    const bucket = LATENCY_BUCKETS_MS.findIndex((bound) => latency < bound)
    counts[bucket === -1 ? LATENCY_BUCKETS_MS.length : bucket]!++
  }
  return counts.map((count, i) => ({
    label: i === LATENCY_BUCKETS_MS.length ? `≥${LATENCY_BUCKETS_MS.at(-1)}` : `<${LATENCY_BUCKETS_MS[i]}`,
    count,
  }))
}

const WIDTH = 460
const HEIGHT = 180
const LEFT = 44
const BOTTOM = 34
const TOP = 12

/** A bar chart of completed-operation latencies for one protocol, logarithmic buckets. */
export function renderLatencyHistogramSvg(protocol: string, latencies: readonly number[], colourIndex = 0): string {
  const buckets = latencyBuckets(latencies)
  const max = Math.max(1, ...buckets.map((b) => b.count))
  const plotWidth = WIDTH - LEFT - 8
  const plotHeight = HEIGHT - TOP - BOTTOM
  const slot = plotWidth / buckets.length
  const parts: string[] = []
  parts.push(`<line class="axis" x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${TOP + plotHeight}" y2="${TOP + plotHeight}"/>`)
  parts.push(`<text class="tick" x="${LEFT - 4}" y="${TOP + 8}">${max}</text><text class="tick" x="${LEFT - 4}" y="${TOP + plotHeight}">0</text>`)
  buckets.forEach((bucket, i) => {
    const height = (bucket.count / max) * plotHeight
    const bx = LEFT + i * slot + 2
    parts.push(
      `<rect class="bar" data-bucket="${escapeXml(bucket.label)}" data-count="${bucket.count}" x="${px(bx)}" y="${px(TOP + plotHeight - height)}" width="${px(slot - 4)}" height="${px(height)}" fill="${colour(colourIndex)}"><title>${escapeXml(`${bucket.label} ms: ${bucket.count} operations`)}</title></rect>`,
    )
    parts.push(`<text class="tick bucket" x="${px(bx + (slot - 4) / 2)}" y="${TOP + plotHeight + 14}">${escapeXml(bucket.label)}</text>`)
  })
  parts.push(`<text class="axis-title" x="${LEFT + plotWidth}" y="${HEIGHT - 4}" text-anchor="end">latency (virtual ms), ${latencies.length} operations</text>`)
  return `<svg class="histogram" data-protocol="${escapeXml(protocol)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-label="${escapeXml(`${protocol} latency histogram`)}">${parts.join('')}</svg>`
}
