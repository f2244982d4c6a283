// The proof of a read-only answer (TOCS'02 §5.1.3): 2f+1 distinct replicas
// signed Merkle roots over their answers to a batch of reads, and for this
// read the leaf of (request, result) hashes up to each signed root. Distinct
// from the reply certificate (it starts with the tag 'ro'), so a client can
// tell which rule applies: a read needs 2f+1 matching replies, an ordered
// command f+1 (docs/adr/0008-pbft-read-only-requests.md).
import {
  byzantineQuorum,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  InvalidMessageError,
  type Membership,
  type NodeId,
  type Verifier,
} from '@synod/core'
import { CborWriter } from '@synod/core'
import { sha256 } from './digest.js'
import { decodeMerklePath, decodeReplyVotes, merklePath, rootFromPath, type MerklePath } from '@synod/crypto'
import { statement, type Vote } from './messages.js'

const READ_TAG = 'ro'
const READ_LEAF = 0x02
const FAILED_READ_LEAF = 0x03

/** Signers that share one root, with the path from the read's leaf to it. */
export interface ReadCertificateGroup {
  readonly path: MerklePath
  readonly replies: readonly Vote[]
}

export interface ReadCertificate {
  readonly groups: readonly ReadCertificateGroup[]
}

/** What a replica signs for a batch of reads: the root of its read leaves. */
export function readReplyStatement(root: Uint8Array): Uint8Array {
  return statement('read-reply', root)
}

/**
 * sha256(0x02 ‖ u32 length of the request ‖ request ‖ result); a query that
 * threw gets sha256(0x03 ‖ request), which matches no answer. Tags 0x00 and
 * 0x01 are the result leaves and inner nodes of merkle.ts, so none can pose as
 * another.
 */
export function readLeaf(request: Uint8Array, result: Uint8Array | undefined): Uint8Array {
  if (result === undefined) {
    const input = new Uint8Array(1 + request.byteLength)
    input[0] = FAILED_READ_LEAF
    input.set(request, 1)
    return sha256(input)
  }
  const n = request.byteLength
  const length = 5 + n + result.byteLength
  // One scratch buffer for the hash input: a leaf is hashed per read on every replica.
  if (scratch.byteLength < length) scratch = new Uint8Array(Math.max(length, 2 * scratch.byteLength))
  const input = scratch
  input[0] = READ_LEAF
  input[1] = n >>> 24
  input[2] = (n >>> 16) & 0xff
  input[3] = (n >>> 8) & 0xff
  input[4] = n & 0xff
  input.set(request, 5)
  input.set(result, 5 + n)
  return sha256(input.subarray(0, length))
}

let scratch = new Uint8Array(1024)

/**
 * The certificate for the read at `position`, written by hand (one per read answered; byte-identical
 * to `encodeReadCertificate`, tested): each group is the signers of one tree (levels from
 * `merkleTree`), their `[[id, sig]...]` already encoded (`encodeReplies`, shared by a batch's reads).
 */
export function buildReadCertificate(position: number, trees: ReadonlyArray<{ levels: readonly Uint8Array[][]; encodedReplies: Uint8Array }>): Uint8Array {
  const w = new CborWriter(512)
  w.head(4, 2).head(3, 2).raw(READ_TAG_BYTES).head(4, trees.length)
  for (const tree of trees) {
    const path = merklePath(tree.levels, position)
    w.head(4, 2).head(4, path.length)
    for (const step of path) {
      w.head(4, 2).head(0, step.position).head(4, step.siblings.length)
      for (const sibling of step.siblings) w.bytes(sibling)
    }
    w.raw(tree.encodedReplies)
  }
  return w.finish()
}

const READ_TAG_BYTES = new TextEncoder().encode(READ_TAG)

/** Canonical CBOR `['ro', [[[[position, [sibling...]]...], [[id, sig]...]]...]]`. */
export function encodeReadCertificate(cert: ReadCertificate): Uint8Array {
  return encodeCanonical([
    READ_TAG,
    cert.groups.map((g) => [g.path.map((step) => [step.position, [...step.siblings]]), g.replies.map((v) => [v.id, v.sig])]),
  ])
}

/** True when `bytes` decode as a read certificate (the leading 'ro' tag), false for anything else. */
export function isReadCertificate(bytes: Uint8Array): boolean {
  try {
    const value = decodeCanonical(bytes, 1 << 20)
    return Array.isArray(value) && value[0] === READ_TAG
  } catch {
    return false
  }
}

export function decodeReadCertificate(bytes: Uint8Array): ReadCertificate {
  const top = expectArray(decodeCanonical(bytes, 1 << 20), 'read certificate', 2)
  if (top.length !== 2 || top[0] !== READ_TAG) throw new InvalidMessageError("read certificate must be ['ro', groups]")
  const groups = expectArray(top[1], 'read certificate groups', 1024).map((item): ReadCertificateGroup => {
    const group = expectArray(item, 'read certificate group', 2)
    if (group.length !== 2) throw new InvalidMessageError('read certificate group must be [path, replies]')
    const path = decodeMerklePath(group[0])
    const replies = decodeReplyVotes(group[1])
    return { path, replies }
  })
  return { groups }
}

export interface VerifiedRead {
  /** The distinct members whose valid signatures back the answer (at least 2f+1). */
  readonly signers: readonly NodeId[]
}

/**
 * Check a read certificate as a client: at least 2f+1 distinct voters of
 * `membership` signed a root that the leaf of (request, result) hashes up to.
 * Throws InvalidMessageError saying what is wrong. The certificate says
 * nothing about the log index (replicas answer from whatever they executed);
 * freshness comes from the request itself (a signed envelope's timestamp).
 */
export function verifyReadCertificate(
  certificate: Uint8Array | ReadCertificate,
  membership: Membership,
  verifier: Verifier,
  answer: { readonly request: Uint8Array; readonly result: Uint8Array },
): VerifiedRead {
  const cert = certificate instanceof Uint8Array ? decodeReadCertificate(certificate) : certificate
  const leaf = readLeaf(answer.request, answer.result)
  const needed = byzantineQuorum(membership.voters.length)
  const signers: NodeId[] = []
  for (const group of cert.groups) {
    const signed = readReplyStatement(rootFromPath(leaf, group.path))
    for (const reply of group.replies) {
      if (signers.includes(reply.id)) continue
      const member = membership.voters.find((v) => v.id === reply.id)
      if (member === undefined) continue
      if (reply.sig.byteLength !== 64 || !verifier.verify(member.publicKey, signed, reply.sig)) continue
      signers.push(reply.id)
    }
  }
  if (signers.length < needed)
    throw new InvalidMessageError(
      `read certificate has ${signers.length} valid matching replies from distinct members, needs ${needed} (wrong request, result or signatures)`,
    )
  return { signers }
}
