// A lease kept alive in the background (etcd's concurrency.Session): the recipes hang their keys on it, so
// a process that dies or stalls loses its lock or leadership once the lease's TTL runs out, and nobody
// has to clean up after it.
import { type Clock, systemClock, type TimerId } from '@synod/core'
import type { SynodClient } from '../client.js'
import { SynodHttpError } from '../errors.js'

export interface LeaseSessionOptions {
  /** The lease's TTL in whole seconds (what a stalled holder keeps its keys for). Default 10. */
  readonly ttlSeconds?: number
  /** How often to renew. Default: a third of the TTL. */
  readonly keepAliveEveryMs?: number
  /** Keep an existing lease alive instead of granting one. */
  readonly lease?: number
  /** Time and timers (core's Clock contract). Default: the system clock, whose timers keep the process alive. */
  readonly clock?: Clock
}

/** Why a session ended. */
export type SessionEnd = 'closed' | 'expired' | 'orphaned'

export class LeaseSession {
  private readonly controller = new AbortController()
  private timer: TimerId | undefined
  private lastRenewal: number
  private ending: SessionEnd | undefined
  private resolveDone!: (why: SessionEnd) => void
  /** Settles when the session ends: closed here, or the lease expired (revoked elsewhere, keep-alives failing past the TTL). */
  readonly done: Promise<SessionEnd> = new Promise((resolve) => (this.resolveDone = resolve))

  private constructor(
    readonly client: SynodClient,
    readonly lease: number,
    readonly ttlSeconds: number,
    private readonly everyMs: number,
    private readonly clock: Clock,
  ) {
    this.lastRenewal = clock.now()
    this.schedule()
  }

  /** Grant a lease (or adopt `options.lease`) and keep it alive until close(). */
  static async open(client: SynodClient, options: LeaseSessionOptions = {}): Promise<LeaseSession> {
    const ttlSeconds = options.ttlSeconds ?? 10
    let lease = options.lease
    if (lease === undefined) {
      const granted = await client.leaseGrant(ttlSeconds)
      if (typeof granted.id !== 'number') throw new SynodHttpError(500, { error: 'BAD_RESPONSE', message: 'the lease grant answered no id' })
      lease = granted.id
    }
    return new LeaseSession(client, lease, ttlSeconds, options.keepAliveEveryMs ?? Math.max(100, Math.floor((ttlSeconds * 1000) / 3)), options.clock ?? systemClock({ keepAlive: true }))
  }

  /** Aborted when the session ends: waits that only make sense while it lives listen to it. */
  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** Why it ended, or undefined while alive. */
  get ended(): SessionEnd | undefined {
    return this.ending
  }

  /** Stop keep-alives without revoking (a crashed or stalled holder): the lease ends by itself after its TTL. */
  orphan(): void {
    this.end('orphaned')
  }

  /** Stop keep-alives and revoke the lease (its keys are deleted at once). */
  async close(): Promise<void> {
    if (this.ending !== undefined) return
    this.end('closed')
    await this.client.leaseRevoke(this.lease).catch((error: unknown) => {
      if (!(error instanceof SynodHttpError && error.status === 404)) throw error
    })
  }

  private end(why: SessionEnd): void {
    if (this.ending !== undefined) return
    this.ending = why
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.controller.abort()
    this.resolveDone(why)
  }

  private schedule(): void {
    this.timer = this.clock.setTimer(this.everyMs, () => void this.renew())
  }

  private async renew(): Promise<void> {
    if (this.ending !== undefined) return
    try {
      await this.client.leaseKeepAlive(this.lease, { timeoutMs: Math.max(this.everyMs, 1000) })
      this.lastRenewal = this.clock.now()
    } catch (error) {
      // Gone for good (expired, revoked): the keys are already deleted.
      if (error instanceof SynodHttpError && error.status === 404) return this.end('expired')
      // A node or network hiccup: retry on the next tick until the TTL is surely over.
      if (this.clock.now() - this.lastRenewal >= this.ttlSeconds * 1000) return this.end('expired')
    }
    if (this.ending === undefined) this.schedule()
  }
}
