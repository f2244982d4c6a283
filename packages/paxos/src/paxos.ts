import { CONTRACT_VERSION, type ProtocolContext, type ProtocolFactory } from '@synod/core'
import { isUrgentMessage } from './messages.js'
import type { PaxosOptions } from './options.js'
import { PaxosNode } from './paxos-node.js'

/** A ProtocolFactory whose nodes are {@link PaxosNode}s. */
export interface PaxosFactory extends ProtocolFactory<PaxosOptions> {
  create(ctx: ProtocolContext, options?: Partial<PaxosOptions>): PaxosNode
}

/** Multi-Paxos with a stable leader: crash fault model, n = 2f + 1. */
export const paxos: PaxosFactory = {
  contract: CONTRACT_VERSION,
  name: 'paxos',
  faultModel: 'crash',
  maxFaulty: (n: number) => Math.floor((n - 1) / 2),
  create: (ctx, options) => new PaxosNode(ctx, options),
  // Elections, heartbeats and acknowledgements go ahead of Accepts and client requests.
  isUrgent: isUrgentMessage,
}
