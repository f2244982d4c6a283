import { encodeCanonical } from '@synod/core'
import { sha256 } from './hash.js'

// A Merkle tree of arity 8 over a batch's execution results, so that a replica
// signs one reply per batch and a client still gets a small proof for its own
// request: the leaf, the path to the root and f+1 signatures on the root.
// Arity 8 rather than 2: every replica hashes the whole tree of every batch,
// and a binary tree costs one inner hash per request (as many as the leaves);
// with 8 children it is one per 7 requests, for proofs of 7 siblings per level
// (a batch of 4096 requests: 4 levels, 28 siblings, ~0.9 KB).

export const MERKLE_ARITY = 8

/** One level of a path: where our node sits among its (2..8) siblings-and-self, and the siblings in order. */
export interface MerkleStep {
  readonly position: number
  readonly siblings: readonly Uint8Array[]
}

export type MerklePath = readonly MerkleStep[]

const NODE_TAG = 0x01
const LEAF_TAG = 0x00

// One scratch buffer for the hash inputs: a leaf and an inner node are hashed once per request on every
// replica, so allocating their input (and a DataView) each time showed up in the benchmark profile.
let scratch = new Uint8Array(1024)

function scratchFor(bytes: number): Uint8Array {
  if (scratch.byteLength < bytes) scratch = new Uint8Array(Math.max(bytes, 2 * scratch.byteLength))
  return scratch
}

/** Inner node: sha256(0x01 || child_1 || ... || child_m), 2 ≤ m ≤ 8; leaves are tagged 0x00 so neither can pose as the other. */
function inner(children: readonly Uint8Array[], start = 0, end = children.length): Uint8Array {
  let length = 1
  for (let i = start; i < end; i++) length += children[i]!.byteLength
  const input = scratchFor(length)
  input[0] = NODE_TAG
  let offset = 1
  for (let i = start; i < end; i++) {
    input.set(children[i]!, offset)
    offset += children[i]!.byteLength
  }
  return sha256(input.subarray(0, length))
}

/** Every level of the tree, leaves first (a lone last node of a level is carried up unchanged). */
export function merkleTree(leaves: readonly Uint8Array[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [[...leaves]]
  let level = levels[0]!
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += MERKLE_ARITY) {
      const end = Math.min(i + MERKLE_ARITY, level.length)
      next.push(end - i === 1 ? level[i]! : inner(level, i, end))
    }
    levels.push(next)
    level = next
  }
  return levels
}

/** The root of a tree from `merkleTree`. The empty tree's root is a fixed tag digest. */
export function treeRoot(levels: readonly Uint8Array[][]): Uint8Array {
  return levels.at(-1)![0] ?? sha256(encodeCanonical(['pbft/empty']))
}

export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return treeRoot(merkleTree(leaves))
}

export function merklePath(levels: readonly Uint8Array[][], position: number): MerklePath {
  const path: MerkleStep[] = []
  let i = position
  for (let depth = 0; depth < levels.length - 1; depth++) {
    const level = levels[depth]!
    const start = i - (i % MERKLE_ARITY)
    const end = Math.min(start + MERKLE_ARITY, level.length)
    if (end - start > 1) {
      const siblings: Uint8Array[] = []
      for (let j = start; j < end; j++) if (j !== i) siblings.push(level[j]!)
      path.push({ position: i - start, siblings })
    }
    i = Math.floor(i / MERKLE_ARITY)
  }
  return path
}

export function rootFromPath(leaf: Uint8Array, path: MerklePath): Uint8Array {
  let node = leaf
  for (const { position, siblings } of path) {
    const children = [...siblings]
    children.splice(position, 0, node)
    node = inner(children)
  }
  return node
}

/**
 * The leaf for one executed request: sha256(0x00 || index (8 bytes, big endian) || failed || u32 length of the
 * command || command || result). One hash per request; a client recomputes it from what it sent and got back.
 */
export function resultLeaf(index: number, command: Uint8Array, result: Uint8Array, failed: boolean): Uint8Array {
  const length = 14 + command.byteLength + result.byteLength
  const input = scratchFor(length)
  const high = Math.floor(index / 0x100000000)
  const low = index >>> 0
  input[0] = LEAF_TAG
  input[1] = high >>> 24
  input[2] = (high >>> 16) & 0xff
  input[3] = (high >>> 8) & 0xff
  input[4] = high & 0xff
  input[5] = low >>> 24
  input[6] = (low >>> 16) & 0xff
  input[7] = (low >>> 8) & 0xff
  input[8] = low & 0xff
  input[9] = failed ? 1 : 0
  const n = command.byteLength
  input[10] = n >>> 24
  input[11] = (n >>> 16) & 0xff
  input[12] = (n >>> 8) & 0xff
  input[13] = n & 0xff
  input.set(command, 14)
  input.set(result, 14 + n)
  return sha256(input.subarray(0, length))
}
