// Issue 14 (daemon) with authentication on: a 4-node HotStuff cluster of real
// processes orders only client-signed envelopes (every replica verifies the
// client's signature before voting), and its answers carry reply certificates
// in PBFT's format that `verifyAnswer` (what `synod kv … --verify` runs)
// checks against the request the client signed: a stale certificate of an
// earlier get of the same key, or one for another request, is rejected.
import { clientIdOf, utf8 } from '@synod/core'
import { createSigner, keyPairFromSecret, sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { readConfigFile, validateConfig } from '../src/config.js'
import { type KvResponse, type SynodClient, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import { certifiedValue, verifyAnswer } from '../src/verify.js'
import { useLocalCluster } from './local-cluster.js'

const adminKeys = keyPairFromSecret(sha256(utf8('hotstuff-signed-test:admin')))
const { nodes } = useLocalCluster('hotstuff', 4, 'synod-hs-signed-', {
  security: { admins: [clientIdOf(adminKeys.publicKey)] },
  credentials: { signer: createSigner(adminKeys) },
})

function signedClient(endpoint: string, secret: string): SynodClient {
  return new NodeSynodClient(endpoint, { timeoutMs: 15_000, signer: createSigner(keyPairFromSecret(sha256(utf8(secret)))) })
}

/** Retry while the cluster is busy (timeouts, 5xx); a 4xx answer is final. */
async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (error) {
      if (i >= 20 || (error instanceof SynodHttpError && error.status < 500)) throw error
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

describe('4-node HotStuff cluster with authentication on', () => {
  it('orders signed requests only; a signed write is read back through another node with a certificate bound to that read', async () => {
    const members = validateConfig(readConfigFile(nodes[0]!.configFile).raw).members
    const writer = signedClient(nodes[1]!.http, 'hotstuff-signed-test:admin')
    const reader = signedClient(nodes[3]!.http, 'hotstuff-signed-test:admin')
    for (const node of nodes) {
      const status = (await new NodeSynodClient(node.http, { timeoutMs: 5000, signer: createSigner(adminKeys) }).status()) as {
        protocol?: string
        detail?: { clientAuthentication?: string }
      }
      expect(status.protocol).toBe('hotstuff')
      // Every replica checks client signatures itself, not only the node a client called.
      expect(status.detail?.clientAuthentication).toBe('signed')
    }

    const put = await retrying(() => writer.put('balance', '100'))
    const putEnvelope = writer.lastEnvelope!
    expect(verifyAnswer(putEnvelope, put, members).result).toMatchObject({ ok: true, op: 'put' })

    const oldGet: KvResponse = await retrying(() => reader.get('balance'))
    const oldEnvelope = reader.lastEnvelope!
    expect(oldGet.value).toBe('100')
    const verifiedOld = verifyAnswer(oldEnvelope, oldGet, members)
    expect(certifiedValue(verifiedOld.result)).toBe('100')
    expect(verifiedOld.signers.length).toBeGreaterThanOrEqual(2) // f + 1

    await retrying(() => writer.put('balance', '0'))
    const newGet = await retrying(() => reader.get('balance'))
    const newEnvelope = reader.lastEnvelope!
    expect(newGet.value).toBe('0')
    expect(certifiedValue(verifyAnswer(newEnvelope, newGet, members).result)).toBe('0')

    // A replayed answer (valid, but to the earlier get) and an answer to another request fail verification.
    expect(() => verifyAnswer(newEnvelope, oldGet, members)).toThrow()
    expect(() => verifyAnswer(putEnvelope, newGet, members)).toThrow()
    // A certificate whose result was swapped for another one fails too.
    expect(() => verifyAnswer(newEnvelope, { ...newGet, result: oldGet.result! }, members)).toThrow()

    // A client granted nothing is refused; an unsigned request is refused.
    await expect(signedClient(nodes[2]!.http, 'hotstuff-signed-test:stranger').get('balance')).rejects.toMatchObject({ status: 403 })
    await expect(new NodeSynodClient(nodes[2]!.http, { timeoutMs: 5000 }).put('balance', '1')).rejects.toMatchObject({ status: 401 })
  }, 180_000)
})
