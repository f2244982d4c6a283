// Members as the daemon sees them: the protocol's Membership (ids, keys)
// plus where to reach each member, kept in `Member.meta` so that it is
// replicated with every membership change and survives restarts in the log.
import { ConfigError, fromHex, fromUtf8, MAX_MEMBER_META_BYTES, toHex, utf8, type Member, type Membership } from '@synod/core'
import { peerIdFromPublicKey } from '@synod/transport-libp2p'
import { expectMultiaddr, parseHostPort, validateMember, type MemberConfig } from './config.js'

/** What `GET /v1/members` shows for one member. */
export interface MemberView {
  readonly id: string
  readonly publicKey: string
  readonly addrs: readonly string[]
  readonly http: string | null
}

/** The replicated meta of a member: its libp2p multiaddrs and HTTP address, as canonical JSON. */
export function encodeMemberMeta(member: MemberConfig): Uint8Array {
  const meta = utf8(JSON.stringify(member.http === undefined ? { addrs: member.addrs } : { addrs: member.addrs, http: member.http }))
  if (meta.byteLength > MAX_MEMBER_META_BYTES) throw new ConfigError(`addresses take over ${MAX_MEMBER_META_BYTES} bytes`, 'addrs')
  return meta
}

/**
 * Addresses from a member's meta. Meta written by another version or by
 * hand may be anything: what does not validate is ignored (undefined), so a
 * bad record can cost reachability of that member but never the node.
 */
export function decodeMemberMeta(meta: Uint8Array | undefined): { addrs: string[]; http?: string } | undefined {
  if (meta === undefined || meta.byteLength === 0) return undefined
  try {
    const raw = JSON.parse(fromUtf8(meta)) as unknown
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
    const { addrs, http } = raw as { addrs?: unknown; http?: unknown }
    if (!Array.isArray(addrs)) return undefined
    const valid = addrs.map((a, i) => expectMultiaddr(String(a), `addrs[${i}]`))
    if (http === undefined) return { addrs: valid }
    if (typeof http !== 'string') return undefined
    parseHostPort(http, 'http')
    return { addrs: valid, http }
  } catch {
    return undefined
  }
}

/** The protocol's view of a configured member: key bytes and the replicated meta. */
export function toProtocolMember(member: MemberConfig): Member {
  return { id: member.id, publicKey: fromHex(member.publicKey), meta: encodeMemberMeta(member) }
}

/** A member with its addresses: from its replicated meta, else from the local config file. */
export function describeMember(member: Member, fromConfig: MemberConfig | undefined): MemberView {
  const meta = decodeMemberMeta(member.meta)
  return {
    id: member.id,
    publicKey: toHex(member.publicKey),
    addrs: meta?.addrs ?? fromConfig?.addrs ?? [],
    http: meta?.http ?? fromConfig?.http ?? null,
  }
}

/**
 * The membership as `GET /v1/members` shows it. While a joint configuration is
 * in force (a joint-consensus change made through the library API), the old
 * voters are listed as `outgoing`; the field is absent otherwise.
 */
export function describeMembership(
  m: Membership,
  config: readonly MemberConfig[],
): { epoch: number; voters: MemberView[]; learners: MemberView[]; outgoing?: MemberView[] } {
  const byId = new Map(config.map((c) => [c.id, c]))
  const view = {
    epoch: m.epoch,
    voters: m.voters.map((v) => describeMember(v, byId.get(v.id))),
    learners: m.learners.map((l) => describeMember(l, byId.get(l.id))),
  }
  return m.outgoing === undefined ? view : { ...view, outgoing: m.outgoing.map((o) => describeMember(o, byId.get(o.id))) }
}

/** Validate a member to add (HTTP body or CLI flags): the id must be the PeerId of the public key. */
export function validateNewMember(raw: unknown, field = 'member'): MemberConfig {
  const member = validateMember(raw, field)
  if (peerIdFromPublicKey(fromHex(member.publicKey)) !== member.id)
    throw new ConfigError(`publicKey does not match id ${member.id}`, `${field}.publicKey`)
  return member
}
