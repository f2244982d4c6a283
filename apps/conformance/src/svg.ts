/** Escape text for HTML and SVG content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** Distinct colours for nodes and protocols, readable on white. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22']

export function colour(index: number): string {
  return PALETTE[index % PALETTE.length]!
}

/** Round to 0.1 px: keeps the markup short without visible loss. */
export function px(value: number): string {
  return String(Math.round(value * 10) / 10)
}

/** About `count` round tick values covering [0, max]. */
export function ticks(max: number, count = 6): number[] {
  if (max <= 0) return [0]
  const raw = max / count
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude
  const values: number[] = []
  for (let v = 0; v <= max + 1e-9; v += step) values.push(Math.round(v * 1e6) / 1e6)
  return values
}
