import type { NodeId, ProtocolContext, TimerId } from '@synod/core'
import type { TC } from '../messages.js'

/**
 * The pacemaker (view synchronizer): which view this replica is in, who
 * leads it (round-robin over the voters), and when to give up on it. It
 * never decides safety — that is SafetyRules' — so it can be swapped.
 *
 * A view's timer runs only while there is outstanding work (a command
 * waiting, or an uncommitted block carrying commands): an idle cluster does
 * not churn through views. The timeout doubles with each view that ends
 * without a commit (exponential backoff, capped) and resets on progress, so
 * after a period of asynchrony replicas spend long enough in one view to
 * meet there. When the timer fires the node broadcasts a signed timeout; the
 * timer re-arms to re-broadcast it while the view is stuck (lost messages).
 */
export class Pacemaker {
  /** The current view. Starts at 1 (genesis is view 0). */
  view = 1
  /** The highest TC known: carried by timeouts and proposals so others can enter its next view. */
  lastTC: TC | undefined
  private failures = 0
  private timer: TimerId | undefined
  private working = false

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly voters: readonly NodeId[],
    private readonly baseTimeoutMs: number,
    private readonly maxTimeoutMs: number,
    private readonly onTimeout: (view: number) => void,
  ) {}

  leaderOf(view: number): NodeId {
    return this.voters[view % this.voters.length]!
  }

  /** Enter `view` if it is ahead of ours. Returns true when the view changed. */
  advanceTo(view: number): boolean {
    if (view <= this.view) return false
    this.view = view
    if (this.working) this.arm()
    return true
  }

  recordTC(tc: TC): void {
    if (this.lastTC === undefined || tc.view > this.lastTC.view) this.lastTC = tc
  }

  /** Something committed: the network is timely again, so reset the backoff. */
  progress(): void {
    this.failures = 0
  }

  /** Outstanding work or not: runs or stops the view timer. */
  setWorking(working: boolean): void {
    if (working === this.working) return
    this.working = working
    if (working) this.arm()
    else this.disarm()
  }

  get isWorking(): boolean {
    return this.working
  }

  currentTimeoutMs(): number {
    return Math.min(this.maxTimeoutMs, this.baseTimeoutMs * 2 ** Math.min(this.failures, 20))
  }

  stop(): void {
    this.disarm()
    this.working = false
  }

  private arm(): void {
    this.disarm()
    const view = this.view
    this.timer = this.ctx.setTimer(this.currentTimeoutMs(), () => {
      this.timer = undefined
      if (this.view !== view) return
      this.failures++
      this.onTimeout(view)
      if (this.working && this.view === view) this.arm()
    })
  }

  private disarm(): void {
    if (this.timer !== undefined) this.ctx.clearTimer(this.timer)
    this.timer = undefined
  }
}
