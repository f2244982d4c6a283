import { byzantineFaults, CONTRACT_VERSION, type ProtocolFactory } from '@synod/core'
import { PbftNode } from './node.js'
import type { PbftOptions } from './options.js'

/** PBFT for Synod: n = 3f+1 replicas, signed messages, reply certificates of f+1 signed replies. */
export const pbft: ProtocolFactory<PbftOptions> = {
  contract: CONTRACT_VERSION,
  name: 'pbft',
  faultModel: 'byzantine',
  maxFaulty: (n) => byzantineFaults(n),
  create: (ctx, options) => new PbftNode(ctx, options),
}
