import { InvalidMessageError } from '@synod/core'

// A batch payload is canonical CBOR ['hotstuff/commands', proxy, seq, [command, ...]] (what
// encodeCanonical writes). Every replica decodes every batch, so this reads exactly that shape by
// hand — commands come out as views into the payload, no token objects, no copies — and refuses
// anything else (non-minimal lengths, other types, trailing bytes), as the strict decoder would.

const TAG = new TextEncoder().encode('hotstuff/commands')

export interface BatchFields {
  readonly proxy: string
  readonly seq: number
  readonly commands: Uint8Array[]
}

const decoder = new TextDecoder('utf-8', { fatal: true })

export function decodeBatchPayload(payload: Uint8Array, maxId: number, maxCommands: number, maxCommandBytes: number): BatchFields {
  let at = 0
  const fail = (why: string): never => {
    throw new InvalidMessageError(`batch: ${why}`)
  }
  /** A head of major type `major`: its argument, minimal encoding required (RFC 8949 §4.2.1). */
  const head = (major: number, what: string): number => {
    if (at >= payload.byteLength) fail(`truncated ${what}`)
    const first = payload[at++]!
    if (first >> 5 !== major) fail(`${what} has the wrong type`)
    const info = first & 0x1f
    if (info < 24) return info
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : fail(`${what} has an invalid length`)
    if (at + size > payload.byteLength) fail(`truncated ${what}`)
    let value = 0
    for (let i = 0; i < size; i++) value = value * 256 + payload[at++]!
    const minimum = size === 1 ? 24 : size === 2 ? 0x100 : size === 4 ? 0x10000 : 0x100000000
    if (value < minimum) fail(`${what} is not minimally encoded`)
    if (!Number.isSafeInteger(value)) fail(`${what} is too large`)
    return value
  }
  const bytes = (major: number, max: number, what: string): Uint8Array => {
    const length = head(major, what)
    if (length > max) fail(`${what} is longer than ${max} bytes`)
    if (at + length > payload.byteLength) fail(`truncated ${what}`)
    const out = payload.subarray(at, at + length)
    at += length
    return out
  }
  if (head(4, 'batch') !== 4) fail("a batch is ['hotstuff/commands', proxy, seq, commands]")
  const tag = bytes(3, TAG.byteLength, 'batch tag')
  if (tag.byteLength !== TAG.byteLength || !tag.every((b, i) => b === TAG[i])) fail('wrong batch tag')
  let proxy: string
  try {
    proxy = decoder.decode(bytes(3, maxId * 4, 'batch proxy'))
  } catch (error) {
    if (error instanceof InvalidMessageError) throw error
    return fail('batch proxy is not UTF-8')
  }
  if (proxy.length > maxId) fail(`batch proxy is longer than ${maxId} characters`)
  const seq = head(0, 'batch seq')
  const count = head(4, 'batch commands')
  if (count > maxCommands) fail(`more than ${maxCommands} commands`)
  const commands: Uint8Array[] = new Array<Uint8Array>(count)
  for (let i = 0; i < count; i++) commands[i] = bytes(2, maxCommandBytes, 'command')
  if (at !== payload.byteLength) fail('trailing bytes')
  return { proxy, seq, commands }
}
