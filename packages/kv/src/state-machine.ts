import { bytesEqual, ConfigError, InvalidMessageError, type SnapshotJob, type StateMachine } from '@synod/core'
import { KV_READ_OPS, type KvCommand, type KvSession, type ListMode } from './command.js'
import { RolesTable } from './roles.js'
import { entryBytes, resolveLimits, utf8ByteLength, type KvLimits } from './limits.js'
import { decodeRequest, type DecodeRequestOptions, type KvRequest } from './request.js'
import { encodeResult, type KeyRevision, type KvError, type KvErrorCode, type KvResult, type KvValue } from './result.js'
import { SessionTable, type SessionRecord } from './sessions.js'
import { compareHolds, type TxnKeyView } from './txn.js'
import { decodeSnapshot, encodeSnapshot, snapshotFieldsBesideValues, type DecodedSnapshot } from './snapshot.js'
import { KvRestoreJob, type KvRestoreJobOptions } from './restore-job.js'
import { KvSnapshotJob, type KvSnapshotJobOptions } from './snapshot-job.js'
import { resolveHistoryLimits, WatchHistory, type HistoryLimits, type HistoryRead, type KeyState } from './history.js'
import { DEFAULT_MAX_LEASES, LeaseTable, MAX_LEASE_TTL_SECONDS } from './leases.js'

export type { SessionRecord } from './sessions.js'

export interface KvStateMachineOptions extends Partial<KvLimits>, Partial<HistoryLimits> {
  /** Leases kept at most; a grant beyond is refused with `too-many-leases`. Default 10,000. */
  readonly maxLeases?: number
  /** Client sessions kept in all. Default 10,000. */
  readonly maxSessions?: number
  /**
   * Client ids (hex ed25519 public keys) holding the admin role from the
   * start, like etcd's root. Must be identical on every replica (it comes
   * from the cluster's configuration); later grants go through the log.
   */
  readonly initialAdmins?: readonly string[]
  /** Sessions kept per signed client id (its own oldest is evicted beyond it). Default 256. */
  readonly maxSessionsPerClient?: number
  /**
   * The data quota in bytes: the sum over keys of the key's UTF-8 length and
   * its value's bytes (a list: its elements'). A write that would go over it
   * is refused with `no-space` and raises the alarm. Default 2 GiB.
   */
  readonly quotaBytes?: number
  /**
   * Plain commands may carry a signed client's session (`<client id>:<session>`,
   * seq = timestamp), vouched for by the member that proposed them: the daemon
   * under a crash-fault protocol, for clients it authenticated by an HTTP
   * session MAC or a TLS certificate. They share the client's exactly-once
   * session and per-client fairness with its signed envelopes. Default false
   * (refused as `invalid-command`); must be the same on every replica.
   */
  readonly vouchedSessions?: boolean
  /**
   * Byzantine protocols with client signatures: the members (client ids: hex of their ed25519 node keys)
   * whose own signed `lease-expire` counts as a vote; a lease expires once `leaseExpiryQuorum` distinct
   * members voted for its current renewal, so no single faulty member can end it early
   * (docs/adr/0022-lease-expiry-under-bft-and-past-reads.md). Must be the same on every replica. Default none.
   */
  readonly leaseExpiryVoters?: readonly string[]
  /** Votes that expire a lease: default f + 1 of the voters, f = ⌊(n − 1) / 3⌋. */
  readonly leaseExpiryQuorum?: number
}

export const DEFAULT_MAX_SESSIONS = 10_000
export const DEFAULT_MAX_SESSIONS_PER_CLIENT = 256
export const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3

/**
 * The replicated key-value store. Deterministic: the same commands in the
 * same order give the same results and the same snapshot bytes everywhere.
 *
 * `apply` never throws: an undecodable or invalid command gets an error
 * result (identical on every replica). Commands with a session run at most
 * once: a retry with the session's latest `seq` returns the cached answer; an
 * older `seq` is answered `stale-sequence`; a `seq` of a session no longer kept
 * (below its principal's floor) is answered `session-expired`, since
 * that answer is gone and re-running the command could apply it twice.
 */
export class KvStateMachine implements StateMachine {
  readonly limits: KvLimits
  readonly maxSessions: number
  readonly maxSessionsPerClient: number
  readonly quotaBytes: number
  private values = new Map<string, KvValue>()
  /** Per key: the revisions that created and last changed it, and how many changes since its creation. */
  private revisions = new Map<string, KeyRevision>()
  /** The store's revision: the log index of the last command that changed a key (etcd's header revision). */
  private revision = 0
  private sessions: SessionTable
  private bytes = 0
  private alarmRaised = false
  private readonly decodeOptions: DecodeRequestOptions
  /** Recent changes for watchers (history.ts): replicated, in the snapshot, bounded by `historyEvents`/`historyBytes`. */
  private history: WatchHistory
  private leases = new LeaseTable()
  /** The snapshot being taken in slices, told of each key before it changes. */
  private snapshotJob: KvSnapshotJob | undefined
  readonly maxLeases: number
  /** Members whose signed `lease-expire` is a vote (byzantine protocols); empty otherwise. */
  private readonly expiryVoters: ReadonlySet<string>
  /** Distinct voters' votes that expire a lease. */
  readonly leaseExpiryQuorum: number
  /**
   * Called after each applied command that changed a key and after a restore (not replicated state: the
   * daemon's watchers listen here). Must not throw or call back into the state machine's writes.
   */
  onChange: ((revision: number) => void) | undefined
  /** Who may do what (roles.ts); part of the replicated state and of the snapshot. */
  roles: RolesTable

  constructor(options: KvStateMachineOptions = {}) {
    const { maxSessions, maxSessionsPerClient, quotaBytes, initialAdmins, vouchedSessions, historyEvents, historyBytes, maxLeases, leaseExpiryVoters, leaseExpiryQuorum, ...limits } =
      options
    this.expiryVoters = new Set(leaseExpiryVoters ?? [])
    for (const voter of this.expiryVoters) if (!/^[0-9a-f]{64}$/.test(voter)) throw new ConfigError(`must be 64 lowercase hex characters, got '${voter}'`, 'leaseExpiryVoters')
    this.leaseExpiryQuorum = positive(leaseExpiryQuorum, Math.floor((Math.max(this.expiryVoters.size, 1) - 1) / 3) + 1, 'leaseExpiryQuorum')
    // More votes than voters would mean no lease ever expires.
    if (this.expiryVoters.size > 0 && this.leaseExpiryQuorum > this.expiryVoters.size)
      throw new ConfigError(`${this.leaseExpiryQuorum} votes cannot come from ${this.expiryVoters.size} voters`, 'leaseExpiryQuorum')
    this.history = new WatchHistory(
      resolveHistoryLimits({ ...(historyEvents === undefined ? {} : { historyEvents }), ...(historyBytes === undefined ? {} : { historyBytes }) }),
    )
    this.maxLeases = positive(maxLeases, DEFAULT_MAX_LEASES, 'maxLeases')
    this.decodeOptions = { vouchedSessions: vouchedSessions === true }
    this.roles = new RolesTable(initialAdmins)
    this.limits = resolveLimits(limits)
    this.maxSessions = positive(maxSessions, DEFAULT_MAX_SESSIONS, 'maxSessions')
    this.maxSessionsPerClient = positive(maxSessionsPerClient, DEFAULT_MAX_SESSIONS_PER_CLIENT, 'maxSessionsPerClient')
    this.quotaBytes = positive(quotaBytes, DEFAULT_QUOTA_BYTES, 'quotaBytes')
    this.sessions = new SessionTable({ maxSessions: this.maxSessions, maxSessionsPerClient: this.maxSessionsPerClient })
  }

  apply(command: Uint8Array, index: number): Uint8Array {
    let request: KvRequest
    try {
      request = decodeRequest(command, this.decodeOptions)
    } catch (error) {
      return invalidCommand(error)
    }
    const decoded = request.command
    // A member's own signed expiry request is a vote, not an admin's order (it needs no role).
    const vote = decoded.op === 'lease-expire' && request.client !== undefined && this.expiryVoters.has(request.client)
    // A command applied in a signed client's name runs only if the client's role allows it (same answer on every replica).
    const run = () =>
      encodeResult(
        vote
          ? this.expiryVote(decoded as Extract<KvCommand, { op: 'lease-expire' }>, request.client!, index)
          : ((request.client === undefined ? undefined : this.roles.check(request.client, decoded)) ?? this.execute(decoded, index)),
      )
    const before = this.revision
    const session = request.session
    const result = session === undefined ? run() : this.once(session, index, run)
    if (this.revision !== before) {
      this.history.compact()
      this.onChange?.(this.revision)
    }
    return result
  }

  /** Answer `get` or `list` from the current state; never mutates, ignores sessions (also of an envelope). */
  query(request: Uint8Array): Uint8Array {
    let decoded: KvCommand
    try {
      decoded = decodeRequest(request, this.decodeOptions).command
    } catch (error) {
      return invalidCommand(error)
    }
    if (!KV_READ_OPS.includes(decoded.op))
      return encodeResult(error('invalid-command', `query answers only get and list, not ${decoded.op}; propose writes instead`))
    return encodeResult(this.execute(decoded, undefined))
  }

  snapshot(): Uint8Array {
    return encodeSnapshot({
      values: this.values,
      revisions: this.revisions,
      revision: this.revision,
      ...this.sessions.state(),
      alarm: this.alarmRaised,
      roles: this.roles,
      history: this.history,
      leases: this.leases,
    })
  }

  /**
   * The snapshot in slices (ADR 0025): the bytes `snapshot()` returns now, produced by `step()` calls
   * while commands keep being applied. Beginning another aborts this one.
   */
  beginSnapshot(options?: KvSnapshotJobOptions): SnapshotJob {
    this.snapshotJob?.abort()
    const job = new KvSnapshotJob(
      this.values,
      this.revisions,
      snapshotFieldsBesideValues({ revision: this.revision, ...this.sessions.state(), alarm: this.alarmRaised, roles: this.roles, history: this.history, leases: this.leases }),
      (ended) => {
        if (this.snapshotJob === ended) this.snapshotJob = undefined
      },
      options,
    )
    this.snapshotJob = job
    return job
  }

  /**
   * `restore` in slices (ADR 0025): `step()` decodes and checks a bounded piece and returns true once the
   * state is replaced (in that last step, all at once). Until then the state is the old one; a corrupt
   * snapshot throws StorageCorruptionError from a step and leaves it so. Not driven by the Replica yet.
   */
  beginRestore(snapshot: Uint8Array, options?: KvRestoreJobOptions): KvRestoreJob {
    return new KvRestoreJob(snapshot, (state) => this.adopt(state), options)
  }

  /** Replace the whole state. A corrupt snapshot throws StorageCorruptionError and leaves the state as it was. */
  restore(snapshot: Uint8Array): void {
    this.adopt(decodeSnapshot(snapshot))
  }

  private adopt(state: DecodedSnapshot): void {
    // A job still running keeps the replaced maps, which nothing writes to any more: it stays the state it began with.
    this.snapshotJob = undefined
    this.values = state.values
    this.revisions = state.revisions
    this.revision = state.revision
    this.sessions.load(state)
    this.alarmRaised = state.alarm
    this.bytes = state.dataBytes // summed as the entries were decoded
    this.roles = state.roles
    this.leases = state.leases
    this.history.adopt(state.history)
    this.onChange?.(this.revision)
  }

  /**
   * The changes of keys starting with `prefix` from revision `fromRevision` on (at most about `limit`,
   * whole revisions), or `compacted` when some of them are no longer kept. Not replicated: a local read.
   */
  changesSince(fromRevision: number, prefix: string, limit = 1000): HistoryRead {
    return this.history.since(fromRevision, prefix, this.revision, limit)
  }

  /** Every change at or below this revision has left the watch history. */
  get compactRevision(): number {
    return this.history.compactRevision
  }

  /** The oldest revision a past read (`list` with `revision`) can read at; below it: `compacted`. */
  get readableFrom(): number {
    return this.history.readableFrom
  }

  /** Events in the watch history. */
  get historySize(): number {
    return this.history.size
  }

  /** Every lease as `[id, ttl seconds, renewed]` (renewed: log index of its grant or last keep-alive). */
  leaseList(): Array<readonly [number, number, number]> {
    return this.leases.list()
  }

  /** The members that voted to expire lease `id` since its last renewal (sorted). */
  leaseVotes(id: number): string[] {
    return [...(this.leases.get(id)?.votes ?? [])].sort()
  }

  /** The lease `key` is attached to, if any. */
  leaseOf(key: string): number | undefined {
    return this.leases.leaseOf(key)
  }

  get leaseCount(): number {
    return this.leases.size
  }

  /** The store's revision: the log index of the last command that changed a key (0: none yet). */
  get currentRevision(): number {
    return this.revision
  }

  /** Number of keys stored. */
  get size(): number {
    return this.values.size
  }

  /** The data size the quota is measured against (keys' UTF-8 bytes plus values' bytes). */
  get dataBytes(): number {
    return this.bytes
  }

  /** True while the no-space alarm is raised: writes other than delete are refused. */
  get alarm(): boolean {
    return this.alarmRaised
  }

  /** Number of client sessions kept. */
  get sessionCount(): number {
    return this.sessions.size
  }

  /** The session of `client` (a plain client string or `${clientId}:${session}`), if kept. */
  session(client: string): SessionRecord | undefined {
    return this.sessions.get(client)
  }

  /** The lowest seq a command of an unknown session `client` may have: one above the highest evicted seq of its principal. */
  sessionFloor(client: string): number {
    return this.sessions.floorFor(client)
  }

  /** Exactly once: run `run` for a new seq, answer a retry from the cache, refuse what may have run before. */
  private once(session: KvSession, index: number, run: () => Uint8Array): Uint8Array {
    const check = this.sessions.check(session.client, session.seq)
    switch (check.kind) {
      case 'retry':
        this.sessions.remember(session.client, { ...check.record, lastIndex: index })
        return check.record.result
      case 'stale':
        return encodeResult(
          error('stale-sequence', `session '${session.client}' is at seq ${check.latest}; seq ${session.seq} was answered before and is not kept`),
        )
      case 'expired':
        return encodeResult(
          error(
            'session-expired',
            `session '${session.client}' is not kept and seq ${session.seq} is below its floor ${check.floor}: it may have been applied already, so it is not applied again; a new request needs seq ≥ ${check.floor}`,
          ),
        )
      case 'new': {
        const result = run()
        this.sessions.remember(session.client, { seq: session.seq, result, lastIndex: index })
        return result
      }
    }
  }

  /** Set `key` to `value` within the quota at revision `index`, or refuse with no-space (raising the alarm). */
  private store(key: string, value: KvValue, index: number, quotaChecked = false): KvResult | undefined {
    if (this.alarmRaised && !quotaChecked) return error('no-space', 'the no-space alarm is raised: delete data, then disarm the alarm (synod alarm disarm)')
    const current = this.values.get(key)
    const after = this.bytes - (current === undefined ? 0 : entryBytes(key, current)) + entryBytes(key, value)
    if (after > this.quotaBytes && !quotaChecked) {
      this.alarmRaised = true
      return error('no-space', `the data would be ${after} bytes, over the quota of ${this.quotaBytes}; the no-space alarm is raised`)
    }
    this.snapshotJob?.remember(key, current, this.revisions.get(key))
    this.values.set(key, value)
    this.bytes = after
    // A key kept from a snapshot taken before revisions existed: its creation is unknown (0).
    const known = this.revisions.get(key) ?? (current === undefined ? undefined : { create: 0, mod: 0, version: 0 })
    const revisions = known === undefined ? { create: index, mod: index, version: 1 } : { create: known.create, mod: index, version: known.version + 1 }
    this.revisions.set(key, revisions)
    this.revision = Math.max(this.revision, index)
    const prev = current === undefined ? null : { value: current, createRevision: known!.create, modRevision: known!.mod, version: known!.version }
    this.history.record({ revision: index, type: 'put', key, value, createRevision: revisions.create, modRevision: revisions.mod, version: revisions.version, prev })
    return undefined
  }

  /** A present key's revisions, as results carry them. */
  private revisionsOf(key: string): { createRevision: number; modRevision: number; version: number } {
    const r = this.revisions.get(key) ?? { create: 0, mod: 0, version: 0 }
    return { createRevision: r.create, modRevision: r.mod, version: r.version }
  }

  private disarm(): KvResult {
    if (!this.alarmRaised) return { ok: true, op: 'disarm', disarmed: false }
    if (this.bytes > this.quotaBytes)
      return error('no-space', `the data is ${this.bytes} bytes, still over the quota of ${this.quotaBytes}; delete data first`)
    this.alarmRaised = false
    return { ok: true, op: 'disarm', disarmed: true }
  }

  /** Run one command; `index` is its log index (its revision if it changes a key), undefined for a query. */
  private execute(command: KvCommand, index: number | undefined): KvResult {
    // A write always has its entry's index; the fallback only keeps the types honest (query refuses writes).
    const at = index ?? this.revision
    switch (command.op) {
      case 'get':
        return this.checkKey(command.key, 'key') ?? this.read(command.key)
      case 'list':
        return this.list(command.prefix, command.after, command.limit, command.mode ?? 'keys', command.start, command.end, command.revision)
      case 'put': {
        const invalid = this.checkKey(command.key, 'key') ?? this.checkValue(command.value, 'value')
        if (invalid !== undefined) return invalid
        if (command.lease !== undefined && this.leases.get(command.lease) === undefined)
          return error('lease-not-found', `lease ${command.lease} does not exist (never granted, revoked or expired)`)
        const refused = this.store(command.key, command.value, at)
        if (refused !== undefined) return refused
        // As etcd: a put without a lease detaches the key from its lease.
        this.leases.attach(command.key, command.lease)
        return { ok: true, op: 'put', revision: this.revision }
      }
      case 'lease-grant':
        if (command.ttl < 1 || command.ttl > MAX_LEASE_TTL_SECONDS) return error('invalid-command', `ttl must be between 1 and ${MAX_LEASE_TTL_SECONDS} seconds`)
        if (this.leases.size >= this.maxLeases) return error('too-many-leases', `${this.leases.size} leases exist, the limit is ${this.maxLeases}; revoke some`)
        this.leases.grant(at, command.ttl)
        return { ok: true, op: 'lease-grant', id: at, ttl: command.ttl }
      case 'lease-keepalive': {
        const lease = this.leases.get(command.id)
        if (lease === undefined) return error('lease-not-found', `lease ${command.id} does not exist (never granted, revoked or expired)`)
        lease.renewed = at
        // Votes were for the previous renewal: the members' clocks start again from this one.
        lease.votes.clear()
        return { ok: true, op: 'lease-keepalive', id: command.id, ttl: lease.ttl }
      }
      case 'lease-revoke':
        if (this.leases.get(command.id) === undefined) return error('lease-not-found', `lease ${command.id} does not exist (never granted, revoked or expired)`)
        return { ok: true, op: 'lease-revoke', ...this.endLease(command.id, at) }
      case 'lease-expire': {
        const lease = this.leases.get(command.id)
        // Renewed after the leader decided (a keep-alive ordered before this entry), or gone already: nothing expires.
        if (lease === undefined || lease.renewed !== command.renewed) return { ok: true, op: 'lease-expire', id: command.id, expired: false, deleted: 0, revision: this.revision }
        return { ok: true, op: 'lease-expire', ...this.endLease(command.id, at) }
      }
      case 'delete':
        return this.checkKey(command.key, 'key') ?? this.remove(command.key, at)
      case 'txn':
        return this.transaction(command, at)
      case 'cas': {
        const invalid =
          this.checkKey(command.key, 'key') ??
          this.checkValue(command.value, 'value') ??
          (command.expected === null ? undefined : this.checkValue(command.expected, 'expected'))
        if (invalid !== undefined) return invalid
        const current = this.values.get(command.key)
        if (current !== undefined && !(current instanceof Uint8Array))
          return error('wrong-type', `key '${command.key}' holds a list; cas compares byte values only`)
        const matches = command.expected === null ? current === undefined : current !== undefined && bytesEqual(current, command.expected)
        if (!matches) return { ...error('cas-mismatch', `key '${command.key}' does not hold the expected value`), current: current ?? null }
        return this.store(command.key, command.value, at) ?? { ok: true, op: 'cas', revision: this.revision }
      }
      case 'append':
        return this.append(command.key, command.value, at)
      case 'role-grant':
        this.roles.grant(command.subject, command.role, command.prefix ?? '')
        return { ok: true, op: 'role-grant' }
      case 'role-revoke': {
        const revoked = this.roles.revoke(command.subject)
        return 'ok' in revoked ? revoked : { ok: true, op: 'role-revoke', existed: revoked.existed }
      }
      case 'role-list':
        return { ok: true, op: 'role-list', roles: this.roles.list() }
      case 'disarm':
        return this.disarm()
    }
  }

  private read(key: string): KvResult {
    const value = this.values.get(key)
    if (value === undefined) return { ok: true, op: 'get', value: null, revision: this.revision }
    return { ok: true, op: 'get', value, revision: this.revision, ...this.revisionsOf(key) }
  }

  private remove(key: string, index: number): KvResult {
    const current = this.values.get(key)
    if (current === undefined) return { ok: true, op: 'delete', existed: false, revision: this.revision }
    const prev = { value: current, ...this.revisionsOf(key) }
    this.snapshotJob?.remember(key, current, this.revisions.get(key))
    this.values.delete(key)
    this.revisions.delete(key)
    this.leases.attach(key, undefined)
    this.revision = Math.max(this.revision, index)
    this.bytes -= entryBytes(key, current)
    this.history.record({ revision: index, type: 'delete', key, createRevision: 0, modRevision: 0, version: 0, prev })
    return { ok: true, op: 'delete', existed: true, revision: this.revision }
  }

  /**
   * etcd's Txn, all or nothing: every key and value of both branches is checked first, and the chosen
   * branch's effect on the quota as a whole, so no operation of it can fail half-way; then the comparisons
   * pick the branch and its operations run in order (a get sees an earlier put), all at revision `index`.
   */
  private transaction(command: Extract<KvCommand, { op: 'txn' }>, index: number): KvResult {
    for (const c of command.compare) {
      const invalid = this.checkKey(c.key, 'compare key') ?? (c.target === 'value' ? this.checkValue(c.value, 'compare value') : undefined)
      if (invalid !== undefined) return invalid
    }
    for (const op of [...command.success, ...command.failure]) {
      const invalid = this.checkKey(op.key, 'key') ?? (op.op === 'put' ? this.checkValue(op.value, 'value') : undefined)
      if (invalid !== undefined) return invalid
    }
    const succeeded = command.compare.every((c) => compareHolds(c, this.viewOf(c.key)))
    const ops = succeeded ? command.success : command.failure
    if (ops.some((op) => op.op === 'put')) {
      if (this.alarmRaised) return error('no-space', 'the no-space alarm is raised: delete data, then disarm the alarm (synod alarm disarm)')
      // Each key is written at most once per branch (the codec refuses more), so the effects simply add up.
      let after = this.bytes
      for (const op of ops) {
        if (op.op === 'get') continue
        const current = this.values.get(op.key)
        after += (op.op === 'put' ? utf8ByteLength(op.key) + op.value.byteLength : 0) - (current === undefined ? 0 : entryBytes(op.key, current))
      }
      if (after > this.quotaBytes) {
        this.alarmRaised = true
        return error('no-space', `the transaction would make the data ${after} bytes, over the quota of ${this.quotaBytes}; the no-space alarm is raised`)
      }
    }
    const results = ops.map((op): KvResult => {
      if (op.op === 'get') return this.read(op.key)
      if (op.op === 'delete') return this.remove(op.key, index)
      const refused = this.store(op.key, op.value, index, true)
      if (refused !== undefined) return refused
      this.leases.attach(op.key, undefined) // a put without a lease, as etcd's
      return { ok: true, op: 'put', revision: this.revision }
    })
    return { ok: true, op: 'txn', succeeded, results, revision: this.revision }
  }

  /**
   * A member's vote to expire a lease (byzantine protocols): counted only for the lease's current renewal;
   * the lease ends when `leaseExpiryQuorum` distinct members voted, so at least one correct member's clock
   * said the TTL ran out. A vote for an older renewal (a keep-alive was ordered since) or a gone lease does nothing.
   */
  private expiryVote(command: Extract<KvCommand, { op: 'lease-expire' }>, voter: string, index: number): KvResult {
    const lease = this.leases.get(command.id)
    if (lease === undefined || lease.renewed !== command.renewed) return { ok: true, op: 'lease-expire', id: command.id, expired: false, deleted: 0, revision: this.revision }
    lease.votes.add(voter)
    if (lease.votes.size < this.leaseExpiryQuorum) return { ok: true, op: 'lease-expire', id: command.id, expired: false, deleted: 0, revision: this.revision }
    return { ok: true, op: 'lease-expire', ...this.endLease(command.id, index) }
  }

  /** Remove lease `id` and delete its keys, all at revision `index`. */
  private endLease(id: number, index: number): { id: number; expired: true; deleted: number; revision: number } {
    const keys = this.leases.remove(id)
    for (const key of keys) this.remove(key, index)
    return { id, expired: true, deleted: keys.length, revision: this.revision }
  }

  /** A key as a transaction's comparisons see it. */
  private viewOf(key: string): TxnKeyView {
    const r = this.revisions.get(key)
    return { value: this.values.get(key), version: r?.version ?? 0, create: r?.create ?? 0, mod: r?.mod ?? 0 }
  }

  private append(key: string, element: Uint8Array, index: number): KvResult {
    const invalid = this.checkKey(key, 'key') ?? this.checkValue(element, 'value')
    if (invalid !== undefined) return invalid
    const current = this.values.get(key)
    if (current instanceof Uint8Array) return error('wrong-type', `key '${key}' holds bytes, not a list; append needs a list or an absent key`)
    const list = current ?? []
    if (list.length + 1 > this.limits.maxListItems)
      return error('too-large', `list '${key}' already has ${list.length} elements, the limit is ${this.limits.maxListItems}`)
    const total = list.reduce((sum, item) => sum + item.byteLength, element.byteLength)
    if (total > this.limits.maxValueBytes)
      return error('too-large', `list '${key}' would hold ${total} bytes, over maxValueBytes ${this.limits.maxValueBytes}`)
    // A new array each time: results and snapshots may still reference the old one.
    const next = [...list, element]
    return this.store(key, next, index) ?? { ok: true, op: 'append', length: next.length, revision: this.revision }
  }

  /**
   * Keys with `prefix`, strictly after `after`, in code-unit order; O(keys) per call. Mode 'values'
   * adds each key's value, stopping early (with `more`) past `maxListBytes` of values — at least one
   * key, so paging always moves on; mode 'count' answers only how many keys match (no limit applies).
   */
  private list(prefix: string, after: string | undefined, limit: number, mode: ListMode, start?: string, end?: string, at?: number): KvResult {
    const invalid =
      this.checkKey(prefix, 'prefix') ??
      (after === undefined ? undefined : this.checkKey(after, 'after')) ??
      (start === undefined ? undefined : this.checkKey(start, 'start')) ??
      (end === undefined ? undefined : this.checkKey(end, 'end'))
    if (invalid !== undefined) return invalid
    if (limit < 1 || limit > this.limits.maxListKeys)
      return error('too-large', `list limit must be between 1 and ${this.limits.maxListKeys}, got ${limit}`)
    const view = at === undefined ? this.currentView() : this.pastView(at)
    if ('ok' in view) return view
    const matching: string[] = []
    for (const key of view.keys())
      if (key.startsWith(prefix) && (after === undefined || key > after) && (start === undefined || key >= start) && (end === undefined || key < end)) matching.push(key)
    if (mode === 'count') return { ok: true, op: 'list', keys: [], more: false, count: matching.length, revision: this.revision }
    matching.sort(compareKeys)
    const keys = matching.slice(0, limit)
    if (mode === 'keys') return { ok: true, op: 'list', keys, more: matching.length > limit, revision: this.revision }
    const values: KvValue[] = []
    let bytes = 0
    for (const key of keys) {
      const value = view.value(key)!
      const size = value instanceof Uint8Array ? value.byteLength : value.reduce((sum, element) => sum + element.byteLength, 0)
      if (values.length > 0 && bytes + size > this.limits.maxListBytes) break
      values.push(value)
      bytes += size
    }
    const listed = keys.slice(0, values.length)
    const revisions = listed.map((key): readonly [number, number, number] => {
      const r = view.revisions(key)
      return [r.createRevision, r.modRevision, r.version]
    })
    return { ok: true, op: 'list', keys: listed, values, revisions, more: matching.length > values.length, revision: this.revision }
  }

  /** The store as it is. */
  private currentView(): StoreView {
    return { keys: () => this.values.keys(), value: (key) => this.values.get(key), revisions: (key) => this.revisionsOf(key) }
  }

  /**
   * The store as it was at revision `at` (etcd's range at a revision): the current state with every change
   * after `at` undone from the history's previous states. `compacted` below the oldest revision the history
   * can undo to (as etcd's ErrCompacted: `at` equal to it still reads); `future-revision` beyond the store's
   * revision (as etcd's ErrFutureRev: it does not wait). Costs O(changes after `at` + keys).
   */
  private pastView(at: number): StoreView | KvError {
    const oldest = this.history.readableFrom
    if (at < oldest)
      return { ...error('compacted', `revision ${at} is compacted: the history reads back to revision ${oldest}`), revision: oldest }
    if (at > this.revision)
      return { ...error('future-revision', `revision ${at} is a future revision: the store is at revision ${this.revision}`), revision: this.revision }
    if (at === this.revision) return this.currentView()
    const changed = this.history.changedAfter(at)
    const values = this.values
    const stateOf = (key: string): KeyState | null | undefined => {
      const past = changed.get(key)
      if (past !== undefined || changed.has(key)) return past
      const value = this.values.get(key)
      return value === undefined ? undefined : { value, ...this.revisionsOf(key) }
    }
    return {
      *keys() {
        for (const [key, state] of changed) if (state !== null) yield key
        for (const key of values.keys()) if (!changed.has(key)) yield key
      },
      value: (key) => stateOf(key)?.value ?? undefined,
      revisions: (key) => {
        const s = stateOf(key)
        return s === null || s === undefined ? { createRevision: 0, modRevision: 0, version: 0 } : { createRevision: s.createRevision, modRevision: s.modRevision, version: s.version }
      },
    }
  }

  private checkKey(key: string, what: string): KvResult | undefined {
    // UTF-16 length bounds UTF-8 length from below: only long strings need counting.
    if (key.length * 3 <= this.limits.maxKeyBytes) return undefined
    const bytes = utf8ByteLength(key)
    return bytes > this.limits.maxKeyBytes ? error('too-large', `${what} is ${bytes} UTF-8 bytes, over maxKeyBytes ${this.limits.maxKeyBytes}`) : undefined
  }

  private checkValue(value: Uint8Array, what: string): KvResult | undefined {
    return value.byteLength > this.limits.maxValueBytes
      ? error('too-large', `${what} is ${value.byteLength} bytes, over maxValueBytes ${this.limits.maxValueBytes}`)
      : undefined
  }
}

/** What a list reads: the store now, or as it was at a past revision. */
interface StoreView {
  keys(): Iterable<string>
  value(key: string): KvValue | undefined
  revisions(key: string): { createRevision: number; modRevision: number; version: number }
}

function error(code: KvErrorCode, message: string): { ok: false; code: KvErrorCode; message: string } {
  return { ok: false, code, message }
}

function positive(value: number | undefined, fallback: number, field: string): number {
  const resolved = value ?? fallback
  if (!Number.isSafeInteger(resolved) || resolved < 1) throw new ConfigError(`must be a positive integer, got ${String(value)}`, field)
  return resolved
}

/** What one key costs against the quota: its UTF-8 bytes and its value's bytes. */

function invalidCommand(cause: unknown): Uint8Array {
  // Only our own validation errors are expected; their text is deterministic, so every replica answers alike.
  const reason = cause instanceof InvalidMessageError ? cause.reason : 'undecodable command'
  return encodeResult(error('invalid-command', `${reason}; build commands with kvCommands`))
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
