import {
  ConfigError,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectString,
  expectUint,
  InvalidMessageError,
  majority,
  MAX_MEMBER_META_BYTES,
  type Member,
  type Membership,
  type MembershipChange,
  type NodeId,
  type SingleMembershipChange,
} from '@synod/core'

/** Most members (voters plus learners) a configuration may list. */
export const MAX_MEMBERS = 256

/**
 * The configuration in force for the slots after the last chosen
 * configuration value (ADR 0014): who votes (quorums of phase 1 and 2,
 * who may campaign) and who learns (receives Accepts, heartbeats and Learns
 * but is never counted).
 */
export class Configuration {
  readonly membership: Membership
  readonly voters: ReadonlySet<NodeId>
  readonly learners: ReadonlySet<NodeId>
  readonly quorum: number

  constructor(membership: Membership) {
    // A Paxos configuration switches at one slot (a stop-sign): there is never a joint one.
    this.membership = { epoch: membership.epoch, voters: membership.voters, learners: membership.learners }
    this.voters = new Set(membership.voters.map((m) => m.id))
    this.learners = new Set(membership.learners.map((m) => m.id))
    this.quorum = majority(this.voters.size)
  }

  isVoter(id: NodeId): boolean {
    return this.voters.has(id)
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id)
  }

  /** Everyone but `self`: voters first, then learners. */
  others(self: NodeId): NodeId[] {
    return [...this.voters, ...this.learners].filter((id) => id !== self)
  }
}

/**
 * The membership after `change` (epoch + 1), or ConfigError for a change that
 * makes no sense. A joint change is applied as a whole at one slot: with a
 * stop-sign the old and new voter sets need not overlap (ADR 0014), so no
 * joint configuration C(old,new) is passed through.
 */
export function applyMembershipChange(current: Membership, change: MembershipChange): Membership {
  let next: Membership = current
  if (change.type === 'joint') {
    if (!Array.isArray(change.changes) || change.changes.length === 0) throw new ConfigError('a joint change needs at least one change', 'changes')
    for (const single of change.changes) {
      if ((single.type as string) === 'joint') throw new ConfigError('joint changes do not nest', 'changes')
      next = applySingle(next, single)
    }
  } else next = applySingle(current, change)
  if (next.voters.length === 0) throw new ConfigError('the new configuration has no voter', 'id')
  if (next.voters.length + next.learners.length > MAX_MEMBERS) throw new ConfigError(`more than ${MAX_MEMBERS} members`, 'member')
  return { epoch: current.epoch + 1, voters: next.voters, learners: next.learners }
}

function applySingle(current: Membership, change: SingleMembershipChange): Membership {
  if (change.type !== 'remove' && (change.member.meta?.byteLength ?? 0) > MAX_MEMBER_META_BYTES)
    throw new ConfigError(`member meta is over ${MAX_MEMBER_META_BYTES} bytes`, 'meta')
  const id = change.type === 'remove' ? change.id : change.member.id
  const voters = current.voters.filter((m) => m.id !== id)
  const learners = current.learners.filter((m) => m.id !== id)
  switch (change.type) {
    case 'add-voter':
      if (current.voters.some((m) => m.id === id)) throw new ConfigError(`${id} is already a voter`, 'member')
      voters.push(change.member)
      break
    case 'add-learner':
      if (current.voters.some((m) => m.id === id)) throw new ConfigError(`${id} is a voter; remove it first to demote it`, 'member')
      if (current.learners.some((m) => m.id === id)) throw new ConfigError(`${id} is already a learner`, 'member')
      learners.push(change.member)
      break
    case 'remove':
      if (voters.length === current.voters.length && learners.length === current.learners.length) throw new ConfigError(`${id} is not a member`, 'id')
      break
    default:
      throw new ConfigError(`unknown membership change ${String((change as { type: unknown }).type)}`, 'type')
  }
  return { epoch: current.epoch, voters, learners }
}

// Encoding: [epoch, [[id, publicKey, meta] ...voters], [[id, publicKey, meta] ...learners]], canonical CBOR.

function encodeMember(m: Member): unknown[] {
  return [m.id, m.publicKey, m.meta ?? new Uint8Array(0)]
}

export function encodeMembership(m: Membership): Uint8Array {
  return encodeCanonical([m.epoch, m.voters.map(encodeMember), m.learners.map(encodeMember)])
}

function decodeMembers(raw: unknown, what: string): Member[] {
  return expectArray(raw, what, MAX_MEMBERS).map((r) => {
    const f = expectArray(r, 'member', 3)
    if (f.length !== 3) throw new InvalidMessageError('a member has 3 fields')
    const meta = expectBytes(f[2], 'meta', MAX_MEMBER_META_BYTES)
    const member: Member = { id: expectString(f[0], 'member id', 1024), publicKey: expectBytes(f[1], 'public key', 64) }
    return meta.byteLength === 0 ? member : { ...member, meta }
  })
}

/** Strict: InvalidMessageError on anything malformed, duplicated or without a voter. */
export function decodeMembership(bytes: Uint8Array): Membership {
  const f = expectArray(decodeCanonical(bytes), 'membership', 3)
  if (f.length !== 3) throw new InvalidMessageError('a membership has 3 fields')
  const membership: Membership = { epoch: expectUint(f[0], 'epoch'), voters: decodeMembers(f[1], 'voters'), learners: decodeMembers(f[2], 'learners') }
  const ids = new Set<NodeId>()
  for (const m of [...membership.voters, ...membership.learners]) {
    if (ids.has(m.id)) throw new InvalidMessageError(`member ${m.id} listed twice`)
    ids.add(m.id)
  }
  if (membership.voters.length === 0) throw new InvalidMessageError('a membership without voters')
  if (ids.size > MAX_MEMBERS) throw new InvalidMessageError(`more than ${MAX_MEMBERS} members`)
  return membership
}
