import { describe, expect, it } from 'vitest'
import { clientRequestStatement, fromHex, InvalidMessageError, toHex } from '@synod/core'
import { generateEphemeralKeyPair, hmacSha256, httpSessionKey } from '@synod/crypto'
import { kvCommands } from '@synod/kv'
import { beginHttpSession, finishHttpSession, generateClientIdentity, sessionOpenOperation } from '../src/index.js'

/** The node's half of a session-open, as the daemon does it. */
function nodeAnswer(clientKey: Uint8Array, x25519: string, cluster: string) {
  const mine = generateEphemeralKeyPair()
  const session = 'ab'.repeat(16)
  const key = httpSessionKey(mine.secretKey, fromHex(x25519), {
    cluster,
    client: clientKey,
    node: 'node-1',
    session,
    clientEphemeral: fromHex(x25519),
    nodeEphemeral: mine.publicKey,
  })
  return { answer: { session, x25519: toHex(mine.publicKey), expiresInMs: 3_600_000, node: 'node-1' }, key }
}

describe('HTTP sessions (client side)', () => {
  it('derives the key the node derives and MACs the same statement a signature covers', () => {
    const me = generateClientIdentity()
    const opening = beginHttpSession()
    expect(opening.operation).toEqual(sessionOpenOperation(opening.body.x25519))
    const { answer, key } = nodeAnswer(me.publicKey, opening.body.x25519, 'prod')
    const session = finishHttpSession(opening, answer, me.publicKey, 'prod', 1_000)
    const operation = kvCommands.put('k', 'v')
    const headers = session.headers(operation, 3, 1_700_000_000_000)
    // The node knows whose session it is: no Synod-Client-Key (the MAC still covers the client key).
    expect(headers).toEqual({ 'synod-auth-session': answer.session, 'synod-session': '3', 'synod-timestamp': '1700000000000', 'synod-mac': expect.any(String) })
    expect(session.headers(operation, 0, 1_700_000_000_000)['synod-session']).toBeUndefined()
    const statement = clientRequestStatement({ client: me.publicKey, session: 3, timestamp: 1_700_000_000_000, operation }, 'prod')
    expect(headers['synod-mac']).toBe(toHex(hmacSha256(key, statement)))
    // Renewed a minute before the node's expiry.
    expect(session.renewAt).toBe(1_000 + 3_600_000 - 60_000)
    // Another cluster name gives another key: the MAC would not match.
    const other = finishHttpSession(opening, answer, me.publicKey, 'staging', 1_000)
    expect(other.headers(operation, 3, 1_700_000_000_000)['synod-mac']).not.toBe(headers['synod-mac'])
  })

  it('refuses a malformed answer or a low-order node key', () => {
    const me = generateClientIdentity()
    const opening = beginHttpSession()
    const { answer } = nodeAnswer(me.publicKey, opening.body.x25519, '')
    for (const bad of [null, {}, { ...answer, session: 'xyz' }, { ...answer, x25519: 'ab' }, { ...answer, node: '' }, { ...answer, expiresInMs: 0 }, { ...answer, x25519: '00'.repeat(32) }])
      expect(() => finishHttpSession(opening, bad, me.publicKey, '', 0), JSON.stringify(bad)).toThrow(InvalidMessageError)
  })
})
