// Paxos's test network: the shared direct-drive network of @synod/protocol-test-kit
// (batches as the Replica runs them, virtual time, faults, traffic recording,
// crash after a sync) with PaxosNodes in it, reached as `node.paxos`.
import type { Membership, MembershipChange, NodeId } from '@synod/core'
import type { MemoryStorage } from '@synod/storage'
import { TestCluster as KitCluster, TestNode as KitNode, type ClusterOptions as KitOptions } from '@synod/protocol-test-kit'
import { paxos, type PaxosNode, type PaxosOptions } from '../../src/index.js'

export { seededRandom, str, text, type Envelope, type Outcome } from '@synod/protocol-test-kit'

/** One simulated server running a PaxosNode. */
export class TestNode extends KitNode<PaxosNode, PaxosOptions> {
  get paxos(): PaxosNode {
    return this.protocol
  }
}

export interface ClusterOptions extends Omit<KitOptions<PaxosOptions>, 'protocol'> {
  readonly paxos?: Partial<PaxosOptions>
}

export class TestCluster extends KitCluster<PaxosNode, PaxosOptions, TestNode> {
  constructor(ids: readonly NodeId[], options: ClusterOptions = {}) {
    const { paxos: paxosOptions, ...rest } = options
    super(paxos, ids, { ...rest, ...(paxosOptions === undefined ? {} : { protocol: paxosOptions }) })
  }

  /** `PaxosNode.reconfigure` on `id` (the Replica's entry); returns the client ref id. */
  reconfigure(id: NodeId, change: MembershipChange): number {
    return this.clientCall(id, (node, client) => node.reconfigure(change, client))
  }

  /** `PaxosNode.transferLeadership(target, client)` on `id`; returns the client ref id. */
  transfer(id: NodeId, target?: NodeId): number {
    return this.clientCall(id, (node, client) => node.transferLeadership(target, client))
  }

  protected override createNode(id: NodeId, storage: MemoryStorage, membership: Membership, options: Partial<PaxosOptions>): TestNode {
    return new TestNode(id, storage, this, membership, options, paxos)
  }
}

// ---- reaching into a node, for directed tests ----

import { decodeMessage, MessageType, type PaxosMessage } from '../../src/index.js'
export { MessageType }

const limits = { maxCommandBytes: 1 << 20, maxSnapshotBytes: 1 << 24, maxSlotsPerMessage: 1024 }
export function decode(bytes: Uint8Array): PaxosMessage {
  return decodeMessage(bytes, limits)
}

/** Make `id` start phase 1 now, as if its election timer fired. */
export function forceCampaign(c: TestCluster, id: NodeId): void {
  const node = c.node(id)
  node.batch(() => (node.paxos as unknown as { campaign(): void }).campaign())
}
