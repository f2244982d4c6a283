import { encodeCanonical } from '@synod/core'
import { sha256 } from './digest.js'

// A binary Merkle tree over a batch's execution results, so that a replica
// signs one reply per batch and a client still gets a small proof for its
// own request: the leaf, the path to the root and f+1 signatures on the root.

export type MerklePath = ReadonlyArray<readonly [sibling: Uint8Array, siblingOnLeft: boolean]>

const NODE_TAG = 0x01
const LEAF_TAG = 0x00

/** Inner node: sha256(0x01 || left || right); leaves are tagged 0x00 so neither can pose as the other. */
function parent(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + left.byteLength + right.byteLength)
  input[0] = NODE_TAG
  input.set(left, 1)
  input.set(right, 1 + left.byteLength)
  return sha256(input)
}

/** Every level of the tree, leaves first (an odd node is carried up unchanged). */
export function merkleTree(leaves: readonly Uint8Array[]): Uint8Array[][] {
  const levels: Uint8Array[][] = [[...leaves]]
  let level = levels[0]!
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? parent(level[i]!, level[i + 1]!) : level[i]!)
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
  const path: Array<readonly [Uint8Array, boolean]> = []
  let i = position
  for (let depth = 0; depth < levels.length - 1; depth++) {
    const level = levels[depth]!
    const sibling = i % 2 === 0 ? i + 1 : i - 1
    if (sibling < level.length) path.push([level[sibling]!, sibling < i])
    i = Math.floor(i / 2)
  }
  return path
}

export function rootFromPath(leaf: Uint8Array, path: MerklePath): Uint8Array {
  let node = leaf
  for (const [sibling, onLeft] of path) node = onLeft ? parent(sibling, node) : parent(node, sibling)
  return node
}

/**
 * The leaf for one executed request: sha256(0x00 || index (8 bytes, big endian) || failed || u32 length of the
 * command || command || result). One hash per request; a client recomputes it from what it sent and got back.
 */
export function resultLeaf(index: number, command: Uint8Array, result: Uint8Array, failed: boolean): Uint8Array {
  const input = new Uint8Array(14 + command.byteLength + result.byteLength)
  const view = new DataView(input.buffer)
  input[0] = LEAF_TAG
  view.setUint32(1, Math.floor(index / 0x100000000))
  view.setUint32(5, index >>> 0)
  input[9] = failed ? 1 : 0
  view.setUint32(10, command.byteLength)
  input.set(command, 14)
  input.set(result, 14 + command.byteLength)
  return sha256(input)
}
