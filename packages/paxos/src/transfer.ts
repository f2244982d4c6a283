import { ConfigError, NotLeaderError, ProposalDroppedError, TimeoutError, type ClientRef, type NodeId, type ProtocolContext, type TimerId } from '@synod/core'

const EMPTY = new Uint8Array(0)

/** What a leadership transfer needs from its node. */
export interface TransferHost {
  isLeader(): boolean
  leaderHint(): NodeId | undefined
  isVoter(id: NodeId): boolean
  /** Other voters with their chosen index, as last reported. */
  voterProgress(): Array<readonly [NodeId, number]>
  /** The target holds every slot this leader proposed, and none is in flight. */
  caughtUp(target: NodeId): boolean
  /** Push chosen slots to a lagging target now rather than at the next heartbeat. */
  pushLearn(target: NodeId): void
  sendTimeoutNow(target: NodeId): void
  /** The transfer ended without a new leader: take proposals again. */
  resume(): void
}

/**
 * Leadership transfer (Raft dissertation §3.10, applied to Multi-Paxos): the
 * leader stops giving slots to proposals (they are refused with a retryable
 * ProposalDroppedError), lets its in-flight slots be chosen and the target
 * learn every chosen slot, then sends TimeoutNow: the target starts phase 1
 * at once with a higher ballot, which acceptors promise even while they hear
 * from the old leader. The client is answered once this node hears another
 * leader; the transfer is given up (TimeoutError) after an election timeout.
 */
export class LeadershipTransfer {
  target: NodeId | undefined
  private client: ClientRef | undefined
  private timer: TimerId | undefined
  private sent = false
  /** Counters for status(). */
  readonly stats = { started: 0, completed: 0, abandoned: 0 }

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly boundMs: number,
    private readonly host: TransferHost,
  ) {}

  /** Proposals are refused while the leader hands over. */
  get active(): boolean {
    return this.target !== undefined
  }

  refusal(): ProposalDroppedError {
    return new ProposalDroppedError(`leadership transfer to ${this.target ?? '?'} in progress`)
  }

  request(target: NodeId | undefined, client: ClientRef): void {
    if (!this.host.isLeader()) return this.ctx.reject(client, new NotLeaderError(this.host.leaderHint()))
    const chosen = target ?? this.mostUpToDate()
    if (chosen === undefined) return this.ctx.reject(client, new ConfigError('no other voter to hand leadership to', 'target'))
    if (chosen === this.ctx.self) return this.ctx.respond(client, { index: 0, result: EMPTY })
    if (!this.host.isVoter(chosen)) return this.ctx.reject(client, new ConfigError(`${chosen} is not a voter`, 'target'))
    if (this.client !== undefined) return this.ctx.reject(client, new ProposalDroppedError('another leadership transfer is waiting for its answer'))
    this.client = client
    if (this.target === chosen) return
    this.target = chosen
    this.sent = false
    this.stats.started++
    if (this.timer !== undefined) this.ctx.clearTimer(this.timer)
    this.timer = this.ctx.setTimer(this.boundMs, () => {
      this.timer = undefined
      this.giveUp('leadership transfer')
    })
    this.host.pushLearn(chosen)
    this.progress()
  }

  /** Something moved (an acknowledgement, a heartbeat tick): TimeoutNow once the target has caught up, once per transfer. */
  progress(): void {
    const target = this.target
    if (target === undefined || this.sent || !this.host.isLeader()) return
    if (!this.host.caughtUp(target)) return
    this.sent = true
    this.host.sendTimeoutNow(target)
  }

  /** This node learned who leads: another node completes the transfer; itself again ends it. */
  onLeader(leader: NodeId): void {
    if (this.target === undefined && this.client === undefined) return
    if (leader === this.ctx.self) {
      this.giveUp('leadership transfer (this node leads again)')
      return
    }
    const client = this.client
    this.end()
    this.stats.completed++
    if (client !== undefined) this.ctx.respond(client, { index: 0, result: EMPTY })
  }

  /** The target left the voters, or the node stopped leading without a successor in sight: nothing to wait for here. */
  cancelIfTarget(gone: (id: NodeId) => boolean): void {
    if (this.target !== undefined && gone(this.target)) this.giveUp('leadership transfer (the target is no longer a voter)')
  }

  stop(): void {
    if (this.timer !== undefined) this.ctx.clearTimer(this.timer)
    this.timer = undefined
  }

  private giveUp(what: string): void {
    if (this.target === undefined && this.client === undefined) return
    const client = this.client
    this.end()
    this.stats.abandoned++
    if (client !== undefined) this.ctx.reject(client, new TimeoutError(this.boundMs, what))
    if (this.host.isLeader()) this.host.resume()
  }

  private end(): void {
    this.target = undefined
    this.client = undefined
    this.sent = false
    this.stop()
  }

  /** The voter whose chosen index is highest; the first listed on a tie. */
  private mostUpToDate(): NodeId | undefined {
    let best: NodeId | undefined
    let bestChosen = -1
    for (const [id, chosen] of this.host.voterProgress()) {
      if (chosen > bestChosen) {
        best = id
        bestChosen = chosen
      }
    }
    return best
  }
}
