import { toHex, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { digestHex, hmacSha256, hmacSha256Key, hmacSha256With, sha256, sha256With, type HashBackendChoice } from '../src/index.js'

const backends: HashBackendChoice[] = ['noble', 'node', 'auto']

describe.each(backends)('%s hashes', (backend) => {
  it('sha256 matches FIPS 180-2 vectors', () => {
    const hash = sha256With(backend)
    expect(toHex(hash(utf8('')))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(toHex(hash(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  it('hmacSha256 matches RFC 4231 test case 2', () => {
    const mac = hmacSha256With(backend)
    expect(toHex(mac(utf8('Jefe'), utf8('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    )
  })

  it('hmacSha256Key matches RFC 4231 test cases 2 and 6 (a key longer than the block is hashed first)', () => {
    expect(toHex(hmacSha256Key(utf8('Jefe'), backend)(utf8('what do ya want for nothing?')))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    )
    const longKey = new Uint8Array(131).fill(0xaa)
    expect(toHex(hmacSha256Key(longKey, backend)(utf8('Test Using Larger Than Block-Size Key - Hash Key First')))).toBe(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    )
  })

  it('hmacSha256Key gives hmacSha256 for every key and message length, call after call', () => {
    for (const keyLength of [0, 1, 32, 63, 64, 65, 200]) {
      const key = Uint8Array.from({ length: keyLength }, (_, i) => (i * 7 + 1) & 0xff)
      const mac = hmacSha256Key(key, backend)
      // Long, short, at and past the reused scratch (1024 B), then short again: no bytes of an earlier message leak in.
      for (const size of [0, 1, 55, 64, 201, 5000, 1023, 1024, 1025, 3, 1024, 0]) {
        const message = Uint8Array.from({ length: size }, (_, i) => (i * 13 + keyLength) & 0xff)
        expect(toHex(mac(message))).toBe(toHex(hmacSha256With('noble')(key, message)))
      }
    }
  })

  it('hmacSha256Key keeps no state between messages and copies the key', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i)
    const mac = hmacSha256Key(key, backend)
    const firstBytes = mac(utf8('a'))
    const first = toHex(firstBytes)
    mac(utf8('something else entirely'))
    expect(toHex(firstBytes)).toBe(first) // a result is its own buffer, not overwritten by the next call
    key.fill(0)
    expect(toHex(mac(utf8('a')))).toBe(first)
  })
})

describe('hash backends agree', () => {
  it('on a range of sizes', () => {
    for (const size of [1, 55, 56, 64, 100, 1000, 70_000]) {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff)
      expect(sha256With('node')(bytes)).toEqual(sha256With('noble')(bytes))
      expect(hmacSha256With('node')(bytes.subarray(0, 40), bytes)).toEqual(hmacSha256With('noble')(bytes.subarray(0, 40), bytes))
    }
  })

  it('the defaults and digestHex', () => {
    expect(sha256(utf8('abc'))).toBeInstanceOf(Uint8Array)
    expect(hmacSha256(utf8('k'), utf8('m')).byteLength).toBe(32)
    expect(digestHex(utf8('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
})
