// The acceptor's accepted values on storage (ADR 0024). Format 2: one record per run of consecutive
// slots accepted in one ballot, canonical CBOR [2, seq, first, ballot, [value, ...]] under one of
// RUN_KEYS keys `paxos.run.<k>`; `seq` grows with every record written, so for each slot the record
// with the highest seq holds its newest acceptance. Format 1 (before ADR 0024): one record per slot,
// [slot, ballot, value] under `paxos.accepted.<slot mod 1024>`; still read, never written.
import { decodeCanonical, expectArray, expectBytes, expectUint, StorageCorruptionError, type Storage } from '@synod/core'
import { hotWriter } from './hot-codec.js'
import { ACCEPT_RING } from './options.js'

export const RUN_FORMAT = 2
/** One more than the slots an acceptor may hold above its chosen index: a free key always exists (each needed key holds a needed slot). */
export const RUN_KEYS = ACCEPT_RING + 1
/** A run is split into records of at most this many value bytes (one larger value goes alone). */
export const RUN_RECORD_BYTES = 1 << 20

const RUN_KEY_NAMES = Array.from({ length: RUN_KEYS }, (_, k) => `paxos.run.${k}`)
export const runKey = (k: number): string => RUN_KEY_NAMES[k]!
export const legacyKey = (k: number): string => `paxos.accepted.${k}`

/** encodeCanonical([RUN_FORMAT, seq, first, ballot, values]), by hand: one copy of the values. */
export function encodeRunRecord(seq: number, first: number, ballot: number, values: readonly Uint8Array[]): Uint8Array {
  const w = hotWriter().head(4, 5).head(0, RUN_FORMAT).head(0, seq).head(0, first).head(0, ballot).head(4, values.length)
  for (const value of values) w.bytes(value)
  return w.copy()
}

export function writeRunRecord(storage: Storage, key: number, seq: number, first: number, ballot: number, values: readonly Uint8Array[]): void {
  storage.setHardState(runKey(key), encodeRunRecord(seq, first, ballot, values))
}

export interface StoredAcceptance {
  readonly ballot: number
  readonly value: Uint8Array
  readonly key: number
  readonly seq: number
}

/** Every slot's newest acceptance among the run records, and the highest seq written. */
export function loadRunRecords(storage: Storage, keys = RUN_KEYS): { slots: Map<number, StoredAcceptance>; maxSeq: number } {
  const slots = new Map<number, StoredAcceptance>()
  let maxSeq = 0
  for (let key = 0; key < keys; key++) {
    const bytes = storage.getHardState(runKey(key))
    if (bytes === undefined) continue
    let seq: number, first: number, ballot: number, values: Uint8Array[]
    try {
      const f = expectArray(decodeCanonical(bytes), 'run record', 5)
      const format = expectUint(f[0], 'format')
      if (format !== RUN_FORMAT) throw new Error(`unknown format ${format}`)
      seq = expectUint(f[1], 'seq')
      first = expectUint(f[2], 'first')
      ballot = expectUint(f[3], 'ballot')
      const list = expectArray(f[4], 'values')
      if (first < 1 || list.length === 0 || first + list.length - 1 > Number.MAX_SAFE_INTEGER) throw new Error('bad run')
      values = list.map((v) => expectBytes(v, 'value'))
    } catch (error) {
      throw new StorageCorruptionError(`paxos: unreadable accepted run ${runKey(key)} (${(error as Error).message})`)
    }
    if (seq > maxSeq) maxSeq = seq
    for (let i = 0; i < values.length; i++) {
      const current = slots.get(first + i)
      if (current !== undefined && current.seq === seq) throw new StorageCorruptionError(`paxos: two accepted runs with seq ${seq}`)
      if (current === undefined || seq > current.seq) slots.set(first + i, { ballot, value: values[i]!, key, seq })
    }
  }
  return { slots, maxSeq }
}

/** Format 1's per-slot records: slot → (ballot, value). */
export function loadLegacyRecords(storage: Storage): Map<number, { ballot: number; value: Uint8Array }> {
  const out = new Map<number, { ballot: number; value: Uint8Array }>()
  for (let k = 0; k < ACCEPT_RING; k++) {
    const bytes = storage.getHardState(legacyKey(k))
    if (bytes === undefined) continue
    try {
      const items = expectArray(decodeCanonical(bytes), 'accepted', 3)
      const slot = expectUint(items[0], 'slot')
      out.set(slot, { ballot: expectUint(items[1], 'ballot'), value: expectBytes(items[2], 'value') })
    } catch (error) {
      throw new StorageCorruptionError(`paxos: unreadable accepted value (${(error as Error).message})`)
    }
  }
  return out
}
