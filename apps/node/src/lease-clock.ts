// The clock side of leases (docs/adr/0015-watches-and-leases.md). The state machine knows each lease's TTL
// and the log index of its last grant or keep-alive (`renewed`), never a time. Every node notes, on its own
// clock, when it saw each renewal applied; only the leader acts: once a lease has gone `ttl` seconds
// without a renewal, it proposes `lease-expire {id, renewed}`, which the state machine applies only if no
// keep-alive was ordered in between. A node that becomes leader first extends every remaining TTL by an
// election timeout (etcd's lessor Promote), so a leader change never expires a lease early.
//
// Byzantine protocols with client signatures (docs/adr/0022-lease-expiry-under-bft-and-past-reads.md): no unsigned proposal
// is ordered, and one member's clock must not decide. There every member votes: once its own clock says the
// TTL ran out since it saw the renewal applied, it proposes its own signed `lease-expire` (`vote`), once per
// renewal; the state machine expires the lease when f + 1 distinct members voted.
import type { Replica } from '@synod/core'
import { kvCommands, type KvStateMachine } from '@synod/kv'

export interface LeaseClockOptions {
  /** Added to every remaining TTL when this node becomes leader. */
  readonly electionTimeoutMs: number
  /** How often to look. Default 250 ms; 0: never by itself (tests call tick()). */
  readonly tickMs?: number
  readonly now?: () => number
  readonly onError?: (error: unknown) => void
  /**
   * Vote mode (byzantine protocols): every member, leader or not, proposes what this returns — its own
   * signed expiry request — once per renewal, one at a time. Default: only the leader proposes the plain command.
   */
  readonly vote?: (id: number, renewed: number) => Uint8Array
}

interface Tracked {
  renewed: number
  expiresAt: number
  /** Vote mode: this member's vote for `renewed` was ordered. */
  voted?: boolean
}

export class LeaseClock {
  private readonly tracked = new Map<number, Tracked>()
  private readonly proposing = new Set<number>()
  private leading = false
  private stopped = false
  private readonly timer: NodeJS.Timeout
  private readonly now: () => number

  constructor(
    private readonly replica: Replica,
    private readonly kv: KvStateMachine,
    private readonly options: LeaseClockOptions,
  ) {
    this.now = options.now ?? Date.now
    this.timer = setInterval(() => this.tick(), options.tickMs === 0 ? 2 ** 31 - 1 : (options.tickMs ?? 250))
    this.timer.unref()
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
  }

  /** Milliseconds until lease `id` expires by this node's clock (undefined: unknown lease). */
  remainingMs(id: number): number | undefined {
    const t = this.tracked.get(id)
    return t === undefined ? undefined : Math.max(0, t.expiresAt - this.now())
  }

  tick(): void {
    const now = this.now()
    const seen = new Set<number>()
    for (const [id, ttl, renewed] of this.kv.leaseList()) {
      seen.add(id)
      const t = this.tracked.get(id)
      // A renewal applied since the last look (or a lease first seen): a full TTL from now.
      if (t === undefined || t.renewed !== renewed) this.tracked.set(id, { renewed, expiresAt: now + ttl * 1000 })
    }
    for (const id of this.tracked.keys()) if (!seen.has(id)) this.tracked.delete(id)
    if (this.options.vote !== undefined) return this.voteDue(now, this.options.vote)
    const status = this.replica.status()
    const leading = status.leader === this.replica.self
    if (leading && !this.leading) for (const t of this.tracked.values()) t.expiresAt += this.options.electionTimeoutMs
    this.leading = leading
    if (!leading) return
    for (const [id, t] of this.tracked) {
      if (t.expiresAt > now || this.proposing.has(id)) continue
      this.proposing.add(id)
      this.replica
        .propose(kvCommands.leaseExpire(id, t.renewed))
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => this.proposing.delete(id))
    }
  }

  /** Vote mode: propose this member's signed vote for the first due lease it has not voted for yet, one at a time (one client session). */
  private voteDue(now: number, vote: (id: number, renewed: number) => Uint8Array): void {
    if (this.proposing.size > 0 || this.stopped) return
    for (const [id, t] of this.tracked) {
      if (t.expiresAt > now || t.voted === true) continue
      this.proposing.add(id)
      let ordered = false
      this.replica
        .propose(vote(id, t.renewed))
        .then(() => {
          // Ordered: counted, or stale (a keep-alive came first; its renewal is tracked afresh).
          t.voted = true
          ordered = true
        })
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => {
          this.proposing.delete(id)
          // After a success the next due lease need not wait for the next tick; after a failure it does.
          if (ordered) queueMicrotask(() => this.voteDue(this.now(), vote))
        })
      return
    }
  }
}
