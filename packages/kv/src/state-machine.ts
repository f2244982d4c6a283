import { bytesEqual, ConfigError, InvalidMessageError, type StateMachine } from '@synod/core'
import { decodeCommand, KV_READ_OPS, type KvCommand } from './command.js'
import { RolesTable } from './roles.js'
import { resolveLimits, utf8ByteLength, type KvLimits } from './limits.js'
import { encodeResult, type KvErrorCode, type KvResult, type KvValue } from './result.js'
import { decodeSnapshot, encodeSnapshot, type KvSnapshotState } from './snapshot.js'

export interface KvStateMachineOptions extends Partial<KvLimits> {
  /** Client sessions kept; beyond it the least recently applied is forgotten. Default 10,000. */
  readonly maxSessions?: number
  /**
   * Client ids (hex ed25519 public keys) holding the admin role from the
   * start, like etcd's root. Must be identical on every replica (it comes
   * from the cluster's configuration); later grants go through the log.
   */
  readonly initialAdmins?: readonly string[]
}

/** What a session remembers: the client's latest sequence number and its answer. */
export interface SessionRecord {
  readonly seq: number
  readonly result: Uint8Array
  /** Log index of the last command of this client; orders eviction. */
  readonly lastIndex: number
}

/**
 * The replicated key-value store. Deterministic: the same commands in the
 * same order give the same results and the same snapshot bytes everywhere.
 *
 * `apply` never throws: an undecodable or invalid command gets an error
 * result (identical on every replica). Commands with a session run at most
 * once: a retry with the client's latest `seq` returns the cached answer; a
 * `seq` older than that is answered `stale-sequence`, since that answer is
 * gone and re-running the command could apply it twice.
 */
export class KvStateMachine implements StateMachine {
  readonly limits: KvLimits
  readonly maxSessions: number
  private values = new Map<string, KvValue>()
  /** Map order is least recently applied first (re-inserted on every use), which makes eviction O(1). */
  private sessions = new Map<string, SessionRecord>()
  /** Who may do what (roles.ts); part of the replicated state and of the snapshot. */
  roles: RolesTable

  constructor(options: KvStateMachineOptions = {}) {
    const { maxSessions, initialAdmins, ...limits } = options
    this.roles = new RolesTable(initialAdmins)
    this.limits = resolveLimits(limits)
    this.maxSessions = maxSessions ?? 10_000
    if (!Number.isSafeInteger(this.maxSessions) || this.maxSessions < 1)
      throw new ConfigError(`must be a positive integer, got ${String(maxSessions)}`, 'maxSessions')
  }

  apply(command: Uint8Array, index: number): Uint8Array {
    let decoded: KvCommand
    try {
      decoded = decodeCommand(command)
    } catch (error) {
      return invalidCommand(error)
    }
    const session = decoded.session
    if (session === undefined) return encodeResult(this.execute(decoded))

    const known = this.sessions.get(session.client)
    if (known !== undefined && session.seq <= known.seq) {
      if (session.seq < known.seq)
        return encodeResult(
          error('stale-sequence', `client '${session.client}' is at seq ${known.seq}; seq ${session.seq} was answered before and is not kept`),
        )
      this.remember(session.client, { ...known, lastIndex: index })
      return known.result
    }
    const result = encodeResult(this.execute(decoded))
    this.remember(session.client, { seq: session.seq, result, lastIndex: index })
    return result
  }

  /** Answer `get` or `list` from the current state; never mutates, ignores sessions. */
  query(request: Uint8Array): Uint8Array {
    let decoded: KvCommand
    try {
      decoded = decodeCommand(request)
    } catch (error) {
      return invalidCommand(error)
    }
    if (!KV_READ_OPS.includes(decoded.op))
      return encodeResult(error('invalid-command', `query answers only get and list, not ${decoded.op}; propose writes instead`))
    return encodeResult(this.execute(decoded))
  }

  snapshot(): Uint8Array {
    return encodeSnapshot({ values: this.values, sessions: this.sessions, roles: this.roles })
  }

  /** Replace the whole state. A corrupt snapshot throws StorageCorruptionError and leaves the state as it was. */
  restore(snapshot: Uint8Array): void {
    const state: KvSnapshotState = decodeSnapshot(snapshot)
    this.values = state.values
    this.sessions = state.sessions
    this.roles = state.roles
  }

  /** Number of keys stored. */
  get size(): number {
    return this.values.size
  }

  /** Number of client sessions kept. */
  get sessionCount(): number {
    return this.sessions.size
  }

  /** The session of `client`, if kept (for diagnostics and tests). */
  session(client: string): SessionRecord | undefined {
    return this.sessions.get(client)
  }

  private remember(client: string, record: SessionRecord): void {
    this.sessions.delete(client)
    this.sessions.set(client, record)
    if (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!)
  }

  private execute(command: KvCommand): KvResult {
    switch (command.op) {
      case 'get': {
        const tooLong = this.checkKey(command.key, 'key')
        if (tooLong !== undefined) return tooLong
        return { ok: true, op: 'get', value: this.values.get(command.key) ?? null }
      }
      case 'list':
        return this.list(command.prefix, command.after, command.limit)
      case 'put': {
        const invalid = this.checkKey(command.key, 'key') ?? this.checkValue(command.value, 'value')
        if (invalid !== undefined) return invalid
        this.values.set(command.key, command.value)
        return { ok: true, op: 'put' }
      }
      case 'delete': {
        const tooLong = this.checkKey(command.key, 'key')
        if (tooLong !== undefined) return tooLong
        return { ok: true, op: 'delete', existed: this.values.delete(command.key) }
      }
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
        this.values.set(command.key, command.value)
        return { ok: true, op: 'cas' }
      }
      case 'append':
        return this.append(command.key, command.value)
      case 'role-grant':
        this.roles.grant(command.subject, command.role, command.prefix ?? '')
        return { ok: true, op: 'role-grant' }
      case 'role-revoke': {
        const revoked = this.roles.revoke(command.subject)
        return 'ok' in revoked ? revoked : { ok: true, op: 'role-revoke', existed: revoked.existed }
      }
      case 'role-list':
        return { ok: true, op: 'role-list', roles: this.roles.list() }
    }
  }

  private append(key: string, element: Uint8Array): KvResult {
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
    this.values.set(key, next)
    return { ok: true, op: 'append', length: next.length }
  }

  /** Keys with `prefix`, strictly after `after`, in code-unit order; O(keys) per call. */
  private list(prefix: string, after: string | undefined, limit: number): KvResult {
    const invalid = this.checkKey(prefix, 'prefix') ?? (after === undefined ? undefined : this.checkKey(after, 'after'))
    if (invalid !== undefined) return invalid
    if (limit < 1 || limit > this.limits.maxListKeys)
      return error('too-large', `list limit must be between 1 and ${this.limits.maxListKeys}, got ${limit}`)
    const matching: string[] = []
    for (const key of this.values.keys())
      if (key.startsWith(prefix) && (after === undefined || key > after)) matching.push(key)
    matching.sort(compareKeys)
    return { ok: true, op: 'list', keys: matching.slice(0, limit), more: matching.length > limit }
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

function error(code: KvErrorCode, message: string): { ok: false; code: KvErrorCode; message: string } {
  return { ok: false, code, message }
}

function invalidCommand(cause: unknown): Uint8Array {
  // Only our own validation errors are expected; their text is deterministic, so every replica answers alike.
  const reason = cause instanceof InvalidMessageError ? cause.reason : 'undecodable command'
  return encodeResult(error('invalid-command', `${reason}; build commands with kvCommands`))
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
