import {
  cborHeadLength,
  bytesEqual,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectOnlyKeys,
  expectRecord,
  expectString,
  expectUint,
  InvalidMessageError,
  type NodeId,
  writeHead,
} from '@synod/core'
import { sha256 } from './digest.js'

// Wire format: canonical CBOR maps with one-letter keys and a kind `k`.
// Signatures are over canonical statements `[tag, ...fields]` (see `statement`),
// never over the envelope, so a message and its certificate form share them.

const SIG_BYTES = 64
const DIGEST_BYTES = 32
const MAX_ID = 256
/** Upper bound on list lengths inside one message (bundles, requests, certificate entries). */
const MAX_ITEMS = 1 << 16
/** Tags in one authenticator: one per voter. */
const MAX_AUTHENTICATOR = 1024
/** Chunk digests in one state manifest (at 1 MiB chunks: snapshots up to 256 GiB, a 8 MiB manifest). */
const MAX_CHUNKS = 1 << 18

export type Signature = Uint8Array
export type Digest = Uint8Array

/** A member's signature inside a certificate. */
export interface Vote {
  readonly id: NodeId
  readonly sig: Signature
}

/**
 * A signed bundle of client requests from one proxy replica: the PBFT
 * request, with `ts` playing the client timestamp (one bundle in flight
 * per proxy, executed only if `ts` is above the proxy's last executed one).
 */
export interface Bundle {
  readonly proxy: NodeId
  readonly ts: number
  readonly ops: readonly Uint8Array[]
  /** Canonical bytes of {p, t, r}: what the proxy authenticated. */
  readonly body: Uint8Array
  /** sha256(body). */
  readonly digest: Digest
  /** 'signature' mode: the proxy's ed25519 signature on `statement('request', digest)`. */
  readonly sig?: Signature
  /**
   * 'mac' mode: the authenticator, one HMAC-SHA256 tag per voter in membership
   * order, each over `statement('request', digest)` under the key the proxy
   * shares with that voter. Exactly one of `sig` and `tags` is present.
   */
  readonly tags?: readonly Uint8Array[]
}

export interface PrePrepare {
  readonly k: 'pp'
  readonly view: number
  readonly seq: number
  readonly bundles: readonly Bundle[]
  /** Digest of the batch: sha256 of the canonical list of bundle digests. */
  readonly digest: Digest
  readonly sig: Signature
}

export interface PhaseVote {
  readonly k: 'p' | 'c'
  readonly view: number
  readonly seq: number
  readonly digest: Digest
  readonly sig: Signature
}

export interface Checkpoint {
  readonly k: 'ck'
  readonly seq: number
  /** State digest (see `stateDigest`). */
  readonly digest: Digest
  readonly sig: Signature
}

export interface Reply {
  readonly k: 'r'
  readonly seq: number
  /** Merkle root of the batch's execution results. */
  readonly root: Digest
  readonly sig: Signature
}

/**
 * Certificate that a batch prepared in `view`: the primary's pre-prepare signature and 2f prepares.
 * It names the batch by digest only (TOCS'02 §4.4): view changes stay small at any batch size, and a
 * replica missing the body fetches it from a peer (see batch-fetch.ts).
 */
export interface PreparedCertificate {
  readonly view: number
  readonly seq: number
  readonly digest: Digest
  readonly prePrepareSig: Signature
  readonly prepares: readonly Vote[]
}

/** A stable checkpoint and its 2f+1 signatures (seq 0 is the genesis and needs none). */
export interface CheckpointCertificate {
  readonly seq: number
  readonly digest: Digest
  readonly votes: readonly Vote[]
}

export interface ViewChange {
  readonly k: 'vc'
  readonly view: number
  readonly replica: NodeId
  readonly checkpoint: CheckpointCertificate
  readonly prepared: readonly PreparedCertificate[]
  readonly body: Uint8Array
  readonly sig: Signature
}

export interface NewView {
  readonly k: 'nv'
  readonly view: number
  /** The 2f+1 view-change messages the primary chose (raw envelopes, re-verified by every replica). */
  readonly viewChanges: readonly ViewChange[]
  /** The new primary's pre-prepare signature for each sequence number of the recomputed O set, in order. */
  readonly prePrepareSigs: readonly Signature[]
  readonly body: Uint8Array
  readonly sig: Signature
}

export interface Status {
  readonly k: 'st'
  readonly view: number
  readonly stable: number
  /** The sender's last executed sequence number: a replica that stalled below it fetches commit certificates (unsigned: only a hint). */
  readonly executed: number
  /** Whether the sender's view is installed (false: it is changing to `view`), so peers in that view re-send their NEW-VIEW. */
  readonly active: boolean
}

/** Ask a peer for the manifest of its stable checkpoint at `seq` or later. */
export interface FetchState {
  readonly k: 'fs'
  readonly seq: number
}

/**
 * The manifest of a stable checkpoint: its certificate, the execution metadata and the
 * snapshot's size and per-chunk digests (see chunks.ts), which hash to the certified digest.
 * The chunks themselves come one by one ('fc' / 'sc').
 */
export interface StateTransfer {
  readonly k: 'sx'
  readonly checkpoint: CheckpointCertificate
  readonly meta: Uint8Array
  readonly size: number
  readonly hashes: readonly Digest[]
}

export interface CheckpointCertificateMessage {
  readonly k: 'cc'
  readonly checkpoint: CheckpointCertificate
}

export interface RequestMessage {
  readonly k: 'rq'
  readonly bundle: Bundle
}

/**
 * Read-only requests (§5.1.3) from a proxy: the requests, and the proxy's own
 * read leaves so that a replica whose answers agree need not send them back.
 */
export interface ReadRequest {
  readonly k: 'rd'
  /** The proxy's read batch number, echoed in the reply. */
  readonly id: number
  readonly requests: readonly Uint8Array[]
  /** The proxy's leaf per request (`readLeaf`), as many as requests. */
  readonly leaves: readonly Digest[]
}

/** A replica's answer to a read batch: its signature on the root of its own leaves, and the leaves that differ from the proxy's. */
export interface ReadReply {
  readonly k: 'ra'
  readonly id: number
  readonly sig: Signature
  /** [position, leaf] where this replica's leaf differs from the proxy's, ascending positions. */
  readonly diffs: ReadonlyArray<readonly [number, Digest]>
}

/** Ask a peer for the commit certificates of the batches it executed from `seq` on (catch-up, docs/adr/0010). */
export interface FetchCommitted {
  readonly k: 'fk'
  readonly seq: number
}

/**
 * A batch and 2f+1 signed commits of one view for it: proof that it is committed at its
 * sequence number in every view (TOCS'02 §4.4), so any replica may execute it, in order.
 */
export interface CommitCertificate {
  readonly view: number
  readonly seq: number
  readonly bundles: readonly Bundle[]
  readonly digest: Digest
  readonly commits: readonly Vote[]
}

export interface CommittedBatches {
  readonly k: 'cb'
  readonly batches: readonly CommitCertificate[]
}

export type PbftMessage =
  | RequestMessage
  | PrePrepare
  | PhaseVote
  | Checkpoint
  | Reply
  | ViewChange
  | NewView
  | Status
  | FetchState
  | StateTransfer
  | CheckpointCertificateMessage
  | BatchFetch
  | BatchBody
  | FetchChunk
  | StateChunk
  | ReadRequest
  | ReadReply
  | FetchCommitted
  | CommittedBatches

/** Ask a peer for the body of the batch with `digest` at `seq` (a view change told us the digest only). */
export interface BatchFetch {
  readonly k: 'bf'
  readonly seq: number
  readonly digest: Digest
}

/** A batch body; the receiver checks that it hashes to the digest it asked for. */
export interface BatchBody {
  readonly k: 'bb'
  readonly seq: number
  readonly bundles: readonly Bundle[]
  readonly digest: Digest
}

/** Ask for chunk `index` of the snapshot of the stable checkpoint at `seq`. */
export interface FetchChunk {
  readonly k: 'fc'
  readonly seq: number
  readonly index: number
}

export interface StateChunk {
  readonly k: 'sc'
  readonly seq: number
  readonly index: number
  readonly data: Uint8Array
}

// ---- statements (what is signed) ----

export function statement(tag: string, ...fields: ReadonlyArray<number | string | Uint8Array>): Uint8Array {
  return encodeCanonical([`pbft/${tag}`, ...fields])
}

export function batchDigest(bundles: readonly Bundle[]): Digest {
  return sha256(encodeCanonical(bundles.map((b) => b.digest)))
}

/**
 * The digest checkpoints agree on: the root of the snapshot's chunk digests (see chunks.ts, so the
 * snapshot can be fetched and checked chunk by chunk) and the protocol's replicated metadata.
 */
export function stateDigest(chunksRoot: Digest, meta: Uint8Array): Digest {
  return sha256(encodeCanonical(['pbft/state', chunksRoot, sha256(meta)]))
}

// ---- encoders ----

/**
 * Canonical CBOR of `{p: proxy, r: ops, t: ts}` (keys in canonical order), written by hand into one
 * exactly sized buffer: a proxy encodes up to `maxBundleRequests` commands per bundle, and the generic
 * encoder's per-item work showed in the benchmark profile. Byte-identical to `encodeCanonical` (tested).
 */
export function encodeBundleBody(proxy: NodeId, ts: number, ops: readonly Uint8Array[]): Uint8Array {
  const id = textEncoder.encode(proxy)
  let length = 1 + 2 + cborHeadLength(id.byteLength) + id.byteLength + 2 + cborHeadLength(ops.length) + 2 + cborHeadLength(ts)
  for (const op of ops) length += cborHeadLength(op.byteLength) + op.byteLength
  const out = new Uint8Array(length)
  let o = 0
  out[o++] = 0xa3 // map(3)
  out[o++] = 0x61 // "p"
  out[o++] = 0x70
  o = writeHead(out, o, 3, id.byteLength)
  out.set(id, o)
  o += id.byteLength
  out[o++] = 0x61 // "r"
  out[o++] = 0x72
  o = writeHead(out, o, 4, ops.length)
  for (const op of ops) {
    o = writeHead(out, o, 2, op.byteLength)
    out.set(op, o)
    o += op.byteLength
  }
  out[o++] = 0x61 // "t"
  out[o++] = 0x74
  o = writeHead(out, o, 0, ts)
  return out
}

const textEncoder = new TextEncoder()

function bundleWire(b: Bundle): unknown {
  return b.tags !== undefined ? { b: b.body, a: b.tags } : { b: b.body, g: b.sig }
}

function votesWire(votes: readonly Vote[]): unknown {
  return votes.map((v) => [v.id, v.sig])
}

function checkpointCertWire(c: CheckpointCertificate): unknown {
  return { s: c.seq, d: c.digest, g: votesWire(c.votes) }
}

function preparedCertWire(p: PreparedCertificate): Record<string, unknown> {
  return { v: p.view, s: p.seq, d: p.digest, g: p.prePrepareSig, r: votesWire(p.prepares) }
}

/**
 * For storage: a prepared certificate survives a crash so that view changes still report it, with the
 * batch body when known (a replica that prepared a batch keeps it for peers that miss it after a view change).
 */
export function encodePreparedCertificate(p: PreparedCertificate, body: readonly Bundle[] | undefined): Uint8Array {
  return encodeCanonical(body === undefined ? preparedCertWire(p) : { ...preparedCertWire(p), q: body.map(bundleWire) })
}

export function decodePreparedCertificate(bytes: Uint8Array): { cert: PreparedCertificate; body: Bundle[] | undefined } {
  const record = expectRecord(decodeCanonical(bytes), 'stored prepared certificate')
  const { q, ...rest } = record
  const cert = decodePreparedCertWire(rest)
  const body = q === undefined ? undefined : decodeBundles(q)
  if (body !== undefined && !bytesEqual(batchDigest(body), cert.digest)) throw new InvalidMessageError('stored prepared batch does not match its digest')
  return { cert, body }
}

/** A pre-prepare as logged in storage: with its batch, or (a new-view entry whose body is being fetched) its digest only. */
export function encodeLoggedPrePrepare(view: number, seq: number, digest: Digest, sig: Signature, body: readonly Bundle[] | undefined): Uint8Array {
  return body === undefined ? encodeCanonical({ k: 'ppd', v: view, s: seq, d: digest, g: sig }) : encodePrePrepare(view, seq, body, sig)
}

export function decodeLoggedPrePrepare(bytes: Uint8Array): { view: number; seq: number; digest: Digest; sig: Signature; bundles: Bundle[] | undefined } {
  const m = expectRecord(decodeCanonical(bytes), 'stored pre-prepare')
  if (m['k'] === 'pp') {
    const pp = decodeMessage(bytes) as PrePrepare
    return { view: pp.view, seq: pp.seq, digest: pp.digest, sig: pp.sig, bundles: [...pp.bundles] }
  }
  expectOnlyKeys(m, ['k', 'v', 's', 'd', 'g'], 'stored pre-prepare')
  if (m['k'] !== 'ppd') throw new InvalidMessageError('stored pre-prepare has an unknown kind')
  return { view: expectUint(m['v'], 'view'), seq: expectUint(m['s'], 'seq'), digest: expectDigest(m['d'], 'digest'), sig: expectSig(m['g'], 'signature'), bundles: undefined }
}

export function encodeCheckpointCertificateMessage(cert: CheckpointCertificate): Uint8Array {
  return encodeCanonical({ k: 'cc', c: checkpointCertWire(cert) })
}

/** What the storage snapshot's `meta` holds: the execution metadata and the stable checkpoint's certificate. */
export function encodeStoredMeta(meta: Uint8Array, cert: CheckpointCertificate): Uint8Array {
  return encodeCanonical({ m: meta, c: checkpointCertWire(cert) })
}

export function decodeStoredMeta(bytes: Uint8Array): { meta: Uint8Array; cert: CheckpointCertificate } {
  const m = expectRecord(decodeCanonical(bytes), 'stored snapshot meta')
  expectOnlyKeys(m, ['m', 'c'], 'stored snapshot meta')
  return { meta: expectBytes(m['m'], 'meta'), cert: decodeCheckpointCertificate(m['c']) }
}

export function encodeRequest(bundle: Bundle): Uint8Array {
  return encodeCanonical({ k: 'rq', q: bundleWire(bundle) })
}

export function encodePrePrepare(view: number, seq: number, bundles: readonly Bundle[], sig: Signature): Uint8Array {
  return encodeCanonical({ k: 'pp', v: view, s: seq, q: bundles.map(bundleWire), g: sig })
}

export function encodePhaseVote(k: 'p' | 'c', view: number, seq: number, digest: Digest, sig: Signature): Uint8Array {
  return encodeCanonical({ k, v: view, s: seq, d: digest, g: sig })
}

export function encodeCheckpoint(seq: number, digest: Digest, sig: Signature): Uint8Array {
  return encodeCanonical({ k: 'ck', s: seq, d: digest, g: sig })
}

export function encodeReply(seq: number, root: Digest, sig: Signature): Uint8Array {
  return encodeCanonical({ k: 'r', s: seq, d: root, g: sig })
}

export function encodeViewChangeBody(
  view: number,
  replica: NodeId,
  checkpoint: CheckpointCertificate,
  prepared: readonly PreparedCertificate[],
): Uint8Array {
  return encodeCanonical({
    v: view,
    i: replica,
    c: checkpointCertWire(checkpoint),
    p: prepared.map(preparedCertWire),
  })
}

export function encodeSignedBody(k: 'vc' | 'nv', body: Uint8Array, sig: Signature): Uint8Array {
  return encodeCanonical({ k, b: body, g: sig })
}

export function encodeNewViewBody(view: number, viewChanges: readonly ViewChange[], prePrepareSigs: readonly Signature[]): Uint8Array {
  return encodeCanonical({ v: view, V: viewChanges.map((vc) => ({ b: vc.body, g: vc.sig })), O: prePrepareSigs })
}

export function encodeStatus(view: number, stable: number, executed: number, active: boolean): Uint8Array {
  return encodeCanonical({ k: 'st', v: view, h: stable, e: executed, a: active ? 1 : 0 })
}

export function encodeFetchCommitted(seq: number): Uint8Array {
  return encodeCanonical({ k: 'fk', s: seq })
}

export function encodeCommittedBatches(batches: readonly CommitCertificate[]): Uint8Array {
  return encodeCanonical({ k: 'cb', b: batches.map((c) => ({ v: c.view, s: c.seq, q: c.bundles.map(bundleWire), c: votesWire(c.commits) })) })
}

export function encodeFetchState(seq: number): Uint8Array {
  return encodeCanonical({ k: 'fs', s: seq })
}

export function encodeStateTransfer(checkpoint: CheckpointCertificate, meta: Uint8Array, size: number, hashes: readonly Digest[]): Uint8Array {
  return encodeCanonical({ k: 'sx', c: checkpointCertWire(checkpoint), m: meta, z: size, h: hashes })
}

export function encodeBatchFetch(seq: number, digest: Digest): Uint8Array {
  return encodeCanonical({ k: 'bf', s: seq, d: digest })
}

export function encodeBatchBody(seq: number, bundles: readonly Bundle[]): Uint8Array {
  return encodeCanonical({ k: 'bb', s: seq, q: bundles.map(bundleWire) })
}

export function encodeFetchChunk(seq: number, index: number): Uint8Array {
  return encodeCanonical({ k: 'fc', s: seq, i: index })
}

export function encodeStateChunk(seq: number, index: number, data: Uint8Array): Uint8Array {
  return encodeCanonical({ k: 'sc', s: seq, i: index, x: data })
}

export function encodeReadRequest(id: number, requests: readonly Uint8Array[], leaves: readonly Digest[]): Uint8Array {
  return encodeCanonical({ k: 'rd', i: id, q: requests, l: leaves })
}

export function encodeReadReply(id: number, sig: Signature, diffs: ReadonlyArray<readonly [number, Digest]>): Uint8Array {
  return encodeCanonical({ k: 'ra', i: id, g: sig, x: diffs })
}

// ---- decoders: structure only; signatures and semantics are the node's job ----

const expectSig = (value: unknown, what: string) => {
  const sig = expectBytes(value, what, SIG_BYTES)
  if (sig.byteLength !== SIG_BYTES) throw new InvalidMessageError(`${what} must be ${SIG_BYTES} bytes`)
  return sig
}

const expectDigest = (value: unknown, what: string) => {
  const d = expectBytes(value, what, DIGEST_BYTES)
  if (d.byteLength !== DIGEST_BYTES) throw new InvalidMessageError(`${what} must be ${DIGEST_BYTES} bytes`)
  return d
}

export function decodeBundle(value: unknown): Bundle {
  const env = expectRecord(value, 'bundle')
  expectOnlyKeys(env, ['b', 'g', 'a'], 'bundle')
  const body = expectBytes(env['b'], 'bundle body')
  if ((env['g'] === undefined) === (env['a'] === undefined)) throw new InvalidMessageError('a bundle carries either a signature or an authenticator')
  const sig = env['g'] === undefined ? undefined : expectSig(env['g'], 'bundle signature')
  const tags = env['a'] === undefined ? undefined : expectArray(env['a'], 'bundle authenticator', MAX_AUTHENTICATOR).map((t, i) => expectDigest(t, `authenticator tag ${i}`))
  const fields = expectRecord(decodeCanonical(body), 'bundle body')
  expectOnlyKeys(fields, ['p', 't', 'r'], 'bundle body')
  const proxy = expectString(fields['p'], 'bundle proxy', MAX_ID)
  const ts = expectUint(fields['t'], 'bundle timestamp')
  if (ts === 0) throw new InvalidMessageError('bundle timestamp must be positive')
  const ops = expectArray(fields['r'], 'bundle requests', MAX_ITEMS).map((op, i) => expectBytes(op, `request ${i}`))
  if (ops.length === 0) throw new InvalidMessageError('bundle has no requests')
  return { proxy, ts, ops, body, digest: sha256(body), ...(sig === undefined ? { tags: tags! } : { sig }) }
}

function decodeVotes(value: unknown, what: string): Vote[] {
  return expectArray(value, what, MAX_ITEMS).map((item, i) => {
    const pair = expectArray(item, `${what} ${i}`, 2)
    if (pair.length !== 2) throw new InvalidMessageError(`${what} ${i} must be [id, signature]`)
    return { id: expectString(pair[0], `${what} ${i} id`, MAX_ID), sig: expectSig(pair[1], `${what} ${i} signature`) }
  })
}

export function decodeCheckpointCertificate(value: unknown): CheckpointCertificate {
  const c = expectRecord(value, 'checkpoint certificate')
  expectOnlyKeys(c, ['s', 'd', 'g'], 'checkpoint certificate')
  return { seq: expectUint(c['s'], 'checkpoint seq'), digest: expectDigest(c['d'], 'checkpoint digest'), votes: decodeVotes(c['g'], 'checkpoint votes') }
}

function decodeBundles(value: unknown): Bundle[] {
  return expectArray(value, 'bundles', MAX_ITEMS).map(decodeBundle)
}

/** Commit certificates in one catch-up answer (the sender also bounds their bytes). */
export const MAX_COMMITTED_BATCHES = 64

function decodeCommitCertificate(item: unknown): CommitCertificate {
  const c = expectRecord(item, 'commit certificate')
  expectOnlyKeys(c, ['v', 's', 'q', 'c'], 'commit certificate')
  const bundles = decodeBundles(c['q'])
  return { view: expectUint(c['v'], 'view'), seq: expectUint(c['s'], 'seq'), bundles, digest: batchDigest(bundles), commits: decodeVotes(c['c'], 'commits') }
}

function decodePreparedCertWire(item: unknown): PreparedCertificate {
  const p = expectRecord(item, 'prepared certificate')
  expectOnlyKeys(p, ['v', 's', 'd', 'g', 'r'], 'prepared certificate')
  return {
    view: expectUint(p['v'], 'prepared view'),
    seq: expectUint(p['s'], 'prepared seq'),
    digest: expectDigest(p['d'], 'prepared digest'),
    prePrepareSig: expectSig(p['g'], 'pre-prepare signature'),
    prepares: decodeVotes(p['r'], 'prepares'),
  }
}

export function decodeViewChange(value: unknown): ViewChange {
  const env = expectRecord(value, 'view-change')
  expectOnlyKeys(env, ['k', 'b', 'g'], 'view-change')
  const body = expectBytes(env['b'], 'view-change body')
  const sig = expectSig(env['g'], 'view-change signature')
  const f = expectRecord(decodeCanonical(body), 'view-change body')
  expectOnlyKeys(f, ['v', 'i', 'c', 'p'], 'view-change body')
  const prepared = expectArray(f['p'], 'prepared certificates', MAX_ITEMS).map(decodePreparedCertWire)
  return {
    k: 'vc',
    view: expectUint(f['v'], 'view'),
    replica: expectString(f['i'], 'replica', MAX_ID),
    checkpoint: decodeCheckpointCertificate(f['c']),
    prepared,
    body,
    sig,
  }
}

export function decodeMessage(bytes: Uint8Array): PbftMessage {
  const m = expectRecord(decodeCanonical(bytes))
  const k = m['k']
  switch (k) {
    case 'rq':
      expectOnlyKeys(m, ['k', 'q'])
      return { k, bundle: decodeBundle(m['q']) }
    case 'pp': {
      expectOnlyKeys(m, ['k', 'v', 's', 'q', 'g'])
      const bundles = decodeBundles(m['q'])
      return {
        k,
        view: expectUint(m['v'], 'view'),
        seq: expectUint(m['s'], 'seq'),
        bundles,
        digest: batchDigest(bundles),
        sig: expectSig(m['g'], 'signature'),
      }
    }
    case 'p':
    case 'c':
      expectOnlyKeys(m, ['k', 'v', 's', 'd', 'g'])
      return { k, view: expectUint(m['v'], 'view'), seq: expectUint(m['s'], 'seq'), digest: expectDigest(m['d'], 'digest'), sig: expectSig(m['g'], 'signature') }
    case 'ck':
      expectOnlyKeys(m, ['k', 's', 'd', 'g'])
      return { k, seq: expectUint(m['s'], 'seq'), digest: expectDigest(m['d'], 'digest'), sig: expectSig(m['g'], 'signature') }
    case 'r':
      expectOnlyKeys(m, ['k', 's', 'd', 'g'])
      return { k, seq: expectUint(m['s'], 'seq'), root: expectDigest(m['d'], 'root'), sig: expectSig(m['g'], 'signature') }
    case 'vc':
      return decodeViewChange(m)
    case 'nv': {
      expectOnlyKeys(m, ['k', 'b', 'g'])
      const body = expectBytes(m['b'], 'new-view body')
      const sig = expectSig(m['g'], 'new-view signature')
      const f = expectRecord(decodeCanonical(body), 'new-view body')
      expectOnlyKeys(f, ['v', 'V', 'O'], 'new-view body')
      return {
        k,
        view: expectUint(f['v'], 'view'),
        viewChanges: expectArray(f['V'], 'view-changes', 1024).map((vc) => decodeViewChange({ k: 'vc', ...expectRecord(vc, 'view-change') })),
        prePrepareSigs: expectArray(f['O'], 'pre-prepare signatures', MAX_ITEMS).map((s, i) => expectSig(s, `pre-prepare signature ${i}`)),
        body,
        sig,
      }
    }
    case 'st':
      expectOnlyKeys(m, ['k', 'v', 'h', 'e', 'a'])
      return {
        k,
        view: expectUint(m['v'], 'view'),
        stable: expectUint(m['h'], 'stable'),
        executed: expectUint(m['e'], 'executed'),
        active: expectUint(m['a'], 'active') === 1,
      }
    case 'fs':
      expectOnlyKeys(m, ['k', 's'])
      return { k, seq: expectUint(m['s'], 'seq') }
    case 'sx':
      expectOnlyKeys(m, ['k', 'c', 'm', 'z', 'h'])
      return {
        k,
        checkpoint: decodeCheckpointCertificate(m['c']),
        meta: expectBytes(m['m'], 'state meta'),
        size: expectUint(m['z'], 'state size'),
        hashes: expectArray(m['h'], 'chunk digests', MAX_CHUNKS).map((h, i) => expectDigest(h, `chunk digest ${i}`)),
      }
    case 'cc':
      expectOnlyKeys(m, ['k', 'c'])
      return { k, checkpoint: decodeCheckpointCertificate(m['c']) }
    case 'bf':
      expectOnlyKeys(m, ['k', 's', 'd'])
      return { k, seq: expectUint(m['s'], 'seq'), digest: expectDigest(m['d'], 'digest') }
    case 'bb': {
      expectOnlyKeys(m, ['k', 's', 'q'])
      const bundles = decodeBundles(m['q'])
      return { k, seq: expectUint(m['s'], 'seq'), bundles, digest: batchDigest(bundles) }
    }
    case 'fc':
      expectOnlyKeys(m, ['k', 's', 'i'])
      return { k, seq: expectUint(m['s'], 'seq'), index: expectUint(m['i'], 'chunk index') }
    case 'sc':
      expectOnlyKeys(m, ['k', 's', 'i', 'x'])
      return { k, seq: expectUint(m['s'], 'seq'), index: expectUint(m['i'], 'chunk index'), data: expectBytes(m['x'], 'chunk') }
    case 'rd': {
      expectOnlyKeys(m, ['k', 'i', 'q', 'l'])
      const requests = expectArray(m['q'], 'read requests', MAX_ITEMS).map((r, i) => expectBytes(r, `read request ${i}`))
      const leaves = expectArray(m['l'], 'read leaves', MAX_ITEMS).map((d, i) => expectDigest(d, `read leaf ${i}`))
      if (requests.length === 0 || leaves.length !== requests.length) throw new InvalidMessageError('a read batch has one leaf per request, and at least one')
      return { k, id: expectUint(m['i'], 'read batch'), requests, leaves }
    }
    case 'ra': {
      expectOnlyKeys(m, ['k', 'i', 'g', 'x'])
      let last = -1
      const diffs = expectArray(m['x'], 'read diffs', MAX_ITEMS).map((item, i): [number, Digest] => {
        const pair = expectArray(item, `read diff ${i}`, 2)
        if (pair.length !== 2) throw new InvalidMessageError(`read diff ${i} must be [position, leaf]`)
        const position = expectUint(pair[0], `read diff ${i} position`)
        if (position <= last) throw new InvalidMessageError('read diff positions must ascend')
        last = position
        return [position, expectDigest(pair[1], `read diff ${i} leaf`)]
      })
      return { k, id: expectUint(m['i'], 'read batch'), sig: expectSig(m['g'], 'signature'), diffs }
    }
    case 'fk':
      expectOnlyKeys(m, ['k', 's'])
      return { k, seq: expectUint(m['s'], 'seq') }
    case 'cb':
      expectOnlyKeys(m, ['k', 'b'])
      return { k, batches: expectArray(m['b'], 'committed batches', MAX_COMMITTED_BATCHES).map(decodeCommitCertificate) }
    default:
      throw new InvalidMessageError(`unknown message kind ${JSON.stringify(k)}`)
  }
}

// ---- replicated protocol metadata stored with each checkpoint ----

/** What execution depends on besides the state machine: the next Synod index and the last executed bundle per proxy. */
export interface ExecutionMeta {
  readonly seq: number
  readonly index: number
  readonly lastTs: ReadonlyMap<NodeId, number>
}

export function encodeExecutionMeta(meta: ExecutionMeta): Uint8Array {
  const table = [...meta.lastTs.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return encodeCanonical({ s: meta.seq, x: meta.index, t: table })
}

export function decodeExecutionMeta(bytes: Uint8Array): ExecutionMeta {
  const m = expectRecord(decodeCanonical(bytes), 'execution meta')
  expectOnlyKeys(m, ['s', 'x', 't'], 'execution meta')
  const lastTs = new Map<NodeId, number>()
  for (const item of expectArray(m['t'], 'timestamps', MAX_ITEMS)) {
    const pair = expectArray(item, 'timestamp entry', 2)
    lastTs.set(expectString(pair[0], 'proxy', MAX_ID), expectUint(pair[1], 'timestamp'))
  }
  return { seq: expectUint(m['s'], 'seq'), index: expectUint(m['x'], 'index'), lastTs }
}
