// The runner's verifying client (byzantine protocols): an answer is believed only with a reply
// certificate of f + 1 members over the result of the exact command, and with every field the
// result determines equal to it. Each way a faulty node could fool an unverifying client is refused.
import { toHex } from '@synod/core'
import { createSigner, encodeReplyCertificate, generateKeyPair, replyStatement, resultLeaf } from '@synod/crypto'
import { encodeResult, type KvResult, kvCommands } from '@synod/kv'
import { describe, expect, it } from 'vitest'
import { AnswerVerifier, membersOf } from '../../src/cluster/certificates.js'
import { believed } from '../../src/cluster/workload.js'

const keys = [0, 1, 2, 3].map(() => generateKeyPair())
const members = keys.map((k, i) => ({ id: `node-${i}`, publicKey: toHex(k.publicKey) }))
const outsider = generateKeyPair()

/** A certificate as a correct cluster makes it: `signers` sign the batch root of the one command. */
function answer(command: Uint8Array, result: KvResult, fields: Record<string, unknown>, signers = [0, 1], index = 7, signWith = keys): Record<string, unknown> {
  const resultBytes = encodeResult(result)
  const root = resultLeaf(index, command, resultBytes, false)
  const statement = replyStatement(3, root)
  const replies = signers.map((i) => ({ id: `node-${i}`, sig: createSigner(signWith[i]!).sign(statement) }))
  const certificate = encodeReplyCertificate({ seq: 3, index, failed: false, path: [], replies })
  return { ...fields, certificate: toHex(certificate), result: toHex(resultBytes), index }
}

const utf8 = (text: string) => new TextEncoder().encode(text)
const getResult = (value: string | null): KvResult => ({ ok: true, op: 'get', value: value === null ? null : utf8(value) })

describe('AnswerVerifier', () => {
  it('accepts a correct read, write and cas (applied and mismatch), and counts them', () => {
    const v = new AnswerVerifier(members)
    expect(v.check({ f: 'read', key: 'k/1' }, answer(kvCommands.get('k/1'), getResult('a'), { key: 'k/1', value: 'a' }), 'n1')).toBeUndefined()
    expect(v.check({ f: 'write', key: 'k/1', value: 'b' }, answer(kvCommands.put('k/1', 'b'), { ok: true, op: 'put' }, {}), 'n1')).toBeUndefined()
    expect(v.check({ f: 'cas', key: 'k/1', expected: 'b', value: 'c' }, answer(kvCommands.cas('k/1', 'b', 'c'), { ok: true, op: 'cas' }, { applied: true }), 'n1')).toBeUndefined()
    const mismatch: KvResult = { ok: false, code: 'cas-mismatch', message: 'x', current: utf8('z') }
    expect(v.check({ f: 'cas', key: 'k/1', expected: 'b', value: 'c' }, answer(kvCommands.cas('k/1', 'b', 'c'), mismatch, { applied: false, value: 'z' }), 'n1')).toBeUndefined()
    expect(v.result()).toMatchObject({ checker: 'certificates', verdict: 'ok' })
    expect(v.verified).toBe(4)
  })

  it('refuses an answer without a certificate, a lie about the value, one signer only, an outsider, another command', () => {
    const v = new AnswerVerifier(members)
    const refused = [
      v.check({ f: 'write', key: 'k/1', value: 'b' }, {}, 'n2'), // the planted bug: acknowledged from a tentative execution
      v.check({ f: 'read', key: 'k/1' }, answer(kvCommands.get('k/1'), getResult('a'), { key: 'k/1', value: 'forged' }), 'n2'),
      v.check({ f: 'read', key: 'k/1' }, answer(kvCommands.get('k/1'), getResult('a'), { value: 'a' }, [0]), 'n2'),
      v.check({ f: 'read', key: 'k/1' }, answer(kvCommands.get('k/1'), getResult('a'), { value: 'a' }, [0, 1], 7, [keys[0]!, outsider]), 'n2'),
      v.check({ f: 'write', key: 'k/1', value: 'new' }, answer(kvCommands.put('k/1', 'old'), { ok: true, op: 'put' }, {}), 'n2'), // a replayed certificate
      v.check({ f: 'cas', key: 'k/1', expected: 'b', value: 'c' }, answer(kvCommands.cas('k/1', 'b', 'c'), { ok: false, code: 'cas-mismatch', message: 'x', current: null }, { applied: true }), 'n2'),
    ]
    for (const why of refused) expect(why).toEqual(expect.any(String))
    expect(refused[0]).toBe('no reply certificate')
    expect(v.unverified).toBe(6)
    const result = v.result()
    expect(result.verdict).toBe('violation')
    expect(result.violations[0]!.message).toMatch(/n2: write k\/1: no reply certificate/)
  })

  it('believed(): an answer the verifier refuses becomes unknown (info); without a verifier it is believed as it is', () => {
    const bare = { kind: 'ok' as const, status: 200, body: { value: 'forged' } }
    const v = new AnswerVerifier(members)
    expect(believed(bare, v, (x, body) => x.check({ f: 'read', key: 'k' }, body, 'n'))).toMatchObject({ kind: 'info', error: 'UNVERIFIED: no reply certificate' })
    expect(believed(bare, undefined, () => 'never called')).toBe(bare)
  })

  it('reads the members from the configuration and refuses one without them', () => {
    expect(membersOf(JSON.stringify({ members }))).toEqual(members)
    expect(() => membersOf('{}')).toThrow(/no members/)
    expect(() => membersOf(JSON.stringify({ members: [{ id: 'x' }] }))).toThrow(/publicKey/)
  })
})
