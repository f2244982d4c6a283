// Is a quorum of voters reachable? The daemon tells "no leader yet, retry
// shortly" (an election in progress) apart from "no quorum" (too many voters
// down or cut off) by which voters this node has heard from recently.
import type { Replica } from '@synod/core'

/** What the watch needs from the transport: messages received per peer so far. */
export interface PeerTraffic {
  metrics(): { readonly peers: Readonly<Record<string, { readonly messagesReceived: number }>> }
}

export interface QuorumReport {
  /** Voters (this node included) heard from within the window. */
  readonly reachable: number
  readonly voters: number
  /** Voters needed: a majority (crash faults) or n − f (byzantine, n = 3f + 1 at most). */
  readonly needed: number
}

export class QuorumWatch {
  private readonly seen = new Map<string, { count: number; at: number }>()
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly replica: Replica,
    private readonly traffic: PeerTraffic,
    private readonly byzantine: boolean,
    /** A voter silent for longer than this counts as unreachable. */
    readonly windowMs: number,
    sampleMs = 200,
  ) {
    this.timer = setInterval(() => this.sample(), sampleMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  report(): QuorumReport {
    this.sample()
    const now = Date.now()
    const voters = this.replica.membership().voters.map((m) => m.id)
    let reachable = 0
    for (const id of voters) {
      const heard = this.seen.get(id)
      if (id === this.replica.self || (heard !== undefined && now - heard.at <= this.windowMs)) reachable++
    }
    const n = voters.length
    const needed = this.byzantine ? n - Math.floor((n - 1) / 3) : Math.floor(n / 2) + 1
    return { reachable, voters: n, needed }
  }

  /**
   * True when this voter knows no leader and has not heard from enough voters
   * to form a quorum: requests cannot complete until voters come back. While
   * a leader is known the protocol is the judge (a Raft leader cut off from a
   * quorum steps down by checkQuorum), so this answers false.
   */
  lost(): QuorumReport | undefined {
    if (!this.replica.running) return undefined
    const status = this.replica.status()
    if (status.leader !== undefined) return undefined
    if (!status.membership.voters.some((m) => m.id === this.replica.self)) return undefined // a learner waits for its leader
    const report = this.report()
    return report.reachable < report.needed ? report : undefined
  }

  private sample(): void {
    const now = Date.now()
    for (const [id, peer] of Object.entries(this.traffic.metrics().peers)) {
      const last = this.seen.get(id)
      if (last === undefined) this.seen.set(id, { count: peer.messagesReceived, at: peer.messagesReceived > 0 ? now : Number.NEGATIVE_INFINITY })
      else if (peer.messagesReceived !== last.count) this.seen.set(id, { count: peer.messagesReceived, at: now })
    }
  }
}
