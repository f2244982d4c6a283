import { decodeCanonical, encodeCanonical, expectArray, expectBytes, expectUint, InvalidMessageError } from '@synod/core'

/**
 * What a slot holds: a no-op (a gap filled by a new leader) or one client
 * command tagged with the (nonce, counter) of the node whose client proposed
 * it, so that node — and only it, in the incarnation that proposed it —
 * answers the client when the slot is executed. One command per slot keeps
 * slot numbers equal to the state machine's commit indexes; batching
 * happens per message (an Accept carries many slots).
 */
export type SlotValue =
  | { readonly kind: 'noop' }
  | { readonly kind: 'command'; readonly nonce: number; readonly counter: number; readonly command: Uint8Array }

const NOOP = 0
const COMMAND = 1

export const NOOP_VALUE: Uint8Array = encodeCanonical([NOOP])

export function encodeCommandValue(nonce: number, counter: number, command: Uint8Array): Uint8Array {
  return encodeCanonical([COMMAND, nonce, counter, command])
}

/** Decode a slot value strictly (InvalidMessageError on anything malformed). */
export function decodeValue(bytes: Uint8Array, maxCommandBytes: number): SlotValue {
  const items = expectArray(decodeCanonical(bytes), 'slot value', 4)
  const kind = expectUint(items[0], 'slot value kind')
  if (kind === NOOP) {
    if (items.length !== 1) throw new InvalidMessageError('a no-op has no fields')
    return { kind: 'noop' }
  }
  if (kind !== COMMAND || items.length !== 4) throw new InvalidMessageError('unknown slot value')
  return {
    kind: 'command',
    nonce: expectUint(items[1], 'nonce'),
    counter: expectUint(items[2], 'counter'),
    command: expectBytes(items[3], 'command', maxCommandBytes),
  }
}
