// The hand-written encoder of the hot commands (get/put/delete/append) must give exactly the bytes of
// the generic canonical encoder: log entries, signed operations and MACs all depend on them.
import { encodeCanonical, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeCommand, encodeCommand, type KvCommand, kvCommands } from '../src/index.js'

function reference(command: KvCommand): Uint8Array {
  const fields: Record<string, unknown> = { op: command.op }
  if ('key' in command) fields['key'] = command.key
  if ('value' in command) fields['value'] = command.value
  if (command.session !== undefined) {
    fields['client'] = command.session.client
    fields['seq'] = command.session.seq
  }
  return encodeCanonical(fields)
}

const keys = ['', 'k', 'load-123', 'x'.repeat(23), 'y'.repeat(24), 'z'.repeat(300), 'grüße/名前', '🙂 emoji', 'a\u0000b']
const values = [0, 1, 23, 24, 100, 255, 256, 70_000].map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff))
const sessions = [
  undefined,
  { client: 'c', seq: 0 },
  { client: 'load-ab12cd34-15', seq: 23 },
  { client: `${'f'.repeat(64)}:65535`, seq: 1_764_000_000_000 },
  { client: 'ü', seq: Number.MAX_SAFE_INTEGER },
  { client: 'x'.repeat(256), seq: 2 ** 32 },
]

describe('encodeCommand (hand-written for get/put/delete/append)', () => {
  it('gives the canonical encoder’s bytes for every shape, and they decode back', () => {
    let checked = 0
    for (const key of keys)
      for (const session of sessions) {
        const commands: KvCommand[] = [
          { op: 'get', key, ...(session === undefined ? {} : { session }) },
          { op: 'delete', key, ...(session === undefined ? {} : { session }) },
        ]
        for (const value of values) {
          if (value.byteLength > 256 && key !== 'k') continue // the long value with one key is enough
          commands.push({ op: 'put', key, value, ...(session === undefined ? {} : { session }) })
          commands.push({ op: 'append', key, value, ...(session === undefined ? {} : { session }) })
        }
        for (const command of commands) {
          const bytes = encodeCommand(command)
          expect(Buffer.from(bytes).equals(Buffer.from(reference(command)))).toBe(true)
          expect(decodeCommand(bytes)).toEqual(command)
          checked++
        }
      }
    expect(checked).toBeGreaterThan(500)
  })

  it('leaves other commands and odd sessions to the generic encoder (same bytes as before)', () => {
    const odd: KvCommand[] = [
      { op: 'cas', key: 'k', expected: null, value: utf8('v') },
      { op: 'list', prefix: 'p', limit: 10 },
      { op: 'put', key: 'k', value: utf8('v'), session: { client: 'c', seq: -1 } },
      { op: 'put', key: 'k', value: utf8('v'), session: { client: 'c', seq: 1.5 } },
    ]
    for (const command of odd) {
      const fields: Record<string, unknown> = { ...command }
      delete fields['session']
      if (command.session !== undefined) Object.assign(fields, { client: command.session.client, seq: command.session.seq })
      expect(Buffer.from(encodeCommand(command)).equals(Buffer.from(encodeCanonical(fields)))).toBe(true)
    }
  })

  it('encodes a text value straight into the writer: the same bytes as its UTF-8 given as bytes', () => {
    // Lengths around every head boundary (23/24, 255/256, 65535/65536 bytes), and text whose UTF-8 is
    // shorter than 3 bytes per unit so the writer must move it left under a shorter head.
    const texts = ['', 'v', 'x'.repeat(23), 'x'.repeat(24), 'é'.repeat(12), 'é'.repeat(127), 'é'.repeat(128), '名'.repeat(85), '🙂'.repeat(64), 'a'.repeat(255), 'a'.repeat(256), 'a'.repeat(65_535), 'ü'.repeat(40_000), 'lone \ud800 surrogate']
    for (const text of texts)
      for (const session of [undefined, { client: `${'a'.repeat(64)}:3`, seq: 1_764_000_000_000 }]) {
        expect(Buffer.from(kvCommands.put('k', text, session)).equals(Buffer.from(kvCommands.put('k', utf8(text), session)))).toBe(true)
        expect(Buffer.from(kvCommands.append('名前', text, session)).equals(Buffer.from(kvCommands.append('名前', utf8(text), session)))).toBe(true)
      }
  })

  it('hands out a fresh result per call: a later encoding never changes an earlier one', () => {
    const first = kvCommands.put('a', 'one')
    const copy = Uint8Array.from(first)
    kvCommands.put('b', 'two-longer-value')
    encodeCommand({ op: 'get', key: 'zzz' })
    expect(first).toEqual(copy)
  })
})
