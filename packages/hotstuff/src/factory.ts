import { byzantineFaults, CONTRACT_VERSION, type ProtocolFactory } from '@synod/core'
import { HotstuffNode } from './node.js'
import type { HotstuffOptions } from './options.js'

/** Chained HotStuff for Synod: n = 3f+1 replicas, signed votes, QCs and TCs, reply certificates of f+1 signatures. */
export const hotstuff: ProtocolFactory<HotstuffOptions> = {
  contract: CONTRACT_VERSION,
  name: 'hotstuff',
  faultModel: 'byzantine',
  maxFaulty: (n) => byzantineFaults(n),
  create: (ctx, options) => new HotstuffNode(ctx, options),
}
