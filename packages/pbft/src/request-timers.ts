import type { NodeId, TimerId } from '@synod/core'

/** One request (a proxy's bundle) a replica knows about and waits to see executed. */
export interface WaitingRequest {
  readonly proxy: NodeId
  readonly ts: number
}

export interface RequestTimerHost {
  setTimer(ms: number, callback: () => void): TimerId
  clearTimer(timer: TimerId): void
  /** Whether timers may run: only in an installed view (during a view change the view-change timer takes over). */
  enabled(): boolean
  /** Whether `request` is still known and not executed. */
  isWaiting(request: WaitingRequest): boolean
  /** The current timeout (the base view-change timeout, doubled per failed view). */
  timeoutMs(): number
  /** The timer ran out while its request still waited: the primary must be replaced. */
  expired(request: WaitingRequest): void
}

/**
 * The view-change timer of TOCS'02 §4.4, per request: it runs while a request
 * this replica knows about waits; it is not restarted by the execution of
 * *other* requests (otherwise a primary that orders everyone but one proxy is
 * never replaced); when its request executes and others still wait, it
 * restarts for the one waiting longest; it stops when nothing waits.
 *
 * Waiting requests are kept in arrival order; entries that stopped waiting
 * are dropped lazily. At most one per proxy is waiting (a proxy has one
 * bundle in flight), so the order is bounded by the membership.
 */
export class RequestTimer {
  private readonly order = new Map<string, WaitingRequest>()
  private target: WaitingRequest | undefined
  private timer: TimerId | undefined

  constructor(private readonly host: RequestTimerHost) {}

  /** A request arrived (from its proxy, relayed, or our own): it waits, and the timer runs if it did not already. */
  add(request: WaitingRequest): void {
    const key = `${request.proxy}/${request.ts}`
    if (!this.order.has(key)) this.order.set(key, request)
    this.update()
  }

  /**
   * Something executed or was forgotten: keep the timer if its request still
   * waits, else restart it (a full timeout) for the oldest waiting one, or stop.
   */
  update(): void {
    if (this.timer !== undefined && this.target !== undefined && this.host.isWaiting(this.target)) return
    this.start()
  }

  /** A new view: every waiting request gets a fresh timeout, measured from now. */
  restart(): void {
    this.pause()
    this.start()
  }

  /** Stop the timer but remember what waits (during a view change the view-change timer takes over). */
  pause(): void {
    if (this.timer !== undefined) this.host.clearTimer(this.timer)
    this.timer = undefined
    this.target = undefined
  }

  /** The request the running timer is for (tests and status). */
  running(): WaitingRequest | undefined {
    return this.timer === undefined ? undefined : this.target
  }

  private start(): void {
    this.pause()
    if (!this.host.enabled()) return
    for (const [key, request] of this.order) {
      if (!this.host.isWaiting(request)) {
        this.order.delete(key)
        continue
      }
      const target = request
      this.target = target
      this.timer = this.host.setTimer(this.host.timeoutMs(), () => {
        this.timer = undefined
        if (this.host.isWaiting(target)) this.host.expired(target)
        else this.update()
      })
      return
    }
  }
}
