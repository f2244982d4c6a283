// The queue both recipes stand in (etcd's concurrency package): each contender puts one key under a
// prefix, attached to its lease; the key's create revision is its place in line. The first in line holds
// the lock (or leads). Every other contender watches only the key just before its own and looks again when
// that one is deleted (released, resigned, or its lease expired) — no herd of waiters wakes for one
// release, and a waiter that dies leaves the line by itself.
import { SynodHttpError } from '../errors.js'
import type { KeyValue } from '../types.js'
import { WatchRefusedError } from '../watch.js'
import type { LeaseSession } from './session.js'

/** The session's lease ended (expired, closed) while waiting or holding: the key is gone. */
export class SessionEndedError extends Error {
  constructor(what: string) {
    super(`${what}: the lease session ended`)
    this.name = 'SessionEndedError'
  }
}

export interface Place {
  readonly key: string
  /** The key's create revision: its place in line, and a fencing token (it only grows). */
  readonly createRevision: number
}

/** The contender's key under `prefix`: one per lease (a second lock() of the same session finds its own key). */
export function keyOf(prefix: string, lease: number): string {
  return `${prefix}${lease.toString(16).padStart(16, '0')}`
}

/** Every key under `prefix` with its create revision, and the revision of the first page read. */
export async function line(session: LeaseSession, prefix: string, signal?: AbortSignal): Promise<{ kvs: KeyValue[]; revision: number }> {
  const kvs: KeyValue[] = []
  let revision: number | undefined
  for await (const page of session.client.pages(prefix, { limit: 1000, ...(signal === undefined ? {} : { signal }) })) {
    revision ??= page.revision ?? 0
    kvs.push(...(page.kvs ?? []))
  }
  return { kvs, revision: revision ?? 0 }
}

/** Join the line under `prefix` with `value` (or find this session's key already in it). */
export async function join(session: LeaseSession, prefix: string, value: string, signal?: AbortSignal): Promise<Place> {
  const key = keyOf(prefix, session.lease)
  try {
    await session.client.put(key, value, { lease: session.lease, ...(signal === undefined ? {} : { signal }) })
  } catch (error) {
    // The session's lease ended before the key was put (revoked, or expired): the session is over, as
    // when the key disappears later — not a transport failure for the caller to retry.
    if (error instanceof SynodHttpError && error.code === 'LEASE_NOT_FOUND') throw new SessionEndedError(`joining ${prefix}`)
    throw error
  }
  const answer = await session.client.get(key, signal === undefined ? {} : { signal })
  if (answer.value === null || answer.createRevision === undefined) throw new SessionEndedError(`joining ${prefix}`)
  return { key, createRevision: answer.createRevision }
}

/**
 * Wait until `place` is first in line. Resolves at once if it is; throws SessionEndedError if its key
 * disappears (the lease expired), or the caller's abort reason if `signal` aborts.
 */
export async function waitFirst(session: LeaseSession, prefix: string, place: Place, signal?: AbortSignal): Promise<void> {
  while (true) {
    if (signal?.aborted === true) throw signal.reason
    if (session.ended !== undefined) throw new SessionEndedError(`waiting for ${prefix}`)
    const { kvs, revision } = await line(session, prefix, signal)
    if (!kvs.some((kv) => kv.key === place.key)) throw new SessionEndedError(`waiting for ${prefix}`)
    let predecessor: KeyValue | undefined
    for (const kv of kvs) {
      const rev = kv.createRevision ?? 0
      if (rev < place.createRevision && (predecessor === undefined || rev > (predecessor.createRevision ?? 0))) predecessor = kv
    }
    if (predecessor === undefined) return
    await deleted(session, predecessor.key, revision + 1, signal)
  }
}

/** Resolves once `key` is deleted at or after `fromRevision` (or the history cannot tell: look again). */
async function deleted(session: LeaseSession, key: string, fromRevision: number, signal?: AbortSignal): Promise<void> {
  const stop = new AbortController()
  const abort = (): void => stop.abort()
  signal?.addEventListener('abort', abort, { once: true })
  session.signal.addEventListener('abort', abort, { once: true })
  let failure: unknown
  try {
    await session.client.watch(key, {
      fromRevision,
      signal: stop.signal,
      onEvents: (events) => {
        if (events.some((e) => e.type === 'DELETE' && e.key === key)) stop.abort()
      },
      onCompacted: () => undefined, // the watch ends: the caller reads the line again
      onDisconnect: (_endpoint, error) => {
        // A refusal that waiting will not cure (no permission, bad request): give up.
        if (error instanceof WatchRefusedError && error.status < 500 && error.status !== 429) {
          failure = error
          stop.abort()
        }
      },
    })
  } finally {
    signal?.removeEventListener('abort', abort)
    session.signal.removeEventListener('abort', abort)
  }
  if (failure !== undefined) throw failure
  if (signal?.aborted === true) throw signal.reason
}

/** Leave the line: delete the key (a 404-free no-op when it is already gone). */
export async function leave(session: LeaseSession, key: string): Promise<void> {
  try {
    await session.client.delete(key)
  } catch (error) {
    if (!(error instanceof SynodHttpError && error.status === 404)) throw error
  }
}
