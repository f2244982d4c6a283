import {
  byzantineFaults,
  cborArrayHead,
  cborBytes,
  cborHead,
  cborHeadLength,
  CborWriter,
  concatBytes,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectString,
  utf8,
  expectUint,
  InvalidMessageError,
  type Membership,
  type NodeId,
  type Verifier,
  writeHead,
} from '@synod/core'
import { MERKLE_ARITY, resultLeaf, rootFromPath, type MerklePath } from './merkle.js'

// Shared by the Byzantine protocols (PBFT, HotStuff) so that one client-side
// check (`verifyReplyCertificate`, used by @synod/client) accepts the answers
// of either: the format, the leaf and the signed statement are the same.

/** One replica's signature over a batch's reply statement. */
export interface ReplyVote {
  readonly id: NodeId
  readonly sig: Uint8Array
}

type Vote = ReplyVote

/**
 * Proof that f+1 replicas executed a command at `index` with the same
 * result: their signatures on the Merkle root of the batch's results, and
 * the path from this request's leaf to that root. The leaf hashes the
 * command and the result themselves, so a client checks the certificate
 * against what it sent and what it got. Returned as the answer's `proof`.
 */
export interface ReplyCertificate {
  /** The batch's sequence number (PBFT's sequence number, HotStuff's block height). */
  readonly seq: number
  /** Synod log index of the command. */
  readonly index: number
  /** True when the state machine failed to apply the command (the result is then empty). */
  readonly failed: boolean
  readonly path: MerklePath
  readonly replies: readonly Vote[]
}

/**
 * What each replica signs for a batch: canonical CBOR `['pbft/reply', seq, root]`. The tag keeps its
 * historical 'pbft/' prefix so certificates stay byte-compatible; `seq` is PBFT's sequence number or
 * HotStuff's block height.
 */
export function replyStatement(seq: number, root: Uint8Array): Uint8Array {
  return encodeCanonical(['pbft/reply', seq, root])
}

/** The replies part, encoded once per batch and shared by every answer's certificate. */
export function encodeReplies(replies: readonly Vote[]): Uint8Array {
  return concatBytes([cborArrayHead(replies.length), ...replies.flatMap((v) => [cborArrayHead(2), ...cborText(v.id), ...cborBytes(v.sig)])])
}

function cborText(text: string): Uint8Array[] {
  const bytes = utf8(text)
  return [cborHead(3, bytes.byteLength), bytes]
}

/**
 * Canonical CBOR `[seq, index, failed, [[position, [sibling...]]...], [[id, sig]...]]`, written by hand:
 * it is built once per client answer.
 */
export function encodeReplyCertificate(cert: ReplyCertificate, encodedReplies = encodeReplies(cert.replies)): Uint8Array {
  let siblings = 0
  for (const step of cert.path) siblings += step.siblings.length
  const w = new CborWriter(32 + cert.path.length * 4 + siblings * 34 + encodedReplies.byteLength)
  w.head(4, 5).head(0, cert.seq).head(0, cert.index).head(0, cert.failed ? 1 : 0).head(4, cert.path.length)
  for (const step of cert.path) {
    w.head(4, 2).head(0, step.position).head(4, step.siblings.length)
    for (const sibling of step.siblings) w.bytes(sibling)
  }
  return w.raw(encodedReplies).finish()
}

/**
 * `encodeReplyCertificate` for the request at `position` of a batch's tree, written straight from the
 * tree's levels into one exactly sized buffer: the proxy builds one per client answer, so it skips the
 * intermediate path arrays and the trimming copy.
 */
export function encodeAnswerCertificate(
  seq: number,
  index: number,
  failed: boolean,
  levels: readonly Uint8Array[][],
  position: number,
  encodedReplies: Uint8Array,
): Uint8Array {
  let steps = 0
  let siblings = 0
  for (let depth = 0, i = position; depth < levels.length - 1; depth++, i = Math.floor(i / MERKLE_ARITY)) {
    const start = i - (i % MERKLE_ARITY)
    const size = Math.min(start + MERKLE_ARITY, levels[depth]!.length) - start
    if (size > 1) {
      steps++
      siblings += size - 1
    }
  }
  // [5] seq index failed [steps] { [2] position [k] { bytes(32) } } replies
  const length = 1 + cborHeadLength(seq) + cborHeadLength(index) + 1 + cborHeadLength(steps) + 3 * steps + 34 * siblings + encodedReplies.byteLength
  const out = new Uint8Array(length)
  out[0] = 0x85 // array(5)
  let o = writeHead(out, 1, 0, seq)
  o = writeHead(out, o, 0, index)
  out[o++] = failed ? 1 : 0
  o = writeHead(out, o, 4, steps)
  for (let depth = 0, i = position; depth < levels.length - 1; depth++, i = Math.floor(i / MERKLE_ARITY)) {
    const level = levels[depth]!
    const start = i - (i % MERKLE_ARITY)
    const end = Math.min(start + MERKLE_ARITY, level.length)
    if (end - start <= 1) continue
    out[o++] = 0x82 // array(2)
    out[o++] = i - start // position < 8
    out[o++] = 0x80 | (end - start - 1) // array(siblings < 8)
    for (let j = start; j < end; j++) {
      if (j === i) continue
      const sibling = level[j]!
      out[o++] = 0x58 // bytes, one-byte length
      out[o++] = 32
      out.set(sibling, o)
      o += 32
    }
  }
  out.set(encodedReplies, o)
  return out
}

/** A Merkle path `[[position, [sibling...]]...]` as reply and read certificates carry it. */
export function decodeMerklePath(value: unknown): MerklePath {
  return expectArray(value, 'merkle path', 64).map((item) => {
    const pair = expectArray(item, 'merkle path step', 2)
    if (pair.length !== 2) throw new InvalidMessageError('merkle path step must be [position, siblings]')
    const siblings = expectArray(pair[1], 'merkle siblings', MERKLE_ARITY - 1).map((sibling) => {
      const bytes = expectBytes(sibling, 'merkle sibling', 32)
      if (bytes.byteLength !== 32) throw new InvalidMessageError('merkle sibling must be 32 bytes')
      return bytes
    })
    if (siblings.length === 0) throw new InvalidMessageError('a merkle path step has at least one sibling')
    const position = expectUint(pair[0], 'merkle path position')
    if (position > siblings.length) throw new InvalidMessageError('merkle path position is past its siblings')
    return { position, siblings }
  })
}

/** Signed replies `[[replica, signature]...]` as reply and read certificates carry them. */
export function decodeReplyVotes(value: unknown): ReplyVote[] {
  return expectArray(value, 'replies', 1024).map((item): ReplyVote => {
    const pair = expectArray(item, 'reply', 2)
    if (pair.length !== 2) throw new InvalidMessageError('reply must be [replica, signature]')
    return { id: expectString(pair[0], 'reply replica', 256), sig: expectBytes(pair[1], 'reply signature', 64) }
  })
}

export function decodeReplyCertificate(bytes: Uint8Array): ReplyCertificate {
  const m = expectArray(decodeCanonical(bytes, 1 << 20), 'reply certificate', 5)
  if (m.length !== 5) throw new InvalidMessageError('reply certificate must be [seq, index, failed, path, replies]')
  const failed = expectUint(m[2], 'failed flag')
  if (failed > 1) throw new InvalidMessageError('failed flag must be 0 or 1')
  const path = decodeMerklePath(m[3])
  const replies = decodeReplyVotes(m[4])
  return { seq: expectUint(m[0], 'seq'), index: expectUint(m[1], 'index'), failed: failed === 1, path, replies }
}

export interface VerifiedReply {
  readonly seq: number
  readonly index: number
  readonly failed: boolean
  /** The distinct members whose valid signatures back the answer (at least f+1). */
  readonly signers: readonly NodeId[]
}

/**
 * Check a reply certificate as a client: at least f+1 distinct voters of
 * `membership` signed the root that the leaf of (index, command, result)
 * hashes up to. Throws InvalidMessageError saying what is wrong.
 */
export function verifyReplyCertificate(
  certificate: Uint8Array | ReplyCertificate,
  membership: Membership,
  verifier: Verifier,
  answer: { readonly command: Uint8Array; readonly result: Uint8Array; readonly index?: number },
): VerifiedReply {
  const cert = certificate instanceof Uint8Array ? decodeReplyCertificate(certificate) : certificate
  if (answer.index !== undefined && answer.index !== cert.index) throw new InvalidMessageError('reply certificate is for a different index')
  const root = rootFromPath(resultLeaf(cert.index, answer.command, cert.failed ? new Uint8Array(0) : answer.result, cert.failed), cert.path)
  const signed = replyStatement(cert.seq, root)
  const needed = byzantineFaults(membership.voters.length) + 1
  const signers: NodeId[] = []
  for (const reply of cert.replies) {
    if (signers.includes(reply.id)) continue
    const member = membership.voters.find((v) => v.id === reply.id)
    if (member === undefined) continue
    if (reply.sig.byteLength !== 64 || !verifier.verify(member.publicKey, signed, reply.sig)) continue
    signers.push(reply.id)
  }
  if (signers.length < needed)
    throw new InvalidMessageError(
      `reply certificate has ${signers.length} valid matching replies from distinct members, needs ${needed} (wrong command, result or signatures)`,
    )
  return { seq: cert.seq, index: cert.index, failed: cert.failed, signers }
}
