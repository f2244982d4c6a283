import { describe, expect, it } from 'vitest'
import { utf8 } from '@synod/core'
import { Mempool } from '../src/client/mempool.js'
import { makeBatch } from '../src/messages.js'

const sign = () => new Uint8Array(64)
const batch = (proxy: string, seq: number, ...commands: string[]) => makeBatch(proxy, seq, commands.map(utf8), sign)

describe('mempool (per batch)', () => {
  it('orders whole batches up to the command limit, skipping those in flight, and forgets a committed name', () => {
    const pool = new Mempool(100, 0)
    const [a, b, c] = [batch('r1', 1, 'x', 'y'), batch('r2', 1, 'z'), batch('r3', 1, 'u', 'v')]
    for (const x of [a, b, c]) expect(pool.add(x)).toBe(true)
    expect(pool.size).toBe(5)
    expect(pool.select(3, new Set())).toEqual([a.digest, b.digest])
    expect(pool.select(1, new Set())).toEqual([a.digest]) // at least one batch
    const other = batch('r1', 1, 'x', 'altered') // a second version of r1's batch 1 (a faulty proxy's)
    expect(pool.add(other)).toBe(true)
    expect(pool.holds(other.digest)).toBe(true)
    pool.committed(a)
    // Whichever version committed, the name is done: the other version leaves too and never comes back.
    expect(pool.holds(other.digest)).toBe(false)
    expect(pool.add(other)).toBe(true)
    expect(pool.holds(other.digest)).toBe(false)
    expect(pool.get(a.digest)).toBe(a) // still there to execute or relay until forgotten
    pool.forget([a.digest])
    expect(pool.get(a.digest)).toBeUndefined()
    expect(pool.size).toBe(3)
  })

  it('a batch reloaded from storage is executable but never proposed or vouched for', () => {
    const pool = new Mempool(100, 0)
    const stored = batch('r1', 1, 'x')
    pool.addStored(stored)
    expect(pool.get(stored.digest)).toBe(stored)
    expect(pool.holds(stored.digest)).toBe(false)
    expect(pool.select(10, new Set())).toEqual([])
    expect(pool.size).toBe(0)
    // The same batch arriving from its proxy is a different matter: then it is pending (proposable).
    const fresh = batch('r1', 2, 'y')
    pool.add(fresh)
    expect(pool.select(10, new Set())).toEqual([fresh.digest])
  })

  it('refuses batches past its capacity, counting commands', () => {
    const pool = new Mempool(3, 0)
    expect(pool.add(batch('r1', 1, 'a', 'b'))).toBe(true)
    expect(pool.add(batch('r2', 1, 'c', 'd'))).toBe(false)
    expect(pool.addLocal(utf8('e'), { id: 1 })).toBe(true)
    expect(pool.addLocal(utf8('f'), { id: 2 })).toBe(false)
  })
})
