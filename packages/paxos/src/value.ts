import { decodeCanonical, encodeCanonical, expectArray, expectBytes, expectUint, InvalidMessageError, type Membership } from '@synod/core'
import { decodeMembership, encodeMembership } from './configuration.js'
import { encodeCommandValueHot, readCommandValue } from './hot-codec.js'

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
  /** A configuration (a stop-sign, ADR 0014): it governs every slot after its own. */
  | { readonly kind: 'config'; readonly nonce: number; readonly counter: number; readonly membership: Membership }

const NOOP = 0
const COMMAND = 1
const CONFIG = 2

export const NOOP_VALUE: Uint8Array = encodeCanonical([NOOP])

/** encodeCanonical([1, nonce, counter, command]), written by hand (hot-codec.ts): one per proposal. */
export function encodeCommandValue(nonce: number, counter: number, command: Uint8Array): Uint8Array {
  return encodeCommandValueHot(nonce, counter, command)
}

export function encodeConfigValue(nonce: number, counter: number, membership: Membership): Uint8Array {
  return encodeCanonical([CONFIG, nonce, counter, encodeMembership(membership)])
}

/** Whether an encoded (valid) slot value is a configuration, from its first two bytes: [array of 4][kind 2]. */
export function isConfigValue(bytes: Uint8Array): boolean {
  return bytes[0] === 0x84 && bytes[1] === CONFIG
}

/** Decode a slot value strictly (InvalidMessageError on anything malformed). */
export function decodeValue(bytes: Uint8Array, maxCommandBytes: number): SlotValue {
  // Commands, the common case, are read by hand; anything else (or anything unusual) takes the generic path.
  const command = readCommandValue(bytes, maxCommandBytes)
  if (command !== undefined) return { kind: 'command', nonce: command.nonce, counter: command.counter, command: command.command }
  const items = expectArray(decodeCanonical(bytes), 'slot value', 4)
  const kind = expectUint(items[0], 'slot value kind')
  if (kind === NOOP) {
    if (items.length !== 1) throw new InvalidMessageError('a no-op has no fields')
    return { kind: 'noop' }
  }
  if ((kind !== COMMAND && kind !== CONFIG) || items.length !== 4) throw new InvalidMessageError('unknown slot value')
  if (kind === CONFIG)
    return {
      kind: 'config',
      nonce: expectUint(items[1], 'nonce'),
      counter: expectUint(items[2], 'counter'),
      membership: decodeMembership(expectBytes(items[3], 'membership', 1 << 21)),
    }
  return {
    kind: 'command',
    nonce: expectUint(items[1], 'nonce'),
    counter: expectUint(items[2], 'counter'),
    command: expectBytes(items[3], 'command', maxCommandBytes),
  }
}
