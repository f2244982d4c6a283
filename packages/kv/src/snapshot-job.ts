// The KV snapshot taken a slice at a time (ADR 0025): the same bytes as `encodeSnapshot`, of the
// state as of `beginSnapshot()`, while commands keep being applied between slices.
//
// How the state stays frozen without a copy of the store: the job keeps references to the live maps
// and, for each key written after it began, the key's value and revisions from before the first such
// write (`remember`, called by the state machine before it changes a key). Values and revision
// records are never mutated in place (a write stores new ones), so a reference is a frozen copy.
// The keys present at the start are listed once at the start (references only, no strings copied).
import { cborHead, CborWriter, concatBytes, encodeCanonical, type SnapshotJob, type SnapshotSink } from '@synod/core'
import type { KeyRevision, KvValue } from './result.js'

export interface KvSnapshotJobOptions {
  /** Bytes of encoded entries per step (the encode phase), and of the result copied per step (the join). Default 256 KiB. */
  readonly sliceBytes?: number
  /** Keys sorted per step (the sort phase sorts runs of this many, then merges them). Default 16384. */
  readonly sortRunKeys?: number
  /**
   * Write the bytes here as they are encoded (ADR 0027) instead of joining them into one buffer:
   * `step()` then returns an empty array once done, and the snapshot never exists whole in memory.
   */
  readonly into?: SnapshotSink
}

interface Before {
  readonly value: KvValue | undefined
  readonly revision: KeyRevision | undefined
}

type Phase = 'sort' | 'encode' | 'join' | 'done' | 'aborted'

const DEFAULT_SLICE_BYTES = 256 * 1024
const DEFAULT_SORT_RUN_KEYS = 16_384

/** A key's state when the job began, for keys changed since. */
export class KvSnapshotJob implements SnapshotJob {
  private readonly before = new Map<string, Before>()
  private phase: Phase = 'sort'
  private readonly sliceBytes: number
  private readonly runKeys: number
  /** The keys present at the start, sorted run by run in place. */
  private readonly keys: string[]
  private sortedUpTo = 0
  /** Merge state: per run its cursor and end; a min-heap of run numbers by their current key. */
  private readonly cursors: number[] = []
  private readonly ends: number[] = []
  private heap: number[] = []
  private readonly prefix: Uint8Array
  private readonly suffix: Uint8Array
  private readonly parts: Uint8Array[] = []
  private result: Uint8Array | undefined
  private joined = 0
  private joinPart = 0
  private readonly into: SnapshotSink | undefined
  private prefixWritten = false

  /**
   * `fields`: every other field of the snapshot record, already in its final form (`snapshotFieldsBesideValues`
   * at the start). `onEnd` is called once when the job completes or is aborted.
   */
  constructor(
    private readonly values: ReadonlyMap<string, KvValue>,
    private readonly revisions: ReadonlyMap<string, KeyRevision>,
    fields: Record<string, unknown>,
    private readonly onEnd: (job: KvSnapshotJob) => void,
    options: KvSnapshotJobOptions = {},
  ) {
    this.sliceBytes = Math.max(1, options.sliceBytes ?? DEFAULT_SLICE_BYTES)
    this.runKeys = Math.max(1, options.sortRunKeys ?? DEFAULT_SORT_RUN_KEYS)
    this.into = options.into
    this.keys = Array.from(values.keys())
    // The record's map in canonical order (RFC 7049 §3.9, cborg's default: shorter keys first, then bytewise);
    // the tests check the result against the one-shot encoder byte for byte.
    const names = [...Object.keys(fields).filter((k) => k !== 'values'), 'values'].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0))
    const before: Uint8Array[] = [cborHead(5, names.length)]
    const after: Uint8Array[] = []
    let target = before
    for (const name of names) {
      if (name === 'values') {
        before.push(encodeCanonical(name), cborHead(4, this.keys.length))
        target = after
      } else target.push(encodeCanonical(name), encodeCanonical(fields[name]))
    }
    this.prefix = concatBytes(before)
    this.suffix = concatBytes(after)
  }

  /** Called by the state machine before it changes or deletes `key`: keep what the snapshot must show. */
  remember(key: string, value: KvValue | undefined, revision: KeyRevision | undefined): void {
    if (this.phase === 'done' || this.phase === 'aborted' || this.phase === 'join') return
    if (!this.before.has(key)) this.before.set(key, { value, revision })
  }

  get active(): boolean {
    return this.phase !== 'done' && this.phase !== 'aborted'
  }

  step(): Uint8Array | undefined {
    switch (this.phase) {
      case 'sort':
        this.sortStep()
        return undefined
      case 'encode':
        // A streamed job is done once the values are encoded (there is nothing to join).
        return this.encodeStep() ? this.result : undefined
      case 'join':
        return this.joinStep()
      case 'done':
        return this.result
      case 'aborted':
        return undefined
    }
  }

  /** Run every step at once (the one-shot `snapshot()` path uses it only in tests). */
  finish(): Uint8Array {
    for (;;) {
      const out = this.step()
      if (out !== undefined) return out
      if (this.phase === 'aborted') throw new Error('snapshot job aborted')
    }
  }

  abort(): void {
    if (!this.active) return
    this.phase = 'aborted'
    this.release()
  }

  // ---- phases

  private sortStep(): void {
    const keys = this.keys
    const end = Math.min(keys.length, this.sortedUpTo + this.runKeys)
    if (this.sortedUpTo < end) {
      // Default sort order for strings is by UTF-16 code units: the snapshot's key order (compareKeys).
      const run = keys.slice(this.sortedUpTo, end).sort()
      for (let i = 0; i < run.length; i++) keys[this.sortedUpTo + i] = run[i]!
      this.cursors.push(this.sortedUpTo)
      this.ends.push(end)
      this.sortedUpTo = end
    }
    if (this.sortedUpTo >= keys.length) {
      this.heap = this.cursors.map((_, run) => run).filter((run) => this.cursors[run]! < this.ends[run]!)
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.siftDown(i)
      this.phase = 'encode'
    }
  }

  /** True once a streamed job is done. */
  private encodeStep(): boolean {
    if (this.into !== undefined && !this.prefixWritten) {
      this.into.write(this.prefix)
      this.prefixWritten = true
    }
    const w = new CborWriter(this.sliceBytes + 1024)
    const keys = this.keys
    while (this.heap.length > 0 && w.view().byteLength < this.sliceBytes) {
      const run = this.heap[0]!
      const key = keys[this.cursors[run]!]!
      this.cursors[run]!++
      if (this.cursors[run]! >= this.ends[run]!) {
        const last = this.heap.pop()!
        if (this.heap.length > 0) this.heap[0] = last
      }
      if (this.heap.length > 0) this.siftDown(0)
      const frozen = this.before.get(key)
      const value = frozen === undefined ? this.values.get(key)! : frozen.value!
      const r = frozen === undefined ? this.revisions.get(key) : frozen.revision
      w.head(4, 5).text(key)
      if (value instanceof Uint8Array) w.bytes(value)
      else {
        w.head(4, value.length)
        for (const element of value) w.bytes(element)
      }
      w.head(0, r?.create ?? 0).head(0, r?.mod ?? 0).head(0, r?.version ?? 0)
    }
    if (w.view().byteLength > 0) {
      if (this.into !== undefined) this.into.write(w.finish())
      else this.parts.push(w.finish())
    }
    if (this.heap.length === 0 && this.into !== undefined) {
      // Streamed: nothing to join; the sink has every byte once the suffix follows.
      this.into.write(this.suffix)
      this.result = EMPTY
      this.phase = 'done'
      this.release()
      return true
    }
    if (this.heap.length === 0) {
      let total = this.prefix.byteLength + this.suffix.byteLength
      for (const part of this.parts) total += part.byteLength
      this.result = new Uint8Array(total)
      this.result.set(this.prefix, 0)
      this.joined = this.prefix.byteLength
      this.phase = 'join'
      // Nothing written from here on can reach the snapshot: drop the before-images and key list now.
      this.before.clear()
      this.keys.length = 0
    }
    return false
  }

  /** Copy the encoded parts into the one result buffer, about `sliceBytes` per step. */
  private joinStep(): Uint8Array | undefined {
    const out = this.result!
    let copied = 0
    while (this.joinPart < this.parts.length && copied < this.sliceBytes) {
      const part = this.parts[this.joinPart]!
      out.set(part, this.joined)
      this.joined += part.byteLength
      copied += part.byteLength
      this.parts[this.joinPart++] = EMPTY // each part is freed once copied
    }
    if (this.joinPart < this.parts.length) return undefined
    out.set(this.suffix, this.joined)
    this.phase = 'done'
    this.release()
    return out
  }

  private release(): void {
    this.before.clear()
    this.keys.length = 0
    this.parts.length = 0
    this.onEnd(this)
  }

  private siftDown(i: number): void {
    const heap = this.heap
    const keys = this.keys
    const n = heap.length
    const head = (run: number) => keys[this.cursors[run]!]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) return
      const r = l + 1
      let least = l
      if (r < n && head(heap[r]!) < head(heap[l]!)) least = r
      if (!(head(heap[least]!) < head(heap[i]!))) return
      const t = heap[i]!
      heap[i] = heap[least]!
      heap[least] = t
      i = least
    }
  }
}

const EMPTY = new Uint8Array(0)
