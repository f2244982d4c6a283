import { encodeCanonical } from '@synod/core'
import { sha256 } from './digest.js'
import type { Digest } from './messages.js'

/**
 * Snapshots travel in chunks of this size (state transfer, TOCS'02 §6.2 fetches state in
 * pieces too): every message stays far below the runtime's 16 MiB limit whatever the state
 * size. Part of the checkpoint digest, so all replicas must use the same value.
 */
export const STATE_CHUNK_BYTES = 1 << 20

export function chunkCount(size: number): number {
  return Math.ceil(size / STATE_CHUNK_BYTES)
}

/** Chunk `index` of `data`, a view into it (no copy). */
export function chunkOf(data: Uint8Array, index: number): Uint8Array {
  return data.subarray(index * STATE_CHUNK_BYTES, Math.min(data.byteLength, (index + 1) * STATE_CHUNK_BYTES))
}

/** sha256 of every chunk of `data`, in order: the state manifest a fetching replica checks chunks against. */
export function chunkHashes(data: Uint8Array): Digest[] {
  const hashes: Digest[] = []
  for (let i = 0; i < chunkCount(data.byteLength); i++) hashes.push(sha256(chunkOf(data, i)))
  return hashes
}

/** What the checkpoint digest binds: the chunk size, the snapshot size and the chunk digests. */
export function chunksRoot(size: number, hashes: readonly Digest[]): Digest {
  return sha256(encodeCanonical(['pbft/chunks', STATE_CHUNK_BYTES, size, hashes]))
}
