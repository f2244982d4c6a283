// Raft's test network: the shared direct-drive network of @synod/protocol-test-kit
// (batches as the Replica runs them, virtual time, faults) with RaftNodes in it,
// reached as `node.raft`, and Raft's own client calls (reconfigure, transfer, read).
import type { Membership, MembershipChange, NodeId } from '@synod/core'
import type { MemoryStorage } from '@synod/storage'
import { TestCluster as KitCluster, TestNode as KitNode, type ClusterOptions as KitOptions } from '@synod/protocol-test-kit'
import { raft, type RaftNode, type RaftOptions } from '../../src/index.js'

export { seededRandom, str, text, type Envelope, type Outcome } from '@synod/protocol-test-kit'
import { text } from '@synod/protocol-test-kit'

/** One simulated server running a RaftNode. */
export class TestNode extends KitNode<RaftNode, RaftOptions> {
  get raft(): RaftNode {
    return this.protocol
  }
}

export interface ClusterOptions extends Omit<KitOptions<RaftOptions>, 'protocol'> {
  readonly raft?: Partial<RaftOptions>
}

export class TestCluster extends KitCluster<RaftNode, RaftOptions, TestNode> {
  constructor(ids: readonly NodeId[], options: ClusterOptions = {}) {
    const { raft: raftOptions, ...rest } = options
    super(raft, ids, { ...rest, ...(raftOptions === undefined ? {} : { protocol: raftOptions }) })
  }

  protected override createNode(id: NodeId, storage: MemoryStorage, membership: Membership, options: Partial<RaftOptions>): TestNode {
    return new TestNode(id, storage, this, membership, options, raft)
  }

  /** `RaftNode.reconfigure` on `id` (the Replica's entry); returns the client ref id. */
  reconfigure(id: NodeId, change: MembershipChange): number {
    return this.clientCall(id, (node, client) => node.reconfigure(change, client))
  }

  /** `RaftNode.transferLeadership(target, client)` on `id` (the Replica's entry); returns the client ref id. */
  transfer(id: NodeId, target?: NodeId): number {
    return this.clientCall(id, (node, client) => node.transferLeadership(target, client))
  }

  read(id: NodeId): number {
    const client = { id: this.nextClientId++ }
    const node = this.node(id)
    node.batch(() => node.raft.read(new Uint8Array(0), client))
    return client.id
  }
}

// ---- building logs by hand (Figure 7 / Figure 8 setups) ----

import { commandEntryData } from '../../src/entry.js'
import { encodeMessage, decodeMessage, MessageType, type RaftMessage } from '../../src/messages.js'

/** Fill `storage` with entries whose terms are `terms` (index 1..n) and set the current term. */
export function seedLog(storage: MemoryStorage, terms: readonly number[], currentTerm: number): void {
  storage.append(terms.map((term, i) => ({ index: i + 1, term, data: commandEntryData(text(`t${term}i${i + 1}`)) })))
  const hard = new Uint8Array(8 + 2 + 8)
  new DataView(hard.buffer).setUint32(4, currentTerm)
  storage.setHardState('raft.hardState', hard)
  void storage.sync()
}

export function logTerms(storage: MemoryStorage): number[] {
  const out: number[] = []
  for (let i = storage.firstIndex(); i <= storage.lastIndex(); i++) out.push(storage.term(i)!)
  return out
}

const limits = { maxEntryBytes: 1 << 20, maxSnapshotBytes: 1 << 30 }
export function decode(bytes: Uint8Array): RaftMessage {
  return decodeMessage(bytes, limits)
}
export { encodeMessage, MessageType }
