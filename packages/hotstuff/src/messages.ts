import {
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
} from '@synod/core'
import { sha256, type CertificateSignature } from '@synod/crypto'
import { decodeBatchPayload } from './batch-payload.js'

// Wire format: canonical CBOR maps with one-letter keys and a kind `k`. What a
// replica signs is a domain-separated digest (`voteDigest`, `timeoutDigest`,
// `snapshotDigest`), so a vote can never pass for a timeout or a PBFT message.

export const HASH_BYTES = 32
const SIG_BYTES = 64
const MAX_ID = 256
/** Certificates carry at most this many signatures (membership size bound). */
const MAX_SIGNATURES = 1024
/** Blocks in one fetch answer. */
export const MAX_FETCH_BLOCKS = 256

export type Hash = Uint8Array

/** A quorum certificate: 2f+1 voters' signatures over `voteDigest(view, block)`. */
export interface QC {
  readonly view: number
  readonly block: Hash
  readonly signatures: readonly CertificateSignature[]
}

/** A timeout certificate: 2f+1 voters' signatures over `timeoutDigest(view)`. */
export interface TC {
  readonly view: number
  readonly signatures: readonly CertificateSignature[]
}

/**
 * A proxy's signed batch of client commands (see Mempool): `(proxy, seq)`
 * names it (seq ranges are unique per incarnation), `digest` =
 * sha256(payload) is what the proxy signs and what blocks reference, so a
 * block's hash covers every command byte without carrying them.
 */
export interface Batch {
  readonly proxy: NodeId
  readonly seq: number
  readonly commands: readonly Uint8Array[]
  readonly digest: Hash
  /** The signed wire message (relayed and persisted as it is). */
  readonly message: Uint8Array
}

/**
 * A block of the chain. `justify` always certifies `parent` (a leader extends
 * the block of its highest QC), so the QC chain and the parent chain are one.
 * It orders whole batches, by digest: every replica already holds them (the
 * proxies broadcast them), so a proposal is small and nobody decodes or
 * hashes the commands twice.
 */
export interface Block {
  readonly view: number
  readonly height: number
  readonly parent: Hash
  readonly justify: QC
  /** Digests of the batches it orders, in order. */
  readonly batches: readonly Hash[]
  readonly author: NodeId
  /** Canonical bytes: what `hash` covers and what travels. */
  readonly bytes: Uint8Array
  readonly hash: Hash
}

export interface Proposal {
  readonly k: 'p'
  readonly block: Block
  /** The TC of view − 1 when the justify QC is older: why the leader may lead this view. */
  readonly tc?: TC
}

export interface Vote {
  readonly k: 'v'
  readonly view: number
  readonly block: Hash
  readonly sig: Uint8Array
}

/** "View `view` failed for me": signed, with my highest QC (and TC) so others can catch up. */
export interface Timeout {
  readonly k: 't'
  readonly view: number
  readonly highQC: QC
  readonly tc?: TC
  readonly sig: Uint8Array
}

/** Certificates that let a peer behind us enter our view (answer to a stale timeout). */
export interface Sync {
  readonly k: 's'
  readonly highQC: QC
  readonly tc?: TC
}

export interface Fetch {
  readonly k: 'f'
  readonly block: Hash
  readonly count: number
  /** Height of the requester's committed root: a responder that pruned past it offers a snapshot. */
  readonly root: number
}

/** Blocks answering a Fetch, newest first, each the parent of the one before, with the signed batches they order. */
export interface Blocks {
  readonly k: 'b'
  readonly blocks: readonly Block[]
  /** Signed batch messages (each checked like a proxy's own broadcast). */
  readonly batches: readonly Uint8Array[]
}

/**
 * A batch of client commands a proxy hands to every replica (the mempool), signed by the proxy over
 * sha256(payload), so bytes altered on the way (or by a relay) never enter a mempool.
 */
export interface Commands {
  readonly k: 'c'
  readonly batch: Batch
  readonly sig: Uint8Array
}

/** "Send me these signed batches": a replica missing batches of a proposal (or of a block to execute) asks. */
export interface CommandRequest {
  readonly k: 'q'
  readonly digests: readonly Hash[]
}

/** A replica's signature over the Merkle root of a committed block's results (reply certificate part). */
export interface Reply {
  readonly k: 'r'
  readonly height: number
  readonly root: Hash
  readonly sig: Uint8Array
}

/** A replica's latest snapshot, signed, for a peer too far behind to fetch blocks. */
export interface SnapshotOffer {
  readonly k: 'o'
  /** The committed block the snapshot is taken at (its hash and height are in the signed digest). */
  readonly block: Block
  /** Synod command index of the last command of `block`. */
  readonly index: number
  readonly data: Uint8Array
  readonly sig: Uint8Array
}

export type HotstuffMessage = Proposal | Vote | Timeout | Sync | Fetch | Blocks | Commands | CommandRequest | Reply | SnapshotOffer

// ---- what is signed ----

export function voteDigest(view: number, block: Hash): Uint8Array {
  return sha256(encodeCanonical(['hotstuff/vote', view, block]))
}

export function timeoutDigest(view: number): Uint8Array {
  return sha256(encodeCanonical(['hotstuff/timeout', view]))
}

/** What a proxy signs for a batch: its digest, sha256 of the canonical payload (domain-tagged). */
export function batchPayload(proxy: NodeId, seq: number, commands: readonly Uint8Array[]): Uint8Array {
  return encodeCanonical(['hotstuff/commands', proxy, seq, commands])
}

/** A signed batch: `sign` signs its digest. */
export function makeBatch(proxy: NodeId, seq: number, commands: readonly Uint8Array[], sign: (digest: Hash) => Uint8Array): Batch {
  const payload = batchPayload(proxy, seq, commands)
  const digest = sha256(payload)
  return { proxy, seq, commands, digest, message: encodeCanonical({ b: payload, g: sign(digest), k: 'c' }) }
}

export function snapshotDigest(height: number, block: Hash, index: number, data: Uint8Array): Uint8Array {
  return sha256(encodeCanonical(['hotstuff/snapshot', height, block, index, sha256(data)]))
}

// ---- blocks ----

const ZERO_HASH = new Uint8Array(HASH_BYTES)

/** The genesis block: view 0, height 0, certified by definition (its QC has no signatures). */
export const GENESIS: Block = makeBlock({
  view: 0,
  height: 0,
  parent: ZERO_HASH,
  justify: { view: 0, block: ZERO_HASH, signatures: [] },
  batches: [],
  author: '',
})

/** The QC every replica starts from: genesis, certified by definition. */
export const GENESIS_QC: QC = { view: 0, block: GENESIS.hash, signatures: [] }

export function makeBlock(fields: Omit<Block, 'bytes' | 'hash'>): Block {
  const bytes = encodeCanonical({
    a: fields.author,
    c: fields.batches,
    h: fields.height,
    p: fields.parent,
    q: qcWire(fields.justify),
    v: fields.view,
  })
  return { ...fields, bytes, hash: sha256(bytes) }
}

export function decodeBlock(bytes: Uint8Array, maxBatches: number): Block {
  const r = expectRecord(decodeCanonical(bytes), 'block')
  expectOnlyKeys(r, ['a', 'c', 'h', 'p', 'q', 'v'], 'block')
  const batches = expectArray(r['c'], 'block batches', maxBatches).map((d) => hash(d, 'block batch'))
  const parent = expectBytes(r['p'], 'block parent', HASH_BYTES)
  if (parent.byteLength !== HASH_BYTES) throw new InvalidMessageError('block parent must be a 32-byte hash')
  return {
    view: expectUint(r['v'], 'block view'),
    height: expectUint(r['h'], 'block height'),
    parent,
    justify: decodeQCWire(r['q']),
    batches,
    author: expectString(r['a'], 'block author', MAX_ID),
    bytes,
    hash: sha256(bytes),
  }
}

// ---- certificates ----

function signaturesWire(signatures: readonly CertificateSignature[]): unknown {
  return [...signatures].sort((a, b) => (a.signer < b.signer ? -1 : a.signer > b.signer ? 1 : 0)).map((s) => [s.signer, s.signature])
}

/** Duplicates and ordering are not rejected here: the verifier drops and counts them (a protocol fault, not malformed bytes). */
function decodeSignatures(value: unknown, what: string): CertificateSignature[] {
  return expectArray(value, what, MAX_SIGNATURES).map((item) => {
    const pair = expectArray(item, `${what} entry`, 2)
    if (pair.length !== 2) throw new InvalidMessageError(`${what} entry must be [signer, signature]`)
    const signature = expectBytes(pair[1], `${what} signature`, SIG_BYTES)
    if (signature.byteLength !== SIG_BYTES) throw new InvalidMessageError(`${what} signature must be ${SIG_BYTES} bytes`)
    return { signer: expectString(pair[0], `${what} signer`, MAX_ID), signature }
  })
}

export function qcWire(qc: QC): unknown {
  return { b: qc.block, s: signaturesWire(qc.signatures), v: qc.view }
}

export function decodeQCWire(value: unknown): QC {
  const r = expectRecord(value, 'qc')
  expectOnlyKeys(r, ['b', 's', 'v'], 'qc')
  const block = expectBytes(r['b'], 'qc block', HASH_BYTES)
  if (block.byteLength !== HASH_BYTES) throw new InvalidMessageError('qc block must be a 32-byte hash')
  return { view: expectUint(r['v'], 'qc view'), block, signatures: decodeSignatures(r['s'], 'qc signatures') }
}

function tcWire(tc: TC): unknown {
  return { s: signaturesWire(tc.signatures), v: tc.view }
}

function decodeTCWire(value: unknown): TC {
  const r = expectRecord(value, 'tc')
  expectOnlyKeys(r, ['s', 'v'], 'tc')
  return { view: expectUint(r['v'], 'tc view'), signatures: decodeSignatures(r['s'], 'tc signatures') }
}

// ---- messages ----

export function encodeProposal(block: Block, tc?: TC): Uint8Array {
  return encodeCanonical(tc === undefined ? { b: block.bytes, k: 'p' } : { b: block.bytes, k: 'p', t: tcWire(tc) })
}

export function encodeVote(view: number, block: Hash, sig: Uint8Array): Uint8Array {
  return encodeCanonical({ b: block, g: sig, k: 'v', v: view })
}

export function encodeTimeout(view: number, highQC: QC, tc: TC | undefined, sig: Uint8Array): Uint8Array {
  const base = { g: sig, k: 't', q: qcWire(highQC), v: view }
  return encodeCanonical(tc === undefined ? base : { ...base, t: tcWire(tc) })
}

export function encodeSync(highQC: QC, tc: TC | undefined): Uint8Array {
  return encodeCanonical(tc === undefined ? { k: 's', q: qcWire(highQC) } : { k: 's', q: qcWire(highQC), t: tcWire(tc) })
}

export function encodeFetch(block: Hash, count: number, root: number): Uint8Array {
  return encodeCanonical({ b: block, k: 'f', n: count, r: root })
}

export function encodeBlocks(blocks: readonly Block[], batches: readonly Uint8Array[]): Uint8Array {
  return encodeCanonical({ b: blocks.map((b) => b.bytes), c: batches, k: 'b' })
}

/** A batch message with an arbitrary signature (tests forge these; proxies use makeBatch). */
export function encodeCommands(payload: Uint8Array, sig: Uint8Array): Uint8Array {
  return encodeCanonical({ b: payload, g: sig, k: 'c' })
}

export function encodeCommandRequest(digests: readonly Hash[]): Uint8Array {
  return encodeCanonical({ d: digests, k: 'q' })
}

export function encodeReply(height: number, root: Hash, sig: Uint8Array): Uint8Array {
  return encodeCanonical({ g: sig, h: height, k: 'r', r: root })
}

export function encodeSnapshotOffer(block: Block, index: number, data: Uint8Array, sig: Uint8Array): Uint8Array {
  return encodeCanonical({ b: block.bytes, d: data, g: sig, i: index, k: 'o' })
}

export interface DecodeLimits {
  readonly maxCommandBytes: number
  readonly maxBlockCommands: number
}

function sig(value: unknown): Uint8Array {
  const s = expectBytes(value, 'signature', SIG_BYTES)
  if (s.byteLength !== SIG_BYTES) throw new InvalidMessageError(`signature must be ${SIG_BYTES} bytes`)
  return s
}

function hash(value: unknown, what: string): Hash {
  const h = expectBytes(value, what, HASH_BYTES)
  if (h.byteLength !== HASH_BYTES) throw new InvalidMessageError(`${what} must be a 32-byte hash`)
  return h
}

/** Batch messages in one fetch answer. */
export const MAX_FETCH_BATCHES = 4096

function decodeBatch(payload: Uint8Array, message: Uint8Array, limits: DecodeLimits): Batch {
  const { proxy, seq, commands } = decodeBatchPayload(payload, MAX_ID, limits.maxBlockCommands, limits.maxCommandBytes)
  return { proxy, seq, commands, digest: sha256(payload), message }
}

/** Decode and shape-check one message; throws InvalidMessageError for malformed bytes. Nothing is verified here. */
export function decodeMessage(bytes: Uint8Array, limits: DecodeLimits): HotstuffMessage {
  const r = expectRecord(decodeCanonical(bytes), 'hotstuff message')
  const block = (value: unknown) => decodeBlock(expectBytes(value, 'block'), limits.maxBlockCommands)
  switch (r['k']) {
    case 'p':
      expectOnlyKeys(r, ['b', 'k', 't'], 'proposal')
      return r['t'] === undefined ? { k: 'p', block: block(r['b']) } : { k: 'p', block: block(r['b']), tc: decodeTCWire(r['t']) }
    case 'v':
      expectOnlyKeys(r, ['b', 'g', 'k', 'v'], 'vote')
      return { k: 'v', view: expectUint(r['v'], 'vote view'), block: hash(r['b'], 'vote block'), sig: sig(r['g']) }
    case 't': {
      expectOnlyKeys(r, ['g', 'k', 'q', 't', 'v'], 'timeout')
      const base = { k: 't' as const, view: expectUint(r['v'], 'timeout view'), highQC: decodeQCWire(r['q']), sig: sig(r['g']) }
      return r['t'] === undefined ? base : { ...base, tc: decodeTCWire(r['t']) }
    }
    case 's': {
      expectOnlyKeys(r, ['k', 'q', 't'], 'sync')
      const highQC = decodeQCWire(r['q'])
      return r['t'] === undefined ? { k: 's', highQC } : { k: 's', highQC, tc: decodeTCWire(r['t']) }
    }
    case 'f': {
      expectOnlyKeys(r, ['b', 'k', 'n', 'r'], 'fetch')
      const count = expectUint(r['n'], 'fetch count')
      if (count === 0 || count > MAX_FETCH_BLOCKS) throw new InvalidMessageError(`fetch count must be 1..${MAX_FETCH_BLOCKS}`)
      return { k: 'f', block: hash(r['b'], 'fetch block'), count, root: expectUint(r['r'], 'fetch root') }
    }
    case 'b':
      expectOnlyKeys(r, ['b', 'c', 'k'], 'blocks')
      return {
        k: 'b',
        blocks: expectArray(r['b'], 'blocks', MAX_FETCH_BLOCKS).map(block),
        batches: expectArray(r['c'], 'block batches', MAX_FETCH_BATCHES).map((m) => expectBytes(m, 'batch message')),
      }
    case 'c': {
      expectOnlyKeys(r, ['b', 'g', 'k'], 'commands')
      return { k: 'c', batch: decodeBatch(expectBytes(r['b'], 'commands payload'), bytes, limits), sig: sig(r['g']) }
    }
    case 'q':
      expectOnlyKeys(r, ['d', 'k'], 'command request')
      return { k: 'q', digests: expectArray(r['d'], 'batch digests', limits.maxBlockCommands).map((d) => hash(d, 'batch digest')) }
    case 'r':
      expectOnlyKeys(r, ['g', 'h', 'k', 'r'], 'reply')
      return { k: 'r', height: expectUint(r['h'], 'reply height'), root: hash(r['r'], 'reply root'), sig: sig(r['g']) }
    case 'o':
      expectOnlyKeys(r, ['b', 'd', 'g', 'i', 'k'], 'snapshot offer')
      return { k: 'o', block: block(r['b']), index: expectUint(r['i'], 'snapshot index'), data: expectBytes(r['d'], 'snapshot data'), sig: sig(r['g']) }
    default:
      throw new InvalidMessageError(`unknown hotstuff message kind ${String(r['k'])}`)
  }
}
