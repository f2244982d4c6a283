/** A node's identity. In the daemon it is the libp2p PeerId string. */
export type NodeId = string

export interface Member {
  readonly id: NodeId
  /** ed25519 public key (32 bytes); empty where a protocol does not sign. */
  readonly publicKey: Uint8Array
  /**
   * Opaque application data replicated with the membership, e.g. where to
   * reach the member (the daemon keeps its multiaddrs and HTTP address here).
   * Protocols carry it unchanged through membership changes. At most
   * {@link MAX_MEMBER_META_BYTES}.
   */
  readonly meta?: Uint8Array
}

export const MAX_MEMBER_META_BYTES = 4096

/**
 * A single-server membership change (Raft dissertation §4.1). Adding a
 * member that is a learner as a voter promotes it; `remove` drops a voter or
 * a learner.
 */
export type SingleMembershipChange =
  | { readonly type: 'add-voter'; readonly member: Member }
  | { readonly type: 'add-learner'; readonly member: Member }
  | { readonly type: 'remove'; readonly id: NodeId }

/**
 * Several single changes made together by joint consensus (Raft paper §6,
 * dissertation §4.3): the changes are applied in order to the current
 * configuration to give the new one, and the cluster passes through a joint
 * configuration (see {@link Membership.outgoing}) in which every decision
 * needs a majority of both the old and the new voters.
 */
export interface JointMembershipChange {
  readonly type: 'joint'
  readonly changes: readonly SingleMembershipChange[]
}

/**
 * A membership change, requested with `Replica.reconfigure`: a single-server
 * change, or several at once by joint consensus (protocols that do not
 * implement joint consensus refuse `joint` with a ConfigError).
 */
export type MembershipChange = SingleMembershipChange | JointMembershipChange

/**
 * A configuration of the cluster. Only `voters` count towards quorums;
 * `learners` receive the log but never vote. `epoch` grows with every change.
 *
 * While a joint configuration is in force (joint consensus), `outgoing` holds
 * the previous voters: decisions then need a majority of `voters` AND a
 * majority of `outgoing`. It is absent otherwise.
 */
export interface Membership {
  readonly epoch: number
  readonly voters: readonly Member[]
  readonly learners: readonly Member[]
  readonly outgoing?: readonly Member[]
}

export function membership(voters: readonly Member[], learners: readonly Member[] = [], epoch = 0): Membership {
  const ids = new Set<NodeId>()
  for (const m of [...voters, ...learners]) {
    if (ids.has(m.id)) throw new Error(`duplicate member ${m.id} in membership`)
    ids.add(m.id)
  }
  return { epoch, voters: [...voters], learners: [...learners] }
}

/** Members named by id with no keys: convenient for crash-fault protocols and tests. */
export function membershipOf(ids: readonly NodeId[]): Membership {
  return membership(ids.map((id) => ({ id, publicKey: new Uint8Array(0) })))
}

export function voterIds(m: Membership): NodeId[] {
  return m.voters.map((v) => v.id)
}

/** Every member: voters, learners and, while joint, the outgoing voters (each id once). */
export function allMemberIds(m: Membership): NodeId[] {
  const ids = [...m.voters, ...m.learners].map((v) => v.id)
  for (const o of m.outgoing ?? []) if (!ids.includes(o.id)) ids.push(o.id)
  return ids
}

/** A voter, a learner, or (while joint) an outgoing voter. */
export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.some((v) => v.id === id) || m.learners.some((v) => v.id === id) || (m.outgoing?.some((v) => v.id === id) ?? false)
}

/** Whether a joint configuration is in force (`outgoing` is present). */
export function isJoint(m: Membership): boolean {
  return m.outgoing !== undefined
}

/** The members a change adds or promotes (to check their meta, for example). */
export function changedMembers(change: MembershipChange): Member[] {
  if (change.type === 'joint') return change.changes.flatMap((c) => changedMembers(c))
  return change.type === 'remove' ? [] : [change.member]
}

/** Majority quorum for crash-fault protocols: ⌊n/2⌋+1. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1
}

/** Largest f with n ≥ 3f+1. */
export function byzantineFaults(n: number): number {
  return Math.floor((n - 1) / 3)
}

/** Quorum for byzantine protocols: ⌈(n+f+1)/2⌉, which is 2f+1 when n = 3f+1. */
export function byzantineQuorum(n: number): number {
  return Math.ceil((n + byzantineFaults(n) + 1) / 2)
}
