import { formatMs, shortDigest } from './checkers/result.js'
import type { CheckResult, CommitRecord, Operation, RunRecord, Violation } from './types.js'

export interface TraceOptions {
  /** Trace up to the first violation of this checker; default the first checker with a violation. */
  readonly checker?: string
  /** Most lines in the window before the violation; default 40. */
  readonly maxLines?: number
  /** Most earlier faults (and commits or operations the violation names) listed above the window; default 12. */
  readonly maxEarlierFaults?: number
}

/** Where a violation happened: its checker, its message and the virtual time it shows up. */
export interface LocatedViolation {
  readonly violation: Violation
  readonly at: number
}

const isCommit = (value: unknown): value is CommitRecord =>
  typeof value === 'object' && value !== null && typeof (value as CommitRecord).at === 'number' && typeof (value as CommitRecord).index === 'number'

const isOperation = (value: unknown): value is Operation =>
  typeof value === 'object' && value !== null && typeof (value as Operation).invokedAt === 'number' && typeof (value as Operation).kind === 'string'

/**
 * The virtual time a violation becomes visible, from what its checker put in
 * `detail`: the later of two conflicting commits or leader claims, the
 * operation a linearizability search got stuck on, the acknowledgement of a
 * lost write, the invocation of an operation that never completed; the end of
 * the run when the detail names no time.
 */
export function violationTime(violation: Violation, record: RunRecord): number {
  const detail = violation.detail as Record<string, unknown> | undefined
  if (detail !== undefined && typeof detail === 'object') {
    for (const key of ['conflicting', 'changed', 'next', 'second', 'replacement']) {
      const value = detail[key]
      if (isCommit(value) || (typeof value === 'object' && value !== null && typeof (value as { at?: unknown }).at === 'number'))
        return (value as { at: number }).at
    }
    const stuck = detail['stuck']
    if (isOperation(stuck)) return stuck.completedAt ?? stuck.invokedAt
    const operation = detail['operation']
    if (isOperation(operation)) return operation.completedAt ?? operation.invokedAt
    if (typeof operation === 'number') {
      const op = record.history.find((o) => o.id === operation)
      if (op !== undefined) return op.completedAt ?? op.invokedAt
    }
  }
  return record.endedAt
}

/** The earliest violation of `checker` (default: the first checker that has one). */
export function firstViolation(checks: readonly CheckResult[], record: RunRecord, checker?: string): LocatedViolation | undefined {
  const check = checks.find((c) => c.verdict === 'violation' && (checker === undefined || c.checker === checker))
  if (check === undefined) return undefined
  let first: LocatedViolation | undefined
  for (const violation of check.violations) {
    const at = violationTime(violation, record)
    if (first === undefined || at < first.at) first = { violation, at }
  }
  return first
}

interface TraceEvent {
  readonly at: number
  /** Order among events at the same time: timeline first, then operations, then commits. */
  readonly rank: number
  readonly kind: 'timeline' | 'op' | 'commit'
  readonly text: string
  readonly commit?: CommitRecord
  readonly pinned?: boolean
}

const time = (ms: number) => `t=${formatMs(ms)}`.padEnd(9)

function describeOperation(op: Operation): string {
  const input =
    op.kind === 'read' ? '' : op.kind === 'write' ? ` := ${op.input.value}` : ` ${op.input.expected ?? 'absent'} → ${op.input.value}`
  const output =
    op.outcome !== 'ok'
      ? op.outcome
      : op.kind === 'read'
        ? `ok ${op.output?.value ?? 'absent'}`
        : op.kind === 'cas'
          ? op.output?.applied === true
            ? 'ok applied'
            : 'ok not applied'
          : 'ok'
  const done = op.completedAt === undefined ? '' : ` at ${formatMs(op.completedAt)}`
  return `c${op.client} ${op.kind} ${op.key}${input} → ${output}${done} (op ${op.id})`
}

/** Indexes and operation ids a violation's detail points at: shown in full in the trace. */
function focusOf(violation: Violation): { indexes: Set<number>; key: string | undefined; operations: Set<number> } {
  const indexes = new Set<number>()
  const operations = new Set<number>()
  let key: string | undefined
  const detail = violation.detail as Record<string, unknown> | undefined
  if (detail !== undefined && typeof detail === 'object') {
    if (typeof detail['index'] === 'number') indexes.add(detail['index'])
    for (const value of Object.values(detail)) if (isCommit(value)) indexes.add(value.index)
    if (typeof detail['key'] === 'string') key = detail['key']
    if (typeof detail['operation'] === 'number') operations.add(detail['operation'])
    if (isOperation(detail['operation'])) operations.add(detail['operation'].id)
    if (isOperation(detail['stuck'])) operations.add(detail['stuck'].id)
  }
  return { indexes, key, operations }
}

/**
 * A short trace of a failing run: the faults before the window (and the
 * commits at the indexes the violation names, its operations), then the
 * last `maxLines` events up to the first violation (faults, crashes,
 * restarts, heals, role and leader changes, client operations — only the
 * violating key's for linearizability — and commits, consecutive indexes of
 * one node folded into one line, the indexes the violation names in full
 * with their digests), then the violation itself. Empty when the run has no
 * violation.
 */
export function formatTrace(record: RunRecord, checks: readonly CheckResult[], options: TraceOptions = {}): string[] {
  const located = firstViolation(checks, record, options.checker)
  if (located === undefined) return []
  const maxLines = options.maxLines ?? 40
  const maxEarlier = options.maxEarlierFaults ?? 12
  const focus = focusOf(located.violation)
  const correct = new Set(record.correctNodes)

  const events: TraceEvent[] = []
  for (const e of record.timeline) {
    const pinned = e.kind === 'fault' || e.kind === 'heal' || e.kind === 'crash' || e.kind === 'restart' || (e.kind === 'membership' && e.node === undefined)
    events.push({ at: e.at, rank: 0, kind: 'timeline', text: `${(e.node ?? '*').padEnd(6)} ${e.kind.padEnd(7)} ${e.detail}`, pinned })
  }
  for (const op of record.history) {
    if (focus.key !== undefined && op.key !== focus.key && !focus.operations.has(op.id)) continue
    events.push({
      at: op.invokedAt,
      rank: 1,
      kind: 'op',
      text: `${'client'.padEnd(6)} ${'op'.padEnd(7)} ${describeOperation(op)}`,
      pinned: focus.operations.has(op.id),
    })
  }
  for (const commit of record.commits)
    events.push({ at: commit.at, rank: 2, kind: 'commit', text: '', commit })
  const order = new Map(events.map((e, i) => [e, i]))
  events.sort((a, b) => a.at - b.at || a.rank - b.rank || order.get(a)! - order.get(b)!)

  // Fold runs of consecutive commits by one node incarnation until another kind of event intervenes.
  // Pinned lines (faults, repairs, and what the violation names) are listed above the window when they fall before it.
  type Line = { at: number; text: string; pinned: boolean }
  const lines: Line[] = []
  const open = new Map<string, { line: Line; node: string; incarnation: number; from: number; to: number; lastAt: number }>()
  const commitText = (node: string, incarnation: number, from: number, to: number, lastAt: number, firstAt: number) =>
    `${node.padEnd(6)} ${'commit'.padEnd(7)} ${node}#${incarnation}${correct.has(node) ? '' : ' (byzantine)'} committed ${from === to ? `index ${from}` : `indexes ${from}..${to}`}${lastAt === firstAt ? '' : ` (to t=${formatMs(lastAt)})`}`
  const horizon = located.at
  for (const event of events) {
    if (event.at > horizon) break
    if (event.kind !== 'commit') {
      open.clear()
      lines.push({ at: event.at, text: event.text, pinned: event.pinned === true })
      continue
    }
    const c = event.commit!
    if (focus.indexes.has(c.index)) {
      open.delete(`${c.node}#${c.incarnation}`)
      lines.push({
        at: c.at,
        text: `${c.node.padEnd(6)} ${'commit'.padEnd(7)} ${c.node}#${c.incarnation}${correct.has(c.node) ? '' : ' (byzantine)'} committed index ${c.index} = ${shortDigest(c.digest)}`,
        pinned: true,
      })
      continue
    }
    const slot = `${c.node}#${c.incarnation}`
    const run = open.get(slot)
    if (run !== undefined && c.index === run.to + 1) {
      run.to = c.index
      run.lastAt = c.at
      run.line.text = commitText(run.node, run.incarnation, run.from, run.to, run.lastAt, run.line.at)
      continue
    }
    const line: Line = { at: c.at, text: commitText(c.node, c.incarnation, c.index, c.index, c.at, c.at), pinned: false }
    lines.push(line)
    open.set(slot, { line, node: c.node, incarnation: c.incarnation, from: c.index, to: c.index, lastAt: c.at })
  }

  const window = lines.slice(-maxLines)
  const earlier = lines.slice(0, lines.length - window.length).filter((l) => l.pinned)
  const out: string[] = []
  if (earlier.length > 0) {
    out.push(`earlier faults, repairs and what the violation names (${earlier.length}${earlier.length > maxEarlier ? `, the last ${maxEarlier}` : ''}):`)
    for (const line of earlier.slice(-maxEarlier)) out.push(`  ${time(line.at)} ${line.text}`)
    out.push(`last ${window.length} events up to the first ${located.violation.checker} violation:`)
  }
  for (const line of window) out.push(`${time(line.at)} ${line.text}`)
  out.push(`${time(located.at)} ✗ [${located.violation.checker}] ${located.violation.message}`)
  return out
}
