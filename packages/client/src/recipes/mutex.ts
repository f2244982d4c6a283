// A distributed lock (etcd's concurrency.Mutex): the holder is the first key in line under the lock's
// prefix (waiters.ts). Holding a lock proves nothing to a storage service by itself — a holder may stall
// past its lease and wake up believing it still holds the lock — so each hold comes with a fencing token,
// the key's create revision, which only grows: guard writes with `fence()` (a txn comparison) or hand the
// token to the service, and a stale holder's writes are refused.
import type { TxnCompareJson } from '../txn.js'
import type { LeaseSession } from './session.js'
import { join, leave, type Place, waitFirst } from './waiters.js'

export interface MutexOptions {
  /**
   * Test-only: take the lock at once, without waiting for earlier holders — what the lock prevents, for
   * tests that show it (two holders at once). Never set it otherwise.
   */
  readonly unsafeSkipWait?: boolean
}

export class Mutex {
  private place: Place | undefined

  /** `prefix`: the lock's name, e.g. 'locks/nightly-report/' (every contender uses the same one). */
  constructor(
    readonly session: LeaseSession,
    readonly prefix: string,
    private readonly options: MutexOptions = {},
  ) {}

  /**
   * Wait until this session holds the lock; resolves with the fencing token. Throws SessionEndedError if
   * the lease ends first, or the abort reason if `signal` aborts (the key stays in line: unlock() removes it).
   */
  async lock(signal?: AbortSignal): Promise<number> {
    const place = await join(this.session, this.prefix, '', signal)
    this.place = place
    if (this.options.unsafeSkipWait !== true) await waitFirst(this.session, this.prefix, place, signal)
    return place.createRevision
  }

  /** Release the lock (or leave the line). */
  async unlock(): Promise<void> {
    const place = this.place
    this.place = undefined
    if (place !== undefined) await leave(this.session, place.key)
  }

  /** This hold's key under the prefix (undefined when not locked). */
  get key(): string | undefined {
    return this.place?.key
  }

  /** The fencing token of this hold: the lock key's create revision (undefined when not locked). */
  get token(): number | undefined {
    return this.place?.createRevision
  }

  /**
   * The comparison that makes a transaction run only while this hold is current: the lock key still has
   * the create revision it had when this session got the lock (0 once it expired or was released).
   */
  fence(): TxnCompareJson {
    const place = this.place
    if (place === undefined) throw new Error('fence(): the lock is not held')
    return { key: place.key, target: 'createRevision', result: '=', value: place.createRevision }
  }
}
