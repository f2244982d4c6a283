import { CONTRACT_VERSION, type ProtocolContext, type ProtocolFactory } from '@synod/core'
import { isUrgentMessage } from './messages.js'
import type { RaftOptions } from './options.js'
import { RaftNode } from './raft-node.js'

/** A ProtocolFactory whose nodes are {@link RaftNode}s (with `transferLeadership` and `proposeConfigChange`). */
export interface RaftFactory extends ProtocolFactory<RaftOptions> {
  create(ctx: ProtocolContext, options?: Partial<RaftOptions>): RaftNode
}

/** The Raft protocol: crash fault model, n = 2f + 1. */
export const raft: RaftFactory = {
  contract: CONTRACT_VERSION,
  name: 'raft',
  faultModel: 'crash',
  maxFaulty: (n: number) => Math.floor((n - 1) / 2),
  create: (ctx, options) => new RaftNode(ctx, options),
  // Heartbeats, votes and answers go ahead of AppendEntries and client requests in the Replica and the transport.
  isUrgent: isUrgentMessage,
}
