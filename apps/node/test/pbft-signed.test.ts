// Issue 12 §8–9 on real processes: a 4-node PBFT cluster with authentication on
// executes only client-signed requests (every replica verifies the client's
// signature), and `synod kv … --verify` accepts only the certificate of the
// request it signed: a stale answer (the attack: an older, valid certificate of
// the same key's get) and another client's answer are rejected.
import { clientIdOf, utf8 } from '@synod/core'
import { createSigner, keyPairFromSecret, sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { readConfigFile, validateConfig } from '../src/config.js'
import { HttpKvClient, KvHttpError, type KvResponse } from '../src/kv-client.js'
import { verifyAnswer } from '../src/verify.js'
import { useLocalCluster } from './local-cluster.js'

const adminKeys = keyPairFromSecret(sha256(utf8('pbft-signed-test:admin')))
const { nodes } = useLocalCluster('pbft', 4, 'synod-pbft-signed-', {
  security: { admins: [clientIdOf(adminKeys.publicKey)] },
  credentials: { signer: createSigner(adminKeys) },
})

function signedClient(endpoint: string, secret: string): HttpKvClient {
  return new HttpKvClient(endpoint, 15_000, undefined, { signer: createSigner(keyPairFromSecret(sha256(utf8(secret)))) })
}

async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (i >= 20 || (error instanceof KvHttpError && error.status < 500)) throw error
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

describe('4-node PBFT cluster with authentication on', () => {
  it('answers signed requests with certificates bound to them; stale and foreign certificates fail verification', async () => {
    const members = validateConfig(readConfigFile(nodes[0]!.configFile).raw).members
    const admin = signedClient(nodes[1]!.http, 'pbft-signed-test:admin')
    // Every replica verifies client signatures (not only the node that took the request).
    const status = (await admin.status()) as { detail?: { clientAuthentication?: string } }
    expect(status.detail?.clientAuthentication).toBe('signed')
    await retrying(() => admin.put('balance', '100'))
    const putEnvelope = admin.lastEnvelope!
    const oldGet: KvResponse = await retrying(() => admin.get('balance'))
    const oldEnvelope = admin.lastEnvelope!
    expect(oldGet.value).toBe('100')
    await retrying(() => admin.put('balance', '0'))
    const newGet = await retrying(() => admin.get('balance'))
    const newEnvelope = admin.lastEnvelope!
    expect(newGet.value).toBe('0')

    expect(verifyAnswer(newEnvelope, newGet, members).signers.length).toBeGreaterThanOrEqual(2)
    expect(verifyAnswer(oldEnvelope, oldGet, members).result).toMatchObject({ ok: true, op: 'get' })
    // The replayed answer of issue 12 §9: valid, but for an older request.
    expect(() => verifyAnswer(newEnvelope, oldGet, members)).toThrow()
    expect(() => verifyAnswer(putEnvelope, newGet, members)).toThrow()

    // Another client (granted nothing) is refused at the edge; an unsigned request is refused too.
    const stranger = signedClient(nodes[2]!.http, 'pbft-signed-test:stranger')
    await expect(stranger.get('balance')).rejects.toMatchObject({ status: 403 })
    await expect(new HttpKvClient(nodes[2]!.http, 5000).get('balance')).rejects.toMatchObject({ status: 401 })
  }, 180_000)
})
