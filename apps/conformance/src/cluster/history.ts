// The history of a cluster run in a documented JSON format close to Jepsen's
// and Porcupine's (apps/conformance/README.md, "History format"), and its
// translation into the checkers' Operation list.
import type { Operation } from '@synod/conformance'

export type EventType = 'invoke' | 'ok' | 'fail' | 'info'
export type ClientF = 'read' | 'write' | 'cas'

/** One line of history. Client events pair up by `process`: an invoke, then its ok / fail / info. */
export interface HistoryEvent {
  readonly index: number
  /** ms since the run started (monotonic clock). */
  readonly time: number
  /** A client's number, or 'nemesis'. After an 'info' the client continues as a new process (Jepsen's rule). */
  readonly process: number | 'nemesis'
  readonly type: EventType
  /** Client: read / write / cas. Nemesis: kill, restart, pause, resume, partition, heal, kill-all, clock-skew, disk-stall. */
  readonly f: string
  readonly key?: string
  /** read: null on invoke, the value seen on ok (null = absent); write: the value; cas: [expected, new]. */
  readonly value?: string | null | readonly [string | null, string] | readonly string[]
  /** The node the request went to (client), or the targets (nemesis, in `value`). */
  readonly node?: string
  /** fail / info: why (`cas-mismatch` for a cas whose expected value did not match: it certainly did not apply). */
  readonly error?: string
  /** A `cas-mismatch`: the value the node reported instead (null = absent). */
  readonly current?: string | null
}

export class ClusterHistory {
  readonly events: HistoryEvent[] = []
  private readonly started = performance.now()
  /** Wall-clock time (ms since the epoch) of history time 0: lines up node logs' `time` with the history. */
  readonly originEpochMs = Math.round(performance.timeOrigin + this.started)

  now(): number {
    return Math.round((performance.now() - this.started) * 1000) / 1000
  }

  add(event: Omit<HistoryEvent, 'index' | 'time'> & { time?: number }): HistoryEvent {
    const full: HistoryEvent = { index: this.events.length, ...event, time: event.time ?? this.now() }
    this.events.push(full)
    return full
  }
}

/**
 * Client events as the checkers' operations: a cas that failed with
 * `cas-mismatch` is an 'ok' cas that did not apply (it observed the register),
 * other fails are left out by the checker, an invoke without a completion is
 * 'info' (open to the end).
 */
export function toOperations(events: readonly HistoryEvent[]): Operation[] {
  const open = new Map<number, { event: HistoryEvent; id: number }>()
  const operations: Operation[] = []
  for (const event of events) {
    if (event.process === 'nemesis') continue
    if (event.type === 'invoke') {
      open.set(event.process, { event, id: operations.length })
      const input =
        event.f === 'cas' && Array.isArray(event.value)
          ? { expected: (event.value as [string | null, string])[0], value: (event.value as [string | null, string])[1] }
          : event.f === 'write' && typeof event.value === 'string'
            ? { value: event.value }
            : {}
      operations.push({
        id: operations.length,
        client: event.process,
        key: event.key ?? '',
        kind: event.f as Operation['kind'],
        input,
        invokedAt: event.time,
        completedAt: undefined,
        outcome: 'info',
      })
      continue
    }
    const started = open.get(event.process)
    if (started === undefined) throw new Error(`history event ${event.index}: ${event.type} of process ${event.process} without an invoke`)
    open.delete(event.process)
    if (event.type === 'info') continue
    const op = operations[started.id]!
    const mismatch = event.type === 'fail' && event.error === 'cas-mismatch'
    operations[started.id] = {
      ...op,
      completedAt: event.time,
      outcome: mismatch ? 'ok' : event.type,
      ...(op.kind === 'read' && event.type === 'ok' ? { output: { value: (event.value as string | null | undefined) ?? null } } : {}),
      ...(op.kind === 'cas' && event.type === 'ok' ? { output: { applied: true } } : {}),
      ...(mismatch ? { output: { applied: false } } : {}),
    }
  }
  return operations
}

/**
 * Leave out the writes and cas operations of unknown outcome whose new value
 * nobody ever observed — no read returned it, no cas expected it, no cas
 * mismatch reported it. Sound: if the real execution linearizes with such an
 * operation applied, it linearizes without it too (between it and the next
 * write no completed operation saw its value). It keeps the search small:
 * every 503 or timeout during a fault is otherwise an operation that stays
 * open to the end of the history.
 */
export function pruneUnobservedUnknowns(operations: readonly Operation[], events: readonly HistoryEvent[]): Operation[] {
  const observed = new Set<string>()
  const note = (key: string, value: string | null | undefined) => {
    if (typeof value === 'string') observed.add(`${key}\u0000${value}`)
  }
  for (const op of operations) {
    if (op.kind === 'read' && op.outcome === 'ok') note(op.key, op.output?.value)
    if (op.kind === 'cas' && op.outcome !== 'fail') note(op.key, op.input.expected)
  }
  for (const event of events) if (event.error === 'cas-mismatch' && event.key !== undefined) note(event.key, event.current)
  return operations.filter((op) => op.outcome !== 'info' || op.kind === 'read' || observed.has(`${op.key}\u0000${op.input.value ?? ''}`))
}
