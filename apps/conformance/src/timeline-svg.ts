import type { RunRecord, TimelineEvent } from '@synod/conformance'
import { colour, escapeXml, px, ticks } from './svg.js'

/** A stretch of virtual time on one lane. */
export interface Span {
  readonly from: number
  readonly to: number
  readonly label: string
}

export interface NodeLanes {
  readonly node: string
  readonly leader: Span[]
  readonly down: Span[]
  readonly faults: Span[]
}

export interface TimelineModel {
  readonly endedAt: number
  readonly healedAt: number
  readonly network: Array<Span & { readonly kind: 'partition' | 'link-faults' }>
  readonly nodes: NodeLanes[]
  /** Membership change requests and their outcomes (timeline kind 'membership' without a node), drawn as marks on the network lane. */
  readonly membership: ReadonlyArray<{ readonly at: number; readonly label: string }>
  /** Per node, its highest committed index over time (steps). */
  readonly commitSteps: ReadonlyArray<{ readonly node: string; readonly points: ReadonlyArray<readonly [at: number, index: number]> }>
}

const LEADING_ROLES = /^(leader|primary)\b/

/** Turn a run's timeline, leader claims and commits into spans per lane. */
export function timelineModel(record: RunRecord): TimelineModel {
  let end = record.endedAt
  for (const e of record.timeline) end = Math.max(end, e.at)
  for (const c of record.commits) end = Math.max(end, c.at)
  const events = [...record.timeline].sort((a, b) => a.at - b.at)
  const nodes = record.nodes.map((node): NodeLanes => ({ node, leader: [], down: [], faults: [] }))
  const lanes = new Map(nodes.map((lane) => [lane.node, lane]))

  // Crashes until restarts; node faults (pause, skew) until that node's heal or the global heal.
  const downSince = new Map<string, number>()
  const faultSince = new Map<string, TimelineEvent>()
  for (const event of events) {
    const lane = event.node === undefined ? undefined : lanes.get(event.node)
    if (lane === undefined) continue
    if (event.kind === 'crash' && !downSince.has(lane.node)) downSince.set(lane.node, event.at)
    else if (event.kind === 'restart' && downSince.has(lane.node)) {
      lane.down.push({ from: downSince.get(lane.node)!, to: event.at, label: 'crashed' })
      downSince.delete(lane.node)
    } else if (event.kind === 'fault') {
      const open = faultSince.get(lane.node)
      if (open !== undefined) lane.faults.push({ from: open.at, to: event.at, label: open.detail })
      faultSince.set(lane.node, event)
    } else if (event.kind === 'heal' && faultSince.has(lane.node)) {
      const open = faultSince.get(lane.node)!
      lane.faults.push({ from: open.at, to: event.at, label: open.detail })
      faultSince.delete(lane.node)
    }
  }
  for (const [node, from] of downSince) lanes.get(node)!.down.push({ from, to: end, label: 'crashed' })
  for (const [node, open] of faultSince) lanes.get(node)!.faults.push({ from: open.at, to: Math.max(open.at, Math.min(record.healedAt, end)), label: open.detail })

  // Leadership, swept in time order: a node leads from its claim (or a leading role event, e.g. after
  // a restart in the same term) until it steps down, crashes, or another node claims a term.
  const leading = new Map<string, { from: number; term: number }>()
  const stopLeading = (node: string, at: number) => {
    const since = leading.get(node)
    if (since === undefined) return
    lanes.get(node)?.leader.push({ from: since.from, to: at, label: `leader of term ${since.term}` })
    leading.delete(node)
  }
  type LeadershipEvent = { at: number; node: string; change: 'claim' | 'lead' | 'stop'; term: number }
  const leadership: LeadershipEvent[] = [
    ...record.leaders.map((l): LeadershipEvent => ({ at: l.at, node: l.node, change: 'claim', term: l.term })),
    ...events.flatMap((e): LeadershipEvent[] => {
      if (e.node === undefined) return []
      if (e.kind === 'crash') return [{ at: e.at, node: e.node, change: 'stop', term: 0 }]
      if (e.kind !== 'role') return []
      const term = Number(/term (\d+)/.exec(e.detail)?.[1] ?? 0)
      return [{ at: e.at, node: e.node, change: LEADING_ROLES.test(e.detail) ? 'lead' : 'stop', term }]
    }),
  ].sort((a, b) => a.at - b.at)
  for (const change of leadership) {
    if (change.change === 'stop') stopLeading(change.node, change.at)
    else if (change.change === 'lead') {
      if (!leading.has(change.node)) leading.set(change.node, { from: change.at, term: change.term })
    } else {
      for (const other of [...leading.keys()]) if (other !== change.node) stopLeading(other, change.at)
      const current = leading.get(change.node)
      if (current === undefined || current.term !== change.term) {
        stopLeading(change.node, change.at)
        leading.set(change.node, { from: change.at, term: change.term })
      }
    }
  }
  for (const node of [...leading.keys()]) stopLeading(node, end)
  for (const lane of nodes) lane.leader.sort((a, b) => a.from - b.from)

  // The network lane: partitions until 'network healed', link faults until cleared; the final heal ends both.
  const network: TimelineModel['network'] = []
  const open = new Map<'partition' | 'link-faults', TimelineEvent>()
  const close = (kind: 'partition' | 'link-faults', at: number) => {
    const since = open.get(kind)
    if (since === undefined) return
    network.push({ kind, from: since.at, to: at, label: since.detail })
    open.delete(kind)
  }
  for (const event of events) {
    if (event.node !== undefined) continue
    if (event.kind === 'fault') {
      const kind = event.detail.startsWith('link faults') ? 'link-faults' : 'partition'
      close(kind, event.at)
      open.set(kind, event)
    } else if (event.kind === 'heal') {
      if (event.detail.startsWith('link faults')) close('link-faults', event.at)
      else if (event.detail.startsWith('network')) close('partition', event.at)
      else {
        close('partition', event.at)
        close('link-faults', event.at)
      }
    }
  }
  close('partition', end)
  close('link-faults', end)

  const commitSteps = record.nodes.map((node) => {
    const points: Array<readonly [number, number]> = [[0, 0]]
    let highest = 0
    for (const commit of record.commits) {
      if (commit.node !== node || commit.index <= highest) continue
      highest = commit.index
      // Several commits in the same virtual ms collapse into one point.
      if (points.at(-1)![0] === commit.at) points[points.length - 1] = [commit.at, highest]
      else points.push([commit.at, highest])
    }
    return { node, points }
  })
  const membership = events.filter((e) => e.kind === 'membership' && e.node === undefined).map((e) => ({ at: e.at, label: e.detail }))
  return { endedAt: end, healedAt: record.healedAt, network, nodes, membership, commitSteps }
}

const WIDTH = 960
const LEFT = 110
const RIGHT = 16
const LANE = 20
const LANE_GAP = 6
const TOP = 8
const COMMIT_HEIGHT = 110

/**
 * One run as a picture: a lane for the network and one per node (leader
 * spans, crashed spans, node faults), the heal line, and below them each
 * node's commit index over virtual time.
 */
export function renderTimelineSvg(record: RunRecord): string {
  const model = timelineModel(record)
  const correct = new Set(record.correctNodes)
  const plotWidth = WIDTH - LEFT - RIGHT
  const x = (t: number) => LEFT + (model.endedAt === 0 ? 0 : (t / model.endedAt) * plotWidth)
  const laneY = (i: number) => TOP + i * (LANE + LANE_GAP)
  const spanRect = (span: Span, y: number, cls: string) =>
    `<rect class="${cls}" x="${px(x(span.from))}" y="${px(y)}" width="${px(Math.max(1, x(span.to) - x(span.from)))}" height="${LANE}"><title>${escapeXml(`${span.label}: ${span.from}–${span.to} ms`)}</title></rect>`
  const parts: string[] = []

  const networkY = laneY(0)
  parts.push(`<g class="lane" data-lane="network"><text class="lane-label" x="${LEFT - 8}" y="${px(networkY + 14)}">network</text>`)
  parts.push(`<rect class="lane-bg" x="${LEFT}" y="${networkY}" width="${plotWidth}" height="${LANE}"/>`)
  for (const span of model.network) parts.push(spanRect(span, networkY, `fault-span ${span.kind}`))
  for (const mark of model.membership)
    parts.push(
      `<rect class="membership-mark" x="${px(x(mark.at))}" y="${px(networkY)}" width="2" height="${LANE}"><title>${escapeXml(`${mark.at.toFixed(1)} ms: ${mark.label}`)}</title></rect>`,
    )
  parts.push('</g>')

  model.nodes.forEach((lane, i) => {
    const y = laneY(i + 1)
    const byzantine = !correct.has(lane.node)
    parts.push(`<g class="lane" data-lane="node" data-node="${escapeXml(lane.node)}">`)
    parts.push(
      `<text class="lane-label${byzantine ? ' byzantine' : ''}" x="${LEFT - 8}" y="${px(y + 14)}" fill="${colour(i)}">${escapeXml(lane.node)}${byzantine ? ' ⚠' : ''}</text>`,
    )
    parts.push(`<rect class="lane-bg" x="${LEFT}" y="${y}" width="${plotWidth}" height="${LANE}"/>`)
    for (const span of lane.faults) parts.push(spanRect(span, y, 'fault-span node-fault'))
    for (const span of lane.leader) parts.push(spanRect(span, y, 'leader-span'))
    for (const span of lane.down) parts.push(spanRect(span, y, 'down-span'))
    parts.push('</g>')
  })

  const lanesBottom = laneY(model.nodes.length + 1) - LANE_GAP
  const commitTop = lanesBottom + 22
  const commitBottom = commitTop + COMMIT_HEIGHT
  const maxIndex = Math.max(1, ...model.commitSteps.flatMap((s) => s.points.map((p) => p[1])))
  const y = (index: number) => commitBottom - (index / maxIndex) * COMMIT_HEIGHT
  parts.push(`<text class="axis-title" x="${LEFT - 8}" y="${px(commitTop + 10)}">commit index</text>`)
  parts.push(`<rect class="plot-bg" x="${LEFT}" y="${commitTop}" width="${plotWidth}" height="${COMMIT_HEIGHT}"/>`)
  for (const tick of ticks(maxIndex, 4))
    parts.push(`<text class="tick" x="${LEFT - 4}" y="${px(y(tick) + 4)}">${tick}</text><line class="grid" x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${px(y(tick))}" y2="${px(y(tick))}"/>`)
  model.commitSteps.forEach((steps, i) => {
    let path = ''
    steps.points.forEach(([at, index], p) => {
      path += p === 0 ? `M${px(x(at))},${px(y(index))}` : `H${px(x(at))}V${px(y(index))}`
    })
    path += `H${px(x(model.endedAt))}`
    parts.push(
      `<path class="commit-line" data-node="${escapeXml(steps.node)}" d="${path}" stroke="${colour(i)}"><title>${escapeXml(`${steps.node}: commit index ${steps.points.at(-1)![1]}`)}</title></path>`,
    )
  })

  const axisY = commitBottom + 16
  for (const tick of ticks(model.endedAt))
    parts.push(`<text class="tick time" x="${px(x(tick))}" y="${axisY}">${tick}</text><line class="grid" x1="${px(x(tick))}" x2="${px(x(tick))}" y1="${TOP}" y2="${commitBottom}"/>`)
  parts.push(`<text class="axis-title" x="${LEFT + plotWidth}" y="${axisY + 16}" text-anchor="end">virtual time (ms)</text>`)
  parts.push(
    `<line class="heal-line" x1="${px(x(model.healedAt))}" x2="${px(x(model.healedAt))}" y1="${TOP - 4}" y2="${commitBottom}"><title>faults healed at ${model.healedAt} ms</title></line>`,
  )
  const height = axisY + 24
  return `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="run timeline">${parts.join('')}</svg>`
}
