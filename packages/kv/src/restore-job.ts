// The KV snapshot decoded a slice at a time (ADR 0025): the same checks as `decodeSnapshot`, the
// new state built on the side and handed over only once all of it is valid.
//
// Steps: (1) walk the CBOR heads to find where each entry of the `values` array starts and where
// the array ends, `sliceEntries` entries per step; (2) decode the record with the array's bytes
// replaced by an empty array with the strict decoder, which still checks the map (canonical order,
// no duplicates) and every other field; (3) decode each entry's bytes with the strict decoder and
// check it as `decodeSnapshot` does, `sliceEntries` per step; (4) the rest (sessions, history,
// leases…), then `onDone` with the decoded state. The walk only finds boundaries: every byte is
// still decoded by the strict decoder, so nothing it refuses is accepted.
import { decodeCanonical, expectRecord, InvalidMessageError, StorageCorruptionError } from '@synod/core'
import { plainBytes } from './bytes.js'
import { decodeSnapshot, KV_SNAPSHOT_VERSION, snapshotHeader, snapshotRest, SnapshotValues, type DecodedSnapshot, type SnapshotHeader } from './snapshot.js'

export interface KvRestoreJobOptions {
  /** Entries walked, then decoded, per step. Default 1024. */
  readonly sliceEntries?: number
}

type Phase = 'top' | 'walk' | 'record' | 'values' | 'done' | 'failed'

/** A snapshot being decoded; `step()` returns true once it is complete and handed to `onDone`. */
export class KvRestoreJob {
  private phase: Phase = 'top'
  private readonly bytes: Uint8Array
  private readonly sliceEntries: number
  private offset = 0
  /** Map pairs left to read at the top level after the current one. */
  private pairsLeft = 0
  private valuesHead = -1
  private valuesEnd = -1
  private count = 0
  private walked = 0
  private starts: Float64Array = new Float64Array(0)
  private record: Record<string, unknown> | undefined
  private header: SnapshotHeader | undefined
  private built: SnapshotValues | undefined
  private decoded = 0

  constructor(
    data: Uint8Array,
    private readonly onDone: (state: DecodedSnapshot) => void,
    options: KvRestoreJobOptions = {},
  ) {
    this.bytes = plainBytes(data)
    this.sliceEntries = Math.max(1, options.sliceEntries ?? 1024)
  }

  /** One bounded piece of work; true once done. A corrupt snapshot throws StorageCorruptionError (and the job stays failed). */
  step(): boolean {
    if (this.phase === 'done') return true
    if (this.phase === 'failed') throw new StorageCorruptionError('kv snapshot is corrupt (an earlier step failed)')
    try {
      return this.advance()
    } catch (error) {
      this.phase = 'failed'
      if (error instanceof InvalidMessageError)
        throw new StorageCorruptionError(`kv snapshot is corrupt: ${error.reason}; restore from another replica's snapshot`)
      throw error
    }
  }

  abort(): void {
    if (this.phase !== 'done') this.phase = 'failed'
    this.starts = new Float64Array(0)
    this.built = undefined
  }

  private advance(): boolean {
    switch (this.phase) {
      case 'top':
        this.top()
        return false
      case 'walk':
        this.walk()
        return false
      case 'record':
        this.decodeRecord()
        return false
      case 'values':
        return this.decodeValues()
      default:
        return true
    }
  }

  /** The map head, then pairs up to the `values` array's head (or the end: an unusual record is decoded in one go). */
  private top(): void {
    const bytes = this.bytes
    if (bytes.byteLength === 0) throw new InvalidMessageError('empty message')
    const map = readHead(bytes, 0)
    if (map.major !== 5) return this.oneShot()
    this.offset = map.next
    this.pairsLeft = map.value
    while (this.pairsLeft > 0) {
      this.pairsLeft--
      const key = readHead(bytes, this.offset)
      if (key.major !== 3) return this.oneShot()
      const name = key.next + key.value <= bytes.byteLength ? latin1(bytes, key.next, key.value) : ''
      this.offset = key.next + key.value
      if (name === 'values') {
        const array = readHead(bytes, this.offset)
        if (array.major !== 4) return this.oneShot()
        // Every entry takes at least a byte: a larger count is a lie (and must not size an allocation).
        if (array.value > bytes.byteLength - array.next) throw new InvalidMessageError('truncated snapshot')
        this.valuesHead = this.offset
        this.count = array.value
        this.offset = array.next
        this.starts = new Float64Array(this.count + 1)
        this.phase = 'walk'
        return
      }
      this.offset = skipItem(bytes, this.offset)
    }
    this.oneShot() // no values array
  }

  /** Find where the next `sliceEntries` entries start; then the end of the record. */
  private walk(): void {
    const bytes = this.bytes
    const end = Math.min(this.count, this.walked + this.sliceEntries)
    for (; this.walked < end; this.walked++) {
      this.starts[this.walked] = this.offset
      this.offset = skipItem(bytes, this.offset)
    }
    if (this.walked < this.count) return
    this.starts[this.count] = this.offset
    this.valuesEnd = this.offset
    this.phase = 'record'
  }

  private decodeRecord(): void {
    const bytes = this.bytes
    // The record with an empty `values` array in place of the real one: strictly decoded and checked.
    const head = this.valuesHead
    const rest = bytes.byteLength - this.valuesEnd
    const record = new Uint8Array(head + 1 + rest)
    record.set(bytes.subarray(0, head), 0)
    record[head] = 0x80
    record.set(bytes.subarray(this.valuesEnd), head + 1)
    const value = expectRecord(decodeCanonical(record, Number.MAX_SAFE_INTEGER), 'snapshot')
    const header = snapshotHeader(value)
    // Old versions are rare and small: decode them the one-shot way (same checks).
    if (header.version !== KV_SNAPSHOT_VERSION) return this.oneShot()
    this.record = value
    this.header = header
    this.built = new SnapshotValues(header)
    this.phase = 'values'
  }

  private decodeValues(): boolean {
    const built = this.built!
    const end = Math.min(this.count, this.decoded + this.sliceEntries)
    for (; this.decoded < end; this.decoded++) {
      const item = decodeCanonical(this.bytes.subarray(this.starts[this.decoded]!, this.starts[this.decoded + 1]!), Number.MAX_SAFE_INTEGER)
      built.add(item, this.decoded)
    }
    if (this.decoded < this.count) return false
    const state = snapshotRest(this.record!, this.header!, built)
    this.finish(state)
    return true
  }

  private oneShot(): void {
    this.finish(decodeSnapshot(this.bytes))
  }

  private finish(state: DecodedSnapshot): void {
    this.phase = 'done'
    this.starts = new Float64Array(0)
    this.built = undefined
    this.onDone(state)
  }
}

interface Head {
  readonly major: number
  readonly value: number
  /** Offset after the head. */
  readonly next: number
}

/** A CBOR head in its shortest form (what the strict decoder accepts); no indefinite lengths. */
function readHead(bytes: Uint8Array, at: number): Head {
  if (at >= bytes.byteLength) throw new InvalidMessageError('truncated snapshot')
  const first = bytes[at]!
  const major = first >> 5
  const info = first & 0x1f
  if (info < 24) return { major, value: info, next: at + 1 }
  const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
  if (size === 0) throw new InvalidMessageError(`unsupported CBOR head 0x${first.toString(16)} in the snapshot`)
  if (at + 1 + size > bytes.byteLength) throw new InvalidMessageError('truncated snapshot')
  let value = 0
  for (let i = 1; i <= size; i++) value = value * 256 + bytes[at + i]!
  // The strict decoder refuses a longer head than needed (floats, major 7, are not lengths).
  if (major !== 7 && value < (size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x10000 : 0x100000000))
    throw new InvalidMessageError('non-canonical CBOR head in the snapshot')
  return { major, value, next: at + 1 + size }
}

/** Offset after the item at `at` (nested items included). */
function skipItem(bytes: Uint8Array, at: number): number {
  let offset = at
  let pending = 1
  while (pending > 0) {
    pending--
    const head = readHead(bytes, offset)
    offset = head.next
    switch (head.major) {
      case 0:
      case 1:
      case 7: // integers and simple values/floats: the head is the whole item
        break
      case 2:
      case 3:
        offset += head.value
        if (offset > bytes.byteLength) throw new InvalidMessageError('truncated snapshot')
        break
      case 4:
        pending += head.value
        break
      case 5:
        pending += 2 * head.value
        break
      case 6:
        pending += 1 // a tag and its item
        break
    }
  }
  return offset
}

function latin1(bytes: Uint8Array, at: number, length: number): string {
  let out = ''
  for (let i = 0; i < length && i < 32; i++) out += String.fromCharCode(bytes[at + i]!)
  return length > 32 ? `${out}…` : out
}
