import { decodeCanonical, encodeCanonical, expectArray, expectString, expectUint, StorageCorruptionError, type NodeId, type Storage } from '@synod/core'
import { loadLegacyRecords, loadRunRecords, RUN_RECORD_BYTES, writeRunRecord } from './accepted-records.js'
import { ACCEPT_RING } from './options.js'

export const PROMISED_KEY = 'paxos.promised'

export interface AcceptedValue {
  readonly ballot: number
  readonly value: Uint8Array
  /** The run record that durably holds this slot's newest written acceptance; -1 for none (pending) or a legacy record. */
  key: number
}

/**
 * Test-only switches: make an acceptor forget to persist; or free a run record's key as soon as its
 * slots are re-accepted in memory, before the newer record is written (the durability tests show what
 * breaks).
 */
export const acceptorTesting = { skipPersist: false, ignoreRoundOwner: false, reuseKeysEarly: false }

/** Accepted slots of one ballot, consecutive, not yet written: one run record at the batch's flush. */
interface PendingRun {
  readonly first: number
  readonly ballot: number
  readonly values: Uint8Array[]
  bytes: number
}

/**
 * The acceptor's durable state (Paxos Made Simple §2.3: "an acceptor must
 * remember this information even if it fails and then restarts"): the
 * promised ballot and the node it was promised to (each ballot is promised
 * to one node only: ADR 0014), and for every slot above the chosen log the
 * newest value accepted.
 *
 * Accepted values are written as *run records* (ADR 0024): one storage
 * record per run of consecutive slots accepted in one ballot during a batch,
 * written by `flush()`, which the node calls at the end of the batch, before
 * the Replica's sync and so before any Promise or Accepted of that batch
 * leaves. A record key is reused only once none of its slots is still needed:
 * each slot is chosen (in the log, appended earlier) or re-accepted in a
 * record written earlier (a crash keeps a prefix of the writes, so the
 * newer record outlives the overwrite).
 */
export class AcceptorStore {
  promised = 0
  /** The node `promised` belongs to ('' when unknown: a store written before ADR 0014). */
  owner: NodeId = ''
  readonly accepted = new Map<number, AcceptedValue>()
  /** Per run key, the slots whose newest written acceptance it holds (and that are above the chosen index). */
  private readonly live: Int32Array
  /**
   * Run keys holding nothing needed; the last freed is reused first, so the keys ever written stay
   * about as many as the records needed at once (a few per batch in flight), not all of them: every
   * written key stays in the hard state (a durable store's checkpoints copy it) until reused.
   */
  private free: number[] = []
  private nextSeq = 1
  private pending: PendingRun[] = []

  /**
   * `ring`: how many slots above its chosen index the acceptor accepts (ACCEPT_RING; tests use a small
   * one to reuse keys within a few batches). It uses `ring + 1` run keys.
   */
  constructor(
    private readonly storage: Storage,
    private readonly ring = ACCEPT_RING,
  ) {
    this.live = new Int32Array(ring + 1)
  }

  /** Read back what a previous incarnation persisted; slots at or below `chosen` are in the log already. */
  load(chosen: number): void {
    const raw = this.storage.getHardState(PROMISED_KEY)
    if (raw !== undefined) {
      try {
        const decoded = decodeCanonical(raw)
        if (typeof decoded === 'number') this.promised = expectUint(decoded, 'promised')
        else {
          const f = expectArray(decoded, 'promised', 2)
          this.promised = expectUint(f[0], 'promised')
          this.owner = expectString(f[1], 'owner', 1024)
        }
      } catch (error) {
        throw new StorageCorruptionError(`paxos: unreadable promised ballot (${(error as Error).message})`)
      }
    }
    // Format 1 (one record per slot, before ADR 0024) is read as older than every run record: its keys
    // are never written again, and each such slot is superseded by a run record or chosen in time.
    for (const [slot, a] of loadLegacyRecords(this.storage)) if (slot > chosen) this.accepted.set(slot, { ...a, key: -1 })
    const runs = loadRunRecords(this.storage, this.ring + 1)
    this.nextSeq = runs.maxSeq + 1
    for (const [slot, a] of runs.slots) {
      if (slot <= chosen) continue
      this.accepted.set(slot, { ballot: a.ballot, value: a.value, key: a.key })
      this.live[a.key]!++
    }
    this.free = []
    for (let k = this.live.length - 1; k >= 0; k--) if (this.live[k] === 0) this.free.push(k)
  }

  /** Whether a Prepare of `ballot` from `from` may be promised: a higher ballot, or the same one from its owner. */
  canPromise(ballot: number, from: NodeId): boolean {
    return ballot > this.promised || (ballot === this.promised && (this.owner === from || acceptorTesting.ignoreRoundOwner))
  }

  /** Promise `ballot` to `owner` (a no-op for a lower ballot). An Accept of the promised ballot from another node moves the owner: ADR 0014. */
  promise(ballot: number, owner: NodeId): void {
    if (ballot < this.promised || (ballot === this.promised && owner === this.owner)) return
    this.promised = ballot
    this.owner = owner
    if (!acceptorTesting.skipPersist) this.storage.setHardState(PROMISED_KEY, encodeCanonical([ballot, owner]))
  }

  /** Accept `value` at `slot` in `ballot`: visible at once, written with the batch's run record in flush(). */
  accept(slot: number, ballot: number, value: Uint8Array): void {
    const previous = this.accepted.get(slot)
    let key = previous === undefined ? -1 : previous.key
    if (acceptorTesting.reuseKeysEarly && key >= 0) {
      this.release(key)
      key = -1
    }
    // Until the new record is written, the slot stays pinned to the record holding its older acceptance.
    this.accepted.set(slot, { ballot, value, key })
    const run = this.pending.at(-1)
    if (run !== undefined && run.ballot === ballot && run.first + run.values.length === slot && run.bytes + value.byteLength <= RUN_RECORD_BYTES) {
      run.values.push(value)
      run.bytes += value.byteLength
    } else this.pending.push({ first: slot, ballot, values: [value], bytes: value.byteLength })
  }

  /** `slot` is chosen and in the log (appended before this call): its acceptance is no longer needed. */
  forget(slot: number): void {
    const a = this.accepted.get(slot)
    if (a === undefined) return
    this.accepted.delete(slot)
    if (a.key >= 0) this.release(a.key)
  }

  /** Slots up to `chosen` are in the log now (a snapshot): their records' keys may be reused. */
  forgetUpTo(chosen: number): void {
    for (const slot of [...this.accepted.keys()]) if (slot <= chosen) this.forget(slot)
  }

  /**
   * Write the batch's accepted runs, one record each, in acceptance order. Called at the end of every
   * batch, after the batch's log appends and before its sync (so before any reply of the batch leaves).
   */
  flush(): void {
    if (this.pending.length === 0) return
    const runs = this.pending
    this.pending = []
    for (const run of runs) this.write(run)
  }

  private write(run: PendingRun): void {
    // Slots chosen meanwhile (learned in the same batch) need no record: they are in the log.
    let skip = 0
    while (skip < run.values.length && !this.accepted.has(run.first + skip)) skip++
    if (skip === run.values.length || acceptorTesting.skipPersist) return
    const first = run.first + skip
    const values = skip === 0 ? run.values : run.values.slice(skip)
    const key = this.free.pop()
    // At most `ring` slots are above the chosen index, each pinning one key: one of ring + 1 is free.
    if (key === undefined) throw new Error('paxos: no free acceptor record (more than ACCEPT_RING slots accepted above the chosen index)')
    writeRunRecord(this.storage, key, this.nextSeq++, first, run.ballot, values)
    for (let i = 0; i < values.length; i++) {
      const a = this.accepted.get(first + i)
      if (a === undefined) continue
      if (a.key >= 0) this.release(a.key)
      a.key = key
      this.live[key]!++
    }
    if (this.live[key] === 0) this.free.push(key)
  }

  private release(key: number): void {
    if (--this.live[key]! === 0) this.free.push(key)
  }

  /** How many run records hold a needed slot (tests: the bound on acceptor state). */
  liveRecords(): number {
    let n = 0
    for (let k = 0; k < this.live.length; k++) if (this.live[k]! > 0) n++
    return n
  }
}
