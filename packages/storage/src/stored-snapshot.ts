import { SynodError } from '@synod/core'
import type { SnapshotWriter, StoredSnapshot } from '@synod/core'
import { checkIndex } from './log-rules.js'

const EMPTY = new Uint8Array(0)

/**
 * A stored snapshot held in memory as the parts it was written in (ADR 0027): `read` serves a range
 * out of them (a view when it lies in one part), and `data` joins them once, on first use, into the
 * one buffer it keeps from then on. A snapshot saved whole is one part and is never joined.
 */
export class InMemorySnapshot implements StoredSnapshot {
  private parts: Uint8Array[]
  /** `starts[i]` is the offset of part i in the data. */
  private starts: number[]

  constructor(
    readonly index: number,
    readonly term: number,
    readonly meta: Uint8Array,
    parts: Uint8Array[],
    readonly size: number,
  ) {
    this.parts = parts
    this.starts = offsetsOf(parts)
    ownDataProperty(this, () => this.joined())
  }

  declare readonly data: Uint8Array

  private joined(): Uint8Array {
    const parts = this.parts
    if (parts.length === 0) return EMPTY
    if (parts.length === 1) return parts[0]!
    const whole = new Uint8Array(this.size)
    for (let i = 0; i < parts.length; i++) whole.set(parts[i]!, this.starts[i]!)
    this.parts = [whole]
    this.starts = [0]
    return whole
  }

  read(offset: number, length: number): Uint8Array {
    const [from, to] = clampRange(offset, length, this.size)
    if (from === to) return EMPTY
    const parts = this.parts
    const starts = this.starts
    let i = partAt(starts, from)
    const start = starts[i]!
    if (to <= start + parts[i]!.byteLength) return parts[i]!.subarray(from - start, to - start)
    const out = new Uint8Array(to - from)
    for (let at = from; at < to; i++) {
      const part = parts[i]!
      const piece = part.subarray(at - starts[i]!, Math.min(part.byteLength, to - starts[i]!))
      out.set(piece, at - from)
      at += piece.byteLength
    }
    return out
  }
}

/**
 * `data` as an own enumerable accessor, not a prototype getter: `{ ...stored }` (a protocol copying
 * the snapshot it sends, as Paxos does) then gets the data, as it did from a plain Snapshot object.
 */
export function ownDataProperty(target: object, read: () => Uint8Array): void {
  Object.defineProperty(target, 'data', { get: read, enumerable: true, configurable: false })
}

function offsetsOf(parts: readonly Uint8Array[]): number[] {
  const starts: number[] = []
  let at = 0
  for (const part of parts) {
    starts.push(at)
    at += part.byteLength
  }
  return starts
}

/** The last part starting at or before `offset` (binary search; parts may be empty). */
function partAt(starts: readonly number[], offset: number): number {
  let lo = 0
  let hi = starts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (starts[mid]! <= offset) lo = mid
    else hi = mid - 1
  }
  return lo
}

/** [offset, offset + length) clamped to [0, size]; throws on negative or non-integer arguments. */
export function clampRange(offset: number, length: number, size: number): [number, number] {
  checkIndex('read(offset)', offset)
  checkIndex('read(length)', length)
  const from = Math.min(offset, size)
  return [from, Math.min(size, from + length)]
}

/**
 * The bookkeeping every SnapshotWriter here shares: at most one commit or abort, no write after
 * either, and the size promised at begin (when one was) kept.
 */
export abstract class SnapshotWriterBase implements SnapshotWriter {
  bytesWritten = 0
  protected state: 'open' | 'committed' | 'aborted' = 'open'

  constructor(
    readonly index: number,
    readonly term: number,
    protected readonly expectedSize: number | undefined,
  ) {}

  write(chunk: Uint8Array): void {
    this.checkWritable('write')
    if (!(chunk instanceof Uint8Array)) throw new TypeError('snapshot chunk must be a Uint8Array')
    if (this.expectedSize !== undefined && this.bytesWritten + chunk.byteLength > this.expectedSize) {
      throw new RangeError(`snapshot ${this.index}: ${this.bytesWritten + chunk.byteLength} bytes written, more than the ${this.expectedSize} announced`)
    }
    this.take(chunk)
    this.bytesWritten += chunk.byteLength
  }

  commit(): void {
    this.checkWritable('commit')
    if (this.expectedSize !== undefined && this.bytesWritten !== this.expectedSize) {
      throw new RangeError(`snapshot ${this.index}: ${this.bytesWritten} bytes written, ${this.expectedSize} announced`)
    }
    this.store()
    this.state = 'committed'
  }

  abort(): void {
    if (this.state !== 'open') return
    this.state = 'aborted'
    this.discard()
  }

  /** Keep or write out the chunk (already checked). */
  protected abstract take(chunk: Uint8Array): void
  /** Install the snapshot in the store (throws, leaving it as it was, when the rules refuse it). */
  protected abstract store(): void
  protected abstract discard(): void

  private checkWritable(what: string): void {
    if (this.state !== 'open') {
      throw new SynodError('SNAPSHOT_WRITER_CLOSED', `snapshot writer for index ${this.index}: ${what} after ${this.state === 'committed' ? 'commit' : 'abort'}; begin a new one`)
    }
  }
}
