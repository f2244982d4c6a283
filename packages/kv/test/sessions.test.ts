import { afterEach, describe, expect, it, vi } from 'vitest'
import { clientIdOf, encodeCanonical, encodeSignedClientRequest, fromUtf8, type SignedClientRequest } from '@synod/core'
import { decodeResult, encodeCommand, KvStateMachine, kvCommands, principalOf, type KvCommand, type KvResult } from '../src/index.js'
import { SessionTable } from '../src/sessions.js'

function run(kv: KvStateMachine, command: Uint8Array, index: number): KvResult {
  return decodeResult(kv.apply(command, index))
}

function ledger(kv: KvStateMachine, key = 'ledger'): string[] {
  const got = decodeResult(kv.query(kvCommands.get(key)))
  if (!got.ok || got.op !== 'get' || got.value === null) return []
  return (got.value as Uint8Array[]).map((e) => fromUtf8(e))
}

/** A client key; the state machine does not verify signatures (the protocol or the daemon did), so any 64 bytes do. */
function clientKey(n: number): Uint8Array {
  const key = new Uint8Array(32)
  key[0] = n >> 8
  key[1] = n & 0xff
  key[31] = 7
  return key
}

function signed(client: Uint8Array, session: number, timestamp: number, command: KvCommand): Uint8Array {
  const request: SignedClientRequest = { client, session, timestamp, operation: encodeCommand(command), signature: new Uint8Array(64).fill(1) }
  return encodeSignedClientRequest(request)
}

const pay = (amount: string): KvCommand => ({ op: 'append', key: 'ledger', value: new TextEncoder().encode(amount) })

afterEach(() => vi.restoreAllMocks())

describe('the eviction attack (issue 13.4)', () => {
  /** A victim writes once; 20,000 writes from other client ids push its session out; then it retries. */
  function attack(kv: KvStateMachine): KvResult {
    let index = 0
    run(kv, kvCommands.append('ledger', 'pay-100', { client: 'victim', seq: 1 }), ++index)
    for (let i = 0; i < 20_000; i++) run(kv, kvCommands.put('noise', 'x', { client: `attacker-${i}`, seq: 1 }), ++index)
    return run(kv, kvCommands.append('ledger', 'pay-100', { client: 'victim', seq: 1 }), ++index)
  }

  it('the retry answers session-expired and the ledger holds one entry', () => {
    const kv = new KvStateMachine()
    expect(attack(kv)).toMatchObject({ ok: false, code: 'session-expired' })
    expect(ledger(kv)).toEqual(['pay-100'])
    expect(kv.sessionCount).toBe(10_000)
    expect(kv.session('victim')).toBeUndefined()
  }, 60_000)

  it('without the floor (a test-only switch) the retry is applied a second time', () => {
    vi.spyOn(SessionTable.prototype, 'floorFor').mockReturnValue(0)
    const kv = new KvStateMachine()
    expect(attack(kv)).toMatchObject({ ok: true, op: 'append', length: 2 })
    expect(ledger(kv)).toEqual(['pay-100', 'pay-100'])
  }, 60_000)

  it('the same attack on a signed client: its retry is expired, a genuinely new request (newer timestamp) runs', () => {
    const kv = new KvStateMachine({ maxSessions: 100 })
    const victim = clientKey(1)
    const t0 = 1_700_000_000_000
    let index = 0
    run(kv, signed(victim, 0, t0, pay('pay-100')), ++index)
    // 200 other signed clients, one session each, a little later.
    for (let i = 0; i < 200; i++) run(kv, signed(clientKey(100 + i), 0, t0 + 10 + i, { op: 'put', key: 'n', value: new Uint8Array(1) }), ++index)
    expect(kv.session(`${clientIdOf(victim)}:0`)).toBeUndefined()
    expect(run(kv, signed(victim, 0, t0, pay('pay-100')), ++index)).toMatchObject({ code: 'session-expired' })
    expect(ledger(kv)).toEqual(['pay-100'])
    // A client that never wrote before, at the current time, is above the floor.
    expect(run(kv, signed(clientKey(999), 0, t0 + 60_000, pay('pay-7')), ++index)).toMatchObject({ ok: true })
    expect(run(kv, signed(victim, 0, t0 + 60_001, pay('pay-200')), ++index)).toMatchObject({ ok: true })
    expect(ledger(kv)).toEqual(['pay-100', 'pay-7', 'pay-200'])
  })
})

describe('per-client fairness', () => {
  const a = clientKey(1)
  const b = clientKey(2)
  const t0 = 1_700_000_000_000

  /** Client a writes once (session 0); client b then opens `sessions` sessions of its own; a retries. */
  function flood(kv: KvStateMachine, sessions: number): KvResult {
    let index = 0
    run(kv, signed(a, 0, t0, pay('a-pays')), ++index)
    for (let s = 0; s < sessions; s++) run(kv, signed(b, s, t0 + 1 + s, { op: 'put', key: 'b', value: new Uint8Array(1) }), ++index)
    return run(kv, signed(a, 0, t0, pay('a-pays')), ++index)
  }

  it('a client opening many sessions evicts only its own (per-client cap)', () => {
    const kv = new KvStateMachine({ maxSessions: 1000, maxSessionsPerClient: 50 })
    // The retry is answered from a's session: the cached answer, not a second append.
    expect(flood(kv, 5000)).toMatchObject({ ok: true, op: 'append', length: 1 })
    expect(ledger(kv)).toEqual(['a-pays'])
    expect(kv.sessionCount).toBe(51)
    // b's own oldest sessions went; their retries are expired.
    expect(run(kv, signed(b, 0, t0 + 1, { op: 'put', key: 'b', value: new Uint8Array(1) }), 10_000)).toMatchObject({ code: 'session-expired' })
  })

  it('a full table evicts from the client holding the most sessions', () => {
    // No per-client cap in effect: the global rule alone.
    const kv = new KvStateMachine({ maxSessions: 100, maxSessionsPerClient: 100 })
    expect(flood(kv, 1000)).toMatchObject({ ok: true, op: 'append', length: 1 })
    expect(kv.sessionCount).toBe(100)
    expect(kv.session(`${clientIdOf(a)}:0`)).toBeDefined()
  })

  it('with plain LRU eviction instead (a test-only switch) the flood evicts the other client', () => {
    vi.spyOn(SessionTable.prototype as unknown as { fairVictim(): string }, 'fairVictim').mockImplementation(function (this: unknown) {
      return (this as { sessions: Map<string, unknown> }).sessions.keys().next().value as string
    })
    const kv = new KvStateMachine({ maxSessions: 100, maxSessionsPerClient: 100 })
    expect(flood(kv, 1000)).toMatchObject({ code: 'session-expired' })
    expect(kv.session(`${clientIdOf(a)}:0`)).toBeUndefined()
  })

  it('legacy (unsigned) sessions are one pool: flooding it does not evict signed clients', () => {
    const kv = new KvStateMachine({ maxSessions: 100 })
    let index = 0
    run(kv, signed(a, 0, t0, pay('a-pays')), ++index)
    for (let i = 0; i < 1000; i++) run(kv, kvCommands.put('n', 'x', { client: `legacy-${i}`, seq: t0 + i }), ++index)
    expect(kv.session(`${clientIdOf(a)}:0`)).toBeDefined()
    expect(principalOf('legacy-1')).toBe('')
    expect(principalOf(`${clientIdOf(a)}:3`)).toBe(clientIdOf(a))
  })

  it('eviction is deterministic and survives snapshot/restore (same state, same bytes, same later evictions)', () => {
    const options = { maxSessions: 20, maxSessionsPerClient: 5 }
    const live = new KvStateMachine(options)
    const commands: Uint8Array[] = []
    for (let i = 0; i < 300; i++) {
      const who = clientKey(i % 7)
      commands.push(
        i % 3 === 0
          ? kvCommands.append('l', String(i), { client: `plain-${i % 11}`, seq: t0 + i })
          : signed(who, i % 9, t0 + i, { op: 'put', key: `k${i % 5}`, value: new Uint8Array([i & 0xff]) }),
      )
    }
    const restored = new KvStateMachine(options)
    commands.forEach((c, i) => {
      const answer = live.apply(c, i + 1)
      if (i === 150) restored.restore(live.snapshot())
      if (i > 150) expect(restored.apply(c, i + 1)).toEqual(answer)
    })
    expect(restored.snapshot()).toEqual(live.snapshot())
    // Retries of everything: expired or cached, never applied again; both alike.
    commands.forEach((c, i) => expect(restored.apply(c, 1000 + i)).toEqual(live.apply(c, 1000 + i)))
    expect(restored.snapshot()).toEqual(live.snapshot())
  })
})

describe('signed envelopes', () => {
  const alice = clientKey(1)
  const t0 = 1_700_000_000_000

  it('runs the operation with session `${clientId}:${session}` and seq = timestamp', () => {
    const kv = new KvStateMachine()
    const first = kv.apply(signed(alice, 0, t0, pay('one')), 1)
    expect(decodeResult(first)).toMatchObject({ ok: true, op: 'append', length: 1 })
    expect(kv.session(`${clientIdOf(alice)}:0`)).toMatchObject({ seq: t0, lastIndex: 1 })
    // A retry (same envelope) gets the first answer back.
    expect(kv.apply(signed(alice, 0, t0, pay('one')), 2)).toEqual(first)
    // Another session of the same client is a separate stream.
    expect(run(kv, signed(alice, 1, t0, pay('two')), 3)).toMatchObject({ ok: true, length: 2 })
    // An older timestamp on a session is stale; a newer one runs.
    expect(run(kv, signed(alice, 0, t0 + 5, pay('three')), 4)).toMatchObject({ ok: true, length: 3 })
    expect(run(kv, signed(alice, 0, t0, pay('one')), 5)).toMatchObject({ code: 'stale-sequence' })
    expect(ledger(kv)).toEqual(['one', 'two', 'three'])
  })

  it('vouched sessions: a plain command in a signed client\'s session is refused unless the member is trusted to vouch for it', () => {
    const session = { client: `${clientIdOf(alice)}:0`, seq: t0 }
    // Default (byzantine-safe): nobody may pose as a signed client's session without its signature.
    const strict = new KvStateMachine()
    expect(run(strict, kvCommands.append('ledger', 'one', session), 1)).toMatchObject({ ok: false, code: 'invalid-command' })
    expect(ledger(strict)).toEqual([])
    // Crash-fault daemon (session MAC or TLS checked at the edge): the same session as the client's envelopes.
    const vouched = new KvStateMachine({ vouchedSessions: true })
    expect(run(vouched, kvCommands.append('ledger', 'one', session), 1)).toMatchObject({ ok: true, length: 1 })
    // A retry of the same (session, timestamp) — signed this time, after a fallback — gets the first answer, applies nothing.
    expect(run(vouched, signed(alice, 0, t0, pay('one')), 2)).toMatchObject({ ok: true, length: 1 })
    expect(run(vouched, kvCommands.append('ledger', 'one', { ...session, seq: t0 - 1 }), 3)).toMatchObject({ code: 'stale-sequence' })
    expect(ledger(vouched)).toEqual(['one'])
    // Its sessions count against the client's own fairness budget (principalOf is the client id).
    expect(principalOf(session.client)).toBe(clientIdOf(alice))
  })

  it('plain commands keep working next to envelopes, and reads in an envelope are answered by query', () => {
    const kv = new KvStateMachine()
    run(kv, kvCommands.put('k', 'plain'), 1)
    run(kv, kvCommands.put('k2', 'v', { client: 'legacy', seq: 1 }), 2)
    expect(decodeResult(kv.query(signed(alice, 0, t0, { op: 'get', key: 'k' })))).toMatchObject({ ok: true, value: new TextEncoder().encode('plain') })
  })

  it('refuses an operation that carries its own session, a plain command posing as a signed session, and malformed envelopes', () => {
    const kv = new KvStateMachine()
    const before = kv.snapshot()
    const withSession = signed(alice, 0, t0, { op: 'put', key: 'k', value: new Uint8Array(1), session: { client: 'x', seq: 1 } })
    expect(run(kv, withSession, 1)).toMatchObject({ code: 'invalid-command', message: expect.stringMatching(/carries no session/) })
    const posing = kvCommands.put('k', 'v', { client: `${clientIdOf(alice)}:0`, seq: t0 + 1 })
    expect(run(kv, posing, 2)).toMatchObject({ code: 'invalid-command', message: expect.stringMatching(/sign the request/) })
    const notCanonical = encodeCanonical({ v: 1, c: alice, n: 0, t: t0, o: encodeCommand(pay('x')), s: new Uint8Array(63) })
    expect(run(kv, notCanonical, 3)).toMatchObject({ code: 'invalid-command' })
    const garbageOperation = encodeSignedClientRequest({ client: alice, session: 0, timestamp: t0, operation: new Uint8Array([0xff]), signature: new Uint8Array(64) })
    expect(run(kv, garbageOperation, 4)).toMatchObject({ code: 'invalid-command' })
    expect(kv.snapshot()).toEqual(before)
  })
})
