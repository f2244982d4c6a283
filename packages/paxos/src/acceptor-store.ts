import { decodeCanonical, encodeCanonical, expectArray, expectBytes, expectString, expectUint, StorageCorruptionError, type NodeId, type Storage } from '@synod/core'
import { encodeRingRecord } from './hot-codec.js'
import { ACCEPT_RING } from './options.js'

export const PROMISED_KEY = 'paxos.promised'
/** The ring's storage keys, built once (one per accepted slot otherwise). */
const RING_KEYS = Array.from({ length: ACCEPT_RING }, (_, k) => `paxos.accepted.${k}`)
const acceptedKey = (slot: number) => RING_KEYS[slot % ACCEPT_RING]!

export interface AcceptedValue {
  readonly ballot: number
  readonly value: Uint8Array
}

/** Test-only switch: make an acceptor forget to persist (the durability tests show what breaks). */
export const acceptorTesting = { skipPersist: false, ignoreRoundOwner: false }

/**
 * The acceptor's durable state (Paxos Made Simple §2.3: "an acceptor must
 * remember this information even if it fails and then restarts"): the
 * promised ballot and the node it was promised to (each ballot is promised
 * to one node only: ADR 0014), and for every slot above the chosen log the
 * highest-ballot value accepted. Both are written to storage here and become durable with
 * the batch's sync, before any Promise or Accepted of that batch leaves.
 */
export class AcceptorStore {
  promised = 0
  /** The node `promised` belongs to ('' when unknown: a store written before ADR 0014). */
  owner: NodeId = ''
  readonly accepted = new Map<number, AcceptedValue>()

  constructor(private readonly storage: Storage) {}

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
    for (let k = 0; k < ACCEPT_RING; k++) {
      const bytes = this.storage.getHardState(`paxos.accepted.${k}`)
      if (bytes === undefined) continue
      let slot: number, ballot: number, value: Uint8Array
      try {
        const items = expectArray(decodeCanonical(bytes), 'accepted', 3)
        slot = expectUint(items[0], 'slot')
        ballot = expectUint(items[1], 'ballot')
        value = expectBytes(items[2], 'value')
      } catch (error) {
        throw new StorageCorruptionError(`paxos: unreadable accepted value (${(error as Error).message})`)
      }
      if (slot > chosen) this.accepted.set(slot, { ballot, value })
    }
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

  accept(slot: number, ballot: number, value: Uint8Array): void {
    this.accepted.set(slot, { ballot, value })
    if (!acceptorTesting.skipPersist) this.storage.setHardState(acceptedKey(slot), encodeRingRecord(slot, ballot, value))
  }

  /** Slots up to `chosen` are in the log now: their ring keys may be reused (they are ignored on load). */
  forgetUpTo(chosen: number): void {
    for (const slot of this.accepted.keys()) if (slot <= chosen) this.accepted.delete(slot)
  }
}
