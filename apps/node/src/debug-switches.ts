// TEST-ONLY planted bugs (issue 20 §4): switches that make the daemon unsafe
// on purpose, so that `synod-conformance --cluster` can show its checkers
// catch real consistency bugs in real processes. Each is read from the
// environment only when set, and a node that honours one says so loudly in
// its log. Never set them outside a test.
import type { Storage } from '@synod/core'

/** SYNOD_DEBUG_UNSAFE_LOCAL_READS=1: serve linearizable reads from local state, skipping ReadIndex / the protocol's read path. */
export const UNSAFE_LOCAL_READS = 'SYNOD_DEBUG_UNSAFE_LOCAL_READS'
/** SYNOD_DEBUG_UNSAFE_ACK_BEFORE_FSYNC=<ms>: storage syncs report done at once and reach the disk only <ms> later. */
export const UNSAFE_ACK_BEFORE_FSYNC = 'SYNOD_DEBUG_UNSAFE_ACK_BEFORE_FSYNC'
/**
 * SYNOD_DEBUG_UNSAFE_SKIP_REPLY_CERTIFICATES=1 (byzantine protocols): answer clients from this node's own
 * tentative execution against its local state — puts and cas acknowledged before they are ordered, reads
 * served locally — instead of waiting for the reply certificate (f+1 matching signed replies).
 */
export const UNSAFE_SKIP_REPLY_CERTIFICATES = 'SYNOD_DEBUG_UNSAFE_SKIP_REPLY_CERTIFICATES'

/**
 * SYNOD_DEBUG_UNSAFE_DISABLE_DEFENCES=<name,…>: passed to the protocol as its test-only `unsafeDisableDefences`
 * option (PBFT: e.g. `lone-escalation`), so a live run can plant back a defence's bug and show the runner catches
 * it. The protocol checks the names (an unknown one fails the start with its ConfigError).
 */
export const UNSAFE_DISABLE_DEFENCES = 'SYNOD_DEBUG_UNSAFE_DISABLE_DEFENCES'
/**
 * SYNOD_DEBUG_UNSAFE_RAW_FORWARD_ERRORS=1: a request forwarded to a leader that does not answer fails with
 * the forward's own error (a 500 for a refused or reset connection) instead of 503 LEADER_UNREACHABLE with
 * the leader hint and, for a write, `outcome: unknown` — the outside harness's finding of Raft followers
 * answering 500 when the forward to a dead leader failed, planted back.
 */
export const UNSAFE_RAW_FORWARD_ERRORS = 'SYNOD_DEBUG_UNSAFE_RAW_FORWARD_ERRORS'

export interface DebugSwitches {
  readonly localReads: boolean
  /** Delay of the real sync in ms; undefined when off. */
  readonly ackBeforeFsyncMs: number | undefined
  readonly skipReplyCertificates: boolean
  /** The protocol defences to switch off; empty when off. */
  readonly disableDefences: readonly string[]
  readonly rawForwardErrors: boolean
}

export function readDebugSwitches(env: NodeJS.ProcessEnv = process.env): DebugSwitches {
  const delay = env[UNSAFE_ACK_BEFORE_FSYNC]
  const ms = delay === undefined || delay === '' ? undefined : Number(delay)
  return {
    localReads: env[UNSAFE_LOCAL_READS] === '1',
    ackBeforeFsyncMs: ms !== undefined && Number.isFinite(ms) && ms > 0 ? ms : undefined,
    skipReplyCertificates: env[UNSAFE_SKIP_REPLY_CERTIFICATES] === '1',
    disableDefences: (env[UNSAFE_DISABLE_DEFENCES] ?? '')
      .split(',')
      .map((d) => d.trim())
      .filter((d) => d !== ''),
    rawForwardErrors: env[UNSAFE_RAW_FORWARD_ERRORS] === '1',
  }
}

/** Names of the switches that are on (for the start-up warning). */
export function activeDebugSwitches(switches: DebugSwitches): string[] {
  return [
    ...(switches.localReads ? [UNSAFE_LOCAL_READS] : []),
    ...(switches.ackBeforeFsyncMs === undefined ? [] : [UNSAFE_ACK_BEFORE_FSYNC]),
    ...(switches.skipReplyCertificates ? [UNSAFE_SKIP_REPLY_CERTIFICATES] : []),
    ...(switches.disableDefences.length > 0 ? [`${UNSAFE_DISABLE_DEFENCES}=${switches.disableDefences.join(',')}`] : []),
    ...(switches.rawForwardErrors ? [UNSAFE_RAW_FORWARD_ERRORS] : []),
  ]
}

/**
 * The planted "acknowledge before fsync" bug: `sync()` resolves at once, so
 * the Replica sends its promises and answers clients, while the writes reach
 * the disk only `delayMs` later. A SIGKILL in between loses acknowledged
 * writes (the page cache survives a process kill; unwritten user-space
 * buffers do not — which is what this models).
 */
export function ackBeforeFsync<S extends Storage>(storage: S, delayMs: number): S {
  let chain: Promise<void> = Promise.resolve()
  const timers = new Set<NodeJS.Timeout>()
  const deferredSync = (): Promise<void> => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      chain = chain.then(() => storage.sync()).catch(() => undefined)
    }, delayMs)
    timers.add(timer)
    return Promise.resolve()
  }
  const close = async (): Promise<void> => {
    for (const timer of timers) clearTimeout(timer)
    await chain
    await storage.close()
  }
  return new Proxy(storage, {
    get(target, property, receiver) {
      if (property === 'sync') return deferredSync
      if (property === 'close') return close
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}

/**
 * The planted "skip reply certificates" bug's answer to a cas: computed from this node's local state
 * (`current`), as if the node's own tentative execution were the cluster's — what a client that accepts
 * one replica's word instead of f+1 matching replies would believe.
 */
export function tentativeCas(expected: string | null, current: string | null, index: number): { index: number; applied: boolean; value?: string | null } {
  return current === expected ? { index, applied: true } : { index, applied: false, value: current }
}
