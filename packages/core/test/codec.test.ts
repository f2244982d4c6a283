import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  byzantineFaults,
  byzantineQuorum,
  bytesEqual,
  decodeCanonical,
  encodeCanonical,
  expectArray,
  expectBytes,
  expectOneOf,
  expectOnlyKeys,
  expectRecord,
  expectString,
  expectUint,
  fromHex,
  fromUtf8,
  InvalidMessageError,
  majority,
  membership,
  NotLeaderError,
  toHex,
  utf8,
} from '../src/index.js'

describe('canonical CBOR', () => {
  it('gives the same bytes for the same value whatever the key order', () => {
    const a = encodeCanonical({ term: 3, type: 'vote', from: 'n1' })
    const b = encodeCanonical({ from: 'n1', type: 'vote', term: 3 })
    expect(toHex(a)).toBe(toHex(b))
  })

  it('round-trips values', () => {
    fc.assert(
      fc.property(
        fc.record({ n: fc.nat(), s: fc.string(), b: fc.uint8Array({ maxLength: 64 }), l: fc.array(fc.nat(), { maxLength: 8 }) }),
        (value) => {
          expect(decodeCanonical(encodeCanonical(value))).toEqual(value)
        },
      ),
    )
  })

  it('rejects non-canonical encodings, trailing bytes, empty and oversized input with InvalidMessageError', () => {
    const nonMinimalInt = Uint8Array.of(0x18, 0x01) // 1 encoded in two bytes
    const indefiniteArray = Uint8Array.of(0x9f, 0x01, 0xff)
    const trailing = Uint8Array.of(0x01, 0x02)
    const duplicateKeys = Uint8Array.of(0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02)
    const truncated = encodeCanonical({ a: 'hello' }).subarray(0, 5)
    for (const bad of [nonMinimalInt, indefiniteArray, trailing, duplicateKeys, truncated, new Uint8Array(0)]) {
      expect(() => decodeCanonical(bad), toHex(bad)).toThrow(InvalidMessageError)
    }
    expect(() => decodeCanonical(encodeCanonical({ big: new Uint8Array(100) }), 50)).toThrow(/exceeds 50/)
  })

  it('never throws anything but InvalidMessageError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeCanonical(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidMessageError)
        }
      }),
    )
  })
})

describe('field validators', () => {
  it('accept what they promise and name the field otherwise', () => {
    const record = expectRecord({ term: 2, data: Uint8Array.of(1), kind: 'a', list: [1] })
    expect(expectUint(record.term, 'term')).toBe(2)
    expect(expectBytes(record.data, 'data')).toEqual(Uint8Array.of(1))
    expect(expectOneOf(record.kind, ['a', 'b'] as const, 'kind')).toBe('a')
    expect(expectArray(record.list, 'list')).toEqual([1])
    expect(() => expectUint(-1, 'term')).toThrow(/term must be a non-negative integer/)
    expect(() => expectUint(1.5, 'term')).toThrow(InvalidMessageError)
    expect(() => expectBytes('x', 'data')).toThrow(/data must be bytes/)
    expect(() => expectBytes(new Uint8Array(10), 'data', 4)).toThrow(/over 4/)
    expect(() => expectString(7, 'name')).toThrow(/name must be a string/)
    expect(() => expectArray([1, 2, 3], 'list', 2)).toThrow(/over 2/)
    expect(() => expectOneOf('c', ['a', 'b'], 'kind')).toThrow(/kind must be one of a, b/)
    expect(() => expectRecord([1])).toThrow(/must be a map/)
    expect(() => expectRecord(null)).toThrow(/must be a map/)
    expect(() => expectOnlyKeys({ a: 1, evil: 2 }, ['a'])).toThrow(/unknown field 'evil'/)
  })

  it('hex and utf8 helpers validate', () => {
    expect(toHex(fromHex('00ff10'))).toBe('00ff10')
    expect(() => fromHex('abc')).toThrow(InvalidMessageError)
    expect(() => fromHex('zz')).toThrow(InvalidMessageError)
    // The lookup table accepts exactly [0-9a-fA-F]: every other code unit, also beyond ASCII, is refused.
    expect(toHex(fromHex('09afAF'))).toBe('09afaf')
    for (const bad of ['0g', 'g0', '/0', ':0', '@0', '`0', 'G0', '0\u0100', '\u0660\u0660', ' 0', '0x'])
      expect(() => fromHex(bad), JSON.stringify(bad)).toThrow(InvalidMessageError)
    for (let code = 0; code < 256; code++) {
      const c = String.fromCharCode(code)
      const ok = /^[0-9a-fA-F]$/.test(c)
      if (ok) expect(fromHex(`${c}0`)[0]).toBe(Number.parseInt(c, 16) << 4)
      else expect(() => fromHex(`${c}0`)).toThrow(InvalidMessageError)
    }
    expect(fromUtf8(utf8('héllo'))).toBe('héllo')
    expect(() => fromUtf8(Uint8Array.of(0xff, 0xfe))).toThrow(InvalidMessageError)
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true)
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false)
    expect(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 3))).toBe(false)
  })
})

describe('membership and quorums', () => {
  it('computes crash and byzantine quorums', () => {
    expect([1, 2, 3, 4, 5].map(majority)).toEqual([1, 2, 2, 3, 3])
    expect([4, 7, 10].map(byzantineFaults)).toEqual([1, 2, 3])
    expect([4, 7, 10].map(byzantineQuorum)).toEqual([3, 5, 7])
  })

  it('refuses duplicate members', () => {
    const key = new Uint8Array(32)
    expect(() => membership([{ id: 'a', publicKey: key }], [{ id: 'a', publicKey: key }])).toThrow(/duplicate member a/)
  })

  it('errors say what to do', () => {
    expect(new NotLeaderError('n2').message).toMatch(/retry at n2/)
    expect(new NotLeaderError().message).toMatch(/no leader is known/)
    expect(new NotLeaderError('n2').code).toBe('NOT_LEADER')
  })
})
