// The watch history: the most recent key changes, in revision order, kept in the replicated state (and its
// snapshot) so every replica holds the same window and a watcher can resume on any of them. Bounded by a
// count of events and by bytes; what falls out is compacted, whole revisions at a time (a transaction's
// changes share one revision and are never split), and `compactRevision` says up to where.
import { expectArray, expectOneOf, expectString, expectUint, InvalidMessageError } from '@synod/core'
import { resolvePositiveIntegers, utf8ByteLength } from './limits.js'
import { valueOrNullFrom, type KvValue } from './result.js'

/** One change of one key, as etcd's mvccpb.Event: a put carries the new value and the key's revisions. */
export interface KvEvent {
  readonly revision: number
  readonly type: 'put' | 'delete'
  readonly key: string
  /** A put's new value (a delete has none). */
  readonly value?: KvValue
  /** A put's key revisions after the change (a delete: zeros, as etcd's tombstone). */
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
  /**
   * The key before the change (null: absent), so a read at a past revision can undo the changes after it
   * (past-reads.ts). Shares the previous value's bytes in memory; counted in `historyBytes` all the same.
   */
  readonly prev: KeyState | null
}

/** A key's value and revisions at some revision (what a past read returns for it). */
export interface KeyState {
  readonly value: KvValue
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
}

/** What a watcher gets: the events after `fromRevision`, or the news that they are gone. */
export type HistoryRead =
  | { readonly compacted: false; readonly events: readonly KvEvent[]; readonly revision: number }
  | { readonly compacted: true; readonly compactRevision: number }

export interface HistoryLimits {
  /** Events kept at most. Default 10,000. */
  readonly historyEvents: number
  /** Bytes of kept events at most (keys, values and 32 bytes each). Default 16 MiB. */
  readonly historyBytes: number
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = Object.freeze({ historyEvents: 10_000, historyBytes: 16 * 1024 * 1024 })

export function resolveHistoryLimits(limits: Partial<HistoryLimits>): HistoryLimits {
  return resolvePositiveIntegers(DEFAULT_HISTORY_LIMITS, limits)
}

function valueBytes(value: KvValue | undefined): number {
  if (value instanceof Uint8Array) return value.byteLength
  let bytes = 0
  if (value !== undefined) for (const element of value) bytes += element.byteLength
  return bytes
}

/** What an event counts against `historyBytes`: key, value, the previous value (what the snapshot holds) and 32 bytes. */
function eventBytes(event: KvEvent): number {
  return 32 + utf8ByteLength(event.key) + valueBytes(event.value) + valueBytes(event.prev?.value)
}

export class WatchHistory {
  private events: KvEvent[] = []
  /** Index of the first kept event in `events` (dropping from the front without shifting every time). */
  private head = 0
  private bytes = 0
  /** Every change at or below this revision is gone; every change above it is kept. */
  compactRevision = 0
  /**
   * Past reads start here at the earliest even when the history reaches further back: the store revision at
   * which a version 1–4 snapshot (events without their previous state) was loaded. 0 otherwise.
   */
  readFloor = 0

  constructor(readonly limits: HistoryLimits) {}

  get size(): number {
    return this.events.length - this.head
  }

  record(event: KvEvent): void {
    this.events.push(event)
    this.bytes += eventBytes(event)
  }

  /** Drop the oldest whole revisions until within the limits, but never the newest revision (a watcher must see it). */
  compact(): void {
    while (this.size > this.limits.historyEvents || this.bytes > this.limits.historyBytes) {
      const oldest = this.events[this.head]!.revision
      if (oldest === this.events[this.events.length - 1]!.revision) break
      while (this.head < this.events.length && this.events[this.head]!.revision === oldest) {
        this.bytes -= eventBytes(this.events[this.head]!)
        this.head++
      }
      this.compactRevision = oldest
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head)
      this.head = 0
    }
  }

  /**
   * Events with revision ≥ `fromRevision` whose key starts with `prefix`, at most `limit` of them but
   * never splitting a revision; `revision` is where to continue from (one past the last event given, or
   * `storeRevision` + 1 when all kept events were scanned). Compacted when `fromRevision` ≤ compactRevision.
   */
  since(fromRevision: number, prefix: string, storeRevision: number, limit = 1000): HistoryRead {
    if (fromRevision <= this.compactRevision) return { compacted: true, compactRevision: this.compactRevision }
    const out: KvEvent[] = []
    // Binary search for the first event at or after fromRevision.
    let lo = this.head
    let hi = this.events.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.events[mid]!.revision < fromRevision) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.events.length; i++) {
      const event = this.events[i]!
      if (out.length >= limit && event.revision !== out[out.length - 1]!.revision) return { compacted: false, events: out, revision: event.revision }
      if (event.key.startsWith(prefix)) out.push(event)
    }
    return { compacted: false, events: out, revision: Math.max(fromRevision, storeRevision + 1) }
  }

  /** The oldest revision a past read can be answered at: the state there is the current one with every later event undone. */
  get readableFrom(): number {
    return Math.max(this.compactRevision, this.readFloor)
  }

  /**
   * The keys changed after `revision` (≥ readableFrom), each with its state at `revision` (null: absent):
   * the previous state of its oldest event after `revision`. O(events after `revision`).
   */
  changedAfter(revision: number): Map<string, KeyState | null> {
    const out = new Map<string, KeyState | null>()
    // Newest first: an older event's previous state overwrites a newer one's.
    for (let i = this.events.length - 1; i >= this.head && this.events[i]!.revision > revision; i--) {
      const event = this.events[i]!
      out.set(event.key, event.prev)
    }
    return out
  }

  /** Snapshot form: `[[revision, type, key, value|null, createRevision, modRevision, version, prev]…]` in order (prev: null or `[value, createRevision, modRevision, version]`). */
  toSnapshot(): unknown[] {
    const out: unknown[] = []
    for (let i = this.head; i < this.events.length; i++) {
      const e = this.events[i]!
      const prev = e.prev === null ? null : [e.prev.value, e.prev.createRevision, e.prev.modRevision, e.prev.version]
      out.push([e.revision, e.type, e.key, e.value ?? null, e.createRevision, e.modRevision, e.version, prev])
    }
    return out
  }

  /** Take over `other`'s events (a restored snapshot's), keeping this history's limits. */
  adopt(other: WatchHistory): void {
    this.events = other.events.slice(other.head)
    this.head = 0
    this.bytes = other.bytes
    this.compactRevision = other.compactRevision
    this.readFloor = other.readFloor
  }

  /**
   * Load a snapshot's history; throws InvalidMessageError on any defect. `withPrev`: events carry their
   * previous state (snapshot version 5); without it (version 4) past reads start at `storeRevision`.
   */
  load(value: unknown, compactRevision: number, storeRevision: number, withPrev = true, readFloor = 0): void {
    const events: KvEvent[] = []
    const fields = withPrev ? 8 : 7
    for (const [i, item] of expectArray(value, 'history').entries()) {
      const e = expectArray(item, `history[${i}]`)
      if (e.length !== fields)
        throw new InvalidMessageError(`history[${i}] must be [revision, type, key, value, createRevision, modRevision, version${withPrev ? ', prev' : ''}]`)
      const revision = expectUint(e[0], `history[${i}] revision`)
      const previous = events[events.length - 1]?.revision ?? compactRevision
      if (revision < previous || revision <= compactRevision || revision > storeRevision)
        throw new InvalidMessageError(`history[${i}] revision ${revision} is out of order (after ${previous}, compacted at ${compactRevision}, store at ${storeRevision})`)
      const type = expectOneOf(e[1], ['put', 'delete'] as const, `history[${i}] type`)
      const key = expectString(e[2], `history[${i}] key`, Number.MAX_SAFE_INTEGER)
      const stored = valueOrNullFrom(e[3], `history[${i}] value`)
      if ((type === 'put') !== (stored !== null)) throw new InvalidMessageError(`history[${i}]: a put carries a value, a delete none`)
      events.push({
        revision,
        type,
        key,
        ...(stored === null ? {} : { value: stored }),
        createRevision: expectUint(e[4], `history[${i}] createRevision`),
        modRevision: expectUint(e[5], `history[${i}] modRevision`),
        version: expectUint(e[6], `history[${i}] version`),
        prev: withPrev ? prevFrom(e[7], `history[${i}] prev`) : null,
      })
    }
    if (readFloor > storeRevision) throw new InvalidMessageError(`readFloor ${readFloor} is beyond the store revision ${storeRevision}`)
    this.events = events
    this.head = 0
    this.bytes = events.reduce((sum, e) => sum + eventBytes(e), 0)
    this.compactRevision = compactRevision
    // Events of an older snapshot do not know what they replaced: past reads start where it was taken.
    this.readFloor = withPrev ? readFloor : storeRevision
  }
}

function prevFrom(value: unknown, what: string): KeyState | null {
  if (value === null) return null
  const p = expectArray(value, what)
  if (p.length !== 4) throw new InvalidMessageError(`${what} must be null or [value, createRevision, modRevision, version]`)
  const stored = valueOrNullFrom(p[0], `${what} value`)
  if (stored === null) throw new InvalidMessageError(`${what} value is null`)
  return { value: stored, createRevision: expectUint(p[1], `${what} createRevision`), modRevision: expectUint(p[2], `${what} modRevision`), version: expectUint(p[3], `${what} version`) }
}
