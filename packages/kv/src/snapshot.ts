import {
  decodeCanonical,
  expectBoolean,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectOnlyKeys,
  expectRecord,
  expectString,
  expectUint,
  InvalidMessageError,
  StorageCorruptionError,
  type Fields,
} from '@synod/core'
import { plainBytes } from './bytes.js'
import { entryBytes } from './limits.js'
import { MAX_CLIENT_ID_LENGTH } from './command.js'
import { RolesTable } from './roles.js'
import { decodeResult, valueOrNullFrom, type KeyRevision, type KvValue } from './result.js'
import type { SessionRecord, SessionTableState } from './sessions.js'
import { DEFAULT_HISTORY_LIMITS, WatchHistory } from './history.js'
import { LeaseTable } from './leases.js'

/**
 * 5: history events carry the key's previous state (past reads), leases their expiry votes, and
 * `readFloor`. 4: the watch history (with its compaction revision) and leases. 3: revisions (per key and the store's). 2: session floors and the no-space alarm. Versions 1 and 2
 * still load (keys without revisions report 0; no floors and no alarm in 1).
 */
export const KV_SNAPSHOT_VERSION = 5

export interface KvSnapshotState extends SessionTableState {
  readonly values: ReadonlyMap<string, KvValue>
  readonly revisions: ReadonlyMap<string, KeyRevision>
  readonly revision: number
  readonly alarm: boolean
  readonly roles: RolesTable
  readonly history: WatchHistory
  readonly leases: LeaseTable
}

/**
 * Canonical bytes of the state: `{ version: 3, values: [[key, value, createRevision, modRevision, version]…] by key,
 * revision,
 * sessions: [[client, seq, lastIndex, result]…] by (lastIndex, client),
 * floors: [[principal, floor]…] by principal, signedFloor, alarm,
 * roles?: [[client, role, prefix]…] by client (absent when empty) }`.
 * Sorting makes equal states give equal bytes whatever the insertion order.
 */
export function encodeSnapshot(state: KvSnapshotState): Uint8Array {
  const values = [...state.values.entries()]
    .sort(([a], [b]) => compareKeys(a, b))
    .map(([key, value]) => {
      const r = state.revisions.get(key)
      return [key, value, r?.create ?? 0, r?.mod ?? 0, r?.version ?? 0]
    })
  return encodeCanonical({ values, ...snapshotFieldsBesideValues(state) })
}

/**
 * Every field of the snapshot record but `values` (bounded by the session, history and lease limits,
 * not by the number of keys): shared by the one-shot encoder and the one in slices (snapshot-job.ts).
 */
export function snapshotFieldsBesideValues(state: Omit<KvSnapshotState, 'values' | 'revisions'>): Record<string, unknown> {
  const sessions = [...state.sessions.entries()]
    .sort(([clientA, a], [clientB, b]) => a.lastIndex - b.lastIndex || compareKeys(clientA, clientB))
    .map(([client, s]) => [client, s.seq, s.lastIndex, s.result])
  const floors = [...state.floors.entries()].sort(([a], [b]) => compareKeys(a, b))
  // Roles only when there are any, so a state without roles keeps its snapshot bytes.
  const roles = state.roles.size === 0 ? {} : { roles: state.roles.toSnapshot() }
  return {
    version: KV_SNAPSHOT_VERSION,
    revision: state.revision,
    sessions,
    floors,
    signedFloor: state.signedFloor,
    alarm: state.alarm,
    ...roles,
    history: state.history.toSnapshot(),
    compactRevision: state.history.compactRevision,
    // Only after loading a version 4 snapshot (its events do not know what they replaced).
    ...(state.history.readFloor === 0 ? {} : { readFloor: state.history.readFloor }),
    leases: state.leases.toSnapshot(),
  }
}

/** Decode and fully validate a snapshot; any defect throws StorageCorruptionError naming it. */
export type DecodedSnapshot = KvSnapshotState & { readonly dataBytes: number; readonly values: Map<string, KvValue>; readonly revisions: Map<string, KeyRevision> }

/** The snapshot's history (validated here, so a corrupt one fails before anything is replaced). */
function historyFrom(value: unknown, compactRevision: number, revision: number, withPrev = true, readFloor = 0): WatchHistory {
  const history = new WatchHistory(DEFAULT_HISTORY_LIMITS)
  history.load(value, compactRevision, revision, withPrev, readFloor)
  return history
}

export function decodeSnapshot(bytes: Uint8Array): DecodedSnapshot {
  try {
    return snapshotFromValue(decodeCanonical(plainBytes(bytes), Number.MAX_SAFE_INTEGER))
  } catch (error) {
    if (error instanceof InvalidMessageError)
      throw new StorageCorruptionError(`kv snapshot is corrupt: ${error.reason}; restore from another replica's snapshot`)
    throw error
  }
}

function snapshotFromValue(value: unknown): DecodedSnapshot {
  const record = expectRecord(value, 'snapshot')
  const header = snapshotHeader(record)
  const builder = new SnapshotValues(header)
  for (const [i, item] of expectArray(record['values'], 'snapshot values').entries()) builder.add(item, i)
  return snapshotRest(record, header, builder)
}

export interface SnapshotHeader {
  readonly version: number
  readonly withRevisions: boolean
  readonly revision: number
}

/** The record's version, its allowed keys and the store revision (the entries' checks need it). */
export function snapshotHeader(record: Fields): SnapshotHeader {
  const version = record['version']
  if (version === 1) expectOnlyKeys(record, ['version', 'values', 'sessions'], 'snapshot')
  else if (version === 2) expectOnlyKeys(record, ['version', 'values', 'sessions', 'floors', 'signedFloor', 'alarm', 'roles'], 'snapshot')
  else if (version === 3) expectOnlyKeys(record, ['version', 'values', 'revision', 'sessions', 'floors', 'signedFloor', 'alarm', 'roles'], 'snapshot')
  else if (version === 4)
    expectOnlyKeys(
      record,
      ['version', 'values', 'revision', 'sessions', 'floors', 'signedFloor', 'alarm', 'roles', 'history', 'compactRevision', 'leases'],
      'snapshot',
    )
  else if (version === KV_SNAPSHOT_VERSION)
    expectOnlyKeys(
      record,
      ['version', 'values', 'revision', 'sessions', 'floors', 'signedFloor', 'alarm', 'roles', 'history', 'compactRevision', 'readFloor', 'leases'],
      'snapshot',
    )
  else throw new InvalidMessageError(`snapshot version ${String(version)} is not 1 to ${KV_SNAPSHOT_VERSION}`)
  const withRevisions = version === 3 || version === 4 || version === KV_SNAPSHOT_VERSION
  return { version, withRevisions, revision: withRevisions ? expectUint(record['revision'], 'revision') : 0 }
}

/** The `values` entries, checked and added one at a time (in order). */
export class SnapshotValues {
  readonly values = new Map<string, KvValue>()
  readonly revisions = new Map<string, KeyRevision>()
  /** The quota bytes of the entries so far (`entryBytes`). */
  dataBytes = 0
  private previousKey: string | undefined
  constructor(private readonly header: SnapshotHeader) {}

  add(item: unknown, i: number): void {
    const { withRevisions, revision } = this.header
    const entry = expectArray(item, `values[${i}]`)
    const fields = withRevisions ? 5 : 2
    if (entry.length !== fields)
      throw new InvalidMessageError(`values[${i}] must be [key, value${fields === 5 ? ', createRevision, modRevision, version' : ''}]`)
    const key = expectString(entry[0], `values[${i}] key`, Number.MAX_SAFE_INTEGER)
    if (this.previousKey !== undefined && compareKeys(this.previousKey, key) >= 0)
      throw new InvalidMessageError(`values[${i}]: keys must be strictly ascending`)
    const stored = valueOrNullFrom(entry[1], `values[${i}] value`)
    if (stored === null) throw new InvalidMessageError(`values[${i}] value is null`)
    this.values.set(key, stored)
    this.dataBytes += entryBytes(key, stored)
    if (fields === 5) {
      const create = expectUint(entry[2], `values[${i}] createRevision`)
      const mod = expectUint(entry[3], `values[${i}] modRevision`)
      const changes = expectUint(entry[4], `values[${i}] version`)
      if (mod < create || mod > revision)
        throw new InvalidMessageError(`values[${i}]: modRevision ${mod} must lie between createRevision ${create} and the store revision ${revision}`)
      if (mod > 0) this.revisions.set(key, { create, mod, version: changes })
    }
    this.previousKey = key
  }
}

/** Everything after the values: sessions, floors, roles, history and leases (which need the keys). */
export function snapshotRest(record: Fields, header: SnapshotHeader, built: SnapshotValues): DecodedSnapshot {
  const { version, revision } = header
  const { values, revisions, dataBytes } = built
  const sessions = new Map<string, SessionRecord>()
  let previous: { client: string; lastIndex: number } | undefined
  for (const [i, item] of expectArray(record['sessions'], 'snapshot sessions').entries()) {
    const entry = expectArray(item, `sessions[${i}]`)
    if (entry.length !== 4) throw new InvalidMessageError(`sessions[${i}] must be [client, seq, lastIndex, result]`)
    const client = expectString(entry[0], `sessions[${i}] client`, MAX_CLIENT_ID_LENGTH)
    const seq = expectUint(entry[1], `sessions[${i}] seq`)
    const lastIndex = expectUint(entry[2], `sessions[${i}] lastIndex`)
    const result = expectBytes(entry[3], `sessions[${i}] result`)
    decodeResult(result) // a cached answer must itself be a valid result
    if (previous !== undefined && (previous.lastIndex - lastIndex || compareKeys(previous.client, client)) >= 0)
      throw new InvalidMessageError(`sessions[${i}]: sessions must be ordered by (lastIndex, client) without duplicates`)
    sessions.set(client, { seq, lastIndex, result })
    previous = { client, lastIndex }
  }
  // Before version 4 there was no history: everything up to the store's revision counts as compacted.
  const noHistory = { history: historyFrom([], revision, revision), leases: new LeaseTable() }
  if (version === 1) return { values, revisions, dataBytes, revision, sessions, floors: new Map(), signedFloor: 0, alarm: false, roles: new RolesTable(), ...noHistory }

  const floors = new Map<string, number>()
  let previousPrincipal: string | undefined
  for (const [i, item] of expectArray(record['floors'], 'snapshot floors').entries()) {
    const entry = expectArray(item, `floors[${i}]`)
    if (entry.length !== 2) throw new InvalidMessageError(`floors[${i}] must be [principal, floor]`)
    const principal = expectString(entry[0], `floors[${i}] principal`, MAX_CLIENT_ID_LENGTH)
    if (previousPrincipal !== undefined && compareKeys(previousPrincipal, principal) >= 0)
      throw new InvalidMessageError(`floors[${i}]: principals must be strictly ascending`)
    floors.set(principal, expectUint(entry[1], `floors[${i}] floor`))
    previousPrincipal = principal
  }
  const roles = record['roles'] === undefined ? new RolesTable() : RolesTable.fromSnapshot(record['roles'])
  const current = version === KV_SNAPSHOT_VERSION
  let readFloor = 0
  if (current && record['readFloor'] !== undefined) {
    readFloor = expectUint(record['readFloor'], 'readFloor')
    if (readFloor === 0) throw new InvalidMessageError('readFloor 0 is written as no readFloor')
  }
  const later =
    version === 4 || current
      ? {
          history: historyFrom(record['history'], expectUint(record['compactRevision'], 'compactRevision'), revision, current, readFloor),
          leases: LeaseTable.fromSnapshot(record['leases'], (key) => values.has(key), current),
        }
      : noHistory
  return { values, revisions, dataBytes, revision, sessions, floors, signedFloor: expectUint(record['signedFloor'], 'signedFloor'), alarm: expectBoolean(record['alarm'], 'alarm'), roles, ...later }
}

/** The snapshot's key order (UTF-16 code units, as `<` compares strings). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
