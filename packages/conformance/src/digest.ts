import { createHash } from 'node:crypto'

/** Hex sha256 of a command: how commits and acknowledged writes are compared. */
export function commandDigest(command: Uint8Array): string {
  return createHash('sha256').update(command).digest('hex')
}
