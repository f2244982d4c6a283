// Protocols whose traffic per decision is known by hand, to check the
// benchmark's counting: a fixed leader n1 that sends each proposal to every
// follower and commits on a majority, with no other traffic (optionally a
// heartbeat every HEARTBEAT_MS). Message sizes are fixed, whatever the command.
//
// - 'star': append (APPEND_BYTES) to each follower, ack (ACK_BYTES) back: 2(n−1) messages, (n−1)(APPEND+ACK) bytes.
// - 'echo': append to each follower, then every follower echoes (ACK_BYTES) to every other node: (n−1) + (n−1)² = n(n−1)
//   messages, (n−1)·APPEND + (n−1)²·ACK bytes — quadratic, like PBFT's prepare and commit phases.
import { CONTRACT_VERSION, majority, NotLeaderError, voterIds, type ClientRef, type NodeId, type ProtocolContext, type ProtocolFactory, type ProtocolNode } from '@synod/core'

export const APPEND_BYTES = 37
export const ACK_BYTES = 5
export const HEARTBEAT_BYTES = 1
export const HEARTBEAT_MS = 20

const APPEND = 1
const ACK = 2
const PING = 3
const PONG = 4

function withIndex(kind: number, index: number, bytes: number): Uint8Array {
  const message = new Uint8Array(bytes)
  message[0] = kind
  new DataView(message.buffer).setUint32(1, index)
  return message
}

class CountingToy implements ProtocolNode {
  private readonly voters: NodeId[]
  private readonly leader: NodeId
  private readonly log: Array<{ command: Uint8Array; client: ClientRef }> = []
  private readonly votes = new Map<number, number>()
  private commitIndex = 0

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly shape: 'star' | 'echo',
    private readonly heartbeat: boolean,
  ) {
    this.voters = voterIds(ctx.membership)
    this.leader = this.voters[0]!
  }

  private get leads(): boolean {
    return this.ctx.self === this.leader
  }

  start(): void {
    if (!this.leads) return
    this.ctx.observe({ type: 'leader', leader: this.ctx.self, term: 1 })
    if (this.heartbeat) this.ping()
  }

  private ping(): void {
    for (const peer of this.voters) if (peer !== this.ctx.self) this.ctx.send(peer, Uint8Array.of(PING))
    this.ctx.setTimer(HEARTBEAT_MS, () => this.ping())
  }

  propose(command: Uint8Array, client: ClientRef): void {
    if (!this.leads) return this.ctx.reject(client, new NotLeaderError(this.leader))
    this.log.push({ command, client })
    const index = this.log.length
    this.votes.set(index, 1)
    for (const peer of this.voters) if (peer !== this.ctx.self) this.ctx.send(peer, withIndex(APPEND, index, APPEND_BYTES))
  }

  receive(from: NodeId, message: Uint8Array): void {
    const kind = message[0]
    if (kind === PING) return this.ctx.send(from, Uint8Array.of(PONG))
    if (kind === PONG) return
    const index = new DataView(message.buffer, message.byteOffset).getUint32(1)
    if (kind === APPEND) {
      if (this.shape === 'star') return this.ctx.send(from, withIndex(ACK, index, ACK_BYTES))
      for (const peer of this.voters) if (peer !== this.ctx.self) this.ctx.send(peer, withIndex(ACK, index, ACK_BYTES))
      return
    }
    if (!this.leads || !this.votes.has(index)) return
    const votes = this.votes.get(index)! + 1
    this.votes.set(index, votes)
    if (votes >= majority(this.voters.length)) this.votes.delete(index)
    while (this.commitIndex < this.log.length && !this.votes.has(this.commitIndex + 1)) {
      const entry = this.log[this.commitIndex]!
      this.ctx.commit({ index: ++this.commitIndex, command: entry.command, client: entry.client })
    }
  }

  status() {
    return {
      id: this.ctx.self,
      role: this.leads ? 'leader' : 'follower',
      term: 1,
      leader: this.leader,
      commitIndex: this.commitIndex,
      lastIndex: this.log.length,
      membership: this.ctx.membership,
    }
  }

  stop(): void {}
}

export function countingToy(shape: 'star' | 'echo', heartbeat = false): ProtocolFactory {
  return {
    contract: CONTRACT_VERSION,
    name: `counting-${shape}${heartbeat ? '-heartbeat' : ''}`,
    faultModel: 'crash',
    maxFaulty: (n) => Math.floor((n - 1) / 2),
    create: (ctx) => new CountingToy(ctx, shape, heartbeat),
  }
}
