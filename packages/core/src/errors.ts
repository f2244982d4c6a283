import type { NodeId } from './membership.js'

/** Base class of every error Synod throws on purpose. `code` is stable; match on it, not on the message. */
export class SynodError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** This node cannot order the request; retry at `leaderHint` when it is known. */
export class NotLeaderError extends SynodError {
  readonly leaderHint: NodeId | undefined
  constructor(leaderHint?: NodeId, message?: string) {
    super(
      'NOT_LEADER',
      message ??
        (leaderHint === undefined
          ? 'this node is not the leader and no leader is known yet; retry shortly'
          : `this node is not the leader; retry at ${leaderHint}`),
    )
    this.leaderHint = leaderHint
  }
}

/** The protocol refused the proposal (overload, leadership transfer, shutdown). It was not ordered. */
export class ProposalDroppedError extends SynodError {
  readonly reason: string
  constructor(reason: string) {
    super('PROPOSAL_DROPPED', `proposal dropped: ${reason}; it was not ordered and may be retried`)
    this.reason = reason
  }
}

/** No answer in time. The outcome is unknown: the command may still commit. Retry with the same session sequence. */
export class TimeoutError extends SynodError {
  readonly afterMs: number
  constructor(afterMs: number, what = 'request') {
    super('TIMEOUT', `${what} timed out after ${afterMs} ms; its outcome is unknown (retry with the same client sequence)`)
    this.afterMs = afterMs
  }
}

/** A message or command failed validation. Replicas drop and count these; they never reach the protocol. */
export class InvalidMessageError extends SynodError {
  readonly reason: string
  constructor(reason: string, options?: { cause?: unknown }) {
    super('INVALID_MESSAGE', `invalid message: ${reason}`, options)
    this.reason = reason
  }
}

/** The replica's input queue is full; back off and retry. */
export class OverloadedError extends SynodError {
  constructor(what: string) {
    super('OVERLOADED', `${what}; back off and retry`)
  }
}

/** The replica or resource has been stopped. */
export class StoppedError extends SynodError {
  constructor(what = 'replica') {
    super('STOPPED', `${what} is stopped`)
  }
}

/** Persistent state failed verification. Never ignored: refusing to start beats losing committed data. */
export class StorageCorruptionError extends SynodError {
  readonly file: string | undefined
  readonly offset: number | undefined
  constructor(message: string, location?: { file?: string; offset?: number }) {
    super(
      'STORAGE_CORRUPTION',
      location?.file === undefined
        ? message
        : `${message} (file ${location.file}${location.offset === undefined ? '' : `, offset ${location.offset}`})`,
    )
    this.file = location?.file
    this.offset = location?.offset
  }
}

/** A configuration value is wrong; the message names the field. */
export class ConfigError extends SynodError {
  readonly field: string | undefined
  constructor(message: string, field?: string) {
    super('CONFIG', field === undefined ? message : `${field}: ${message}`)
    this.field = field
  }
}

/** The protocol (or this build of it) does not offer the requested operation, e.g. membership changes. */
export class UnsupportedError extends SynodError {
  constructor(what: string) {
    super('UNSUPPORTED', `${what} is not supported`)
  }
}
