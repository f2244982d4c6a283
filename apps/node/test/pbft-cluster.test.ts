// 4 PBFT processes: writes, one replica SIGKILLed, writes continue, and the
// answer's reply certificate verifies against the members' keys (and a
// tampered one does not).
import { describe, expect, it } from 'vitest'
import { type ClusterNode, sleep } from '../src/cluster.js'
import { readConfigFile, validateConfig } from '../src/config.js'
import { NodeSynodClient } from '@synod/client/node'
import { verifyGet } from '../src/verify.js'
import { useLocalCluster } from './local-cluster.js'

const { nodes } = useLocalCluster('pbft', 4, 'synod-pbft-e2e-')

async function putRetrying(node: ClusterNode, key: string, value: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new NodeSynodClient(node.http, { timeoutMs: 8000 }).put(key, value)
      return
    } catch (error) {
      if (attempt > 20) throw error
      await sleep(200)
    }
  }
}

describe('4-node PBFT cluster of real processes', () => {
  it('commits writes through every replica, survives one SIGKILLed replica, and certifies answers', async () => {
    await Promise.all(nodes.flatMap((node, n) => Array.from({ length: 25 }, (_, i) => putRetrying(node, `k-${n}-${i}`, `v-${n}-${i}`))))
    const victim = nodes[3]!
    victim.process!.kill('SIGKILL')
    await victim.exited
    const live = nodes.slice(0, 3)
    await Promise.all(live.flatMap((node, n) => Array.from({ length: 20 }, (_, i) => putRetrying(node, `after-${n}-${i}`, `w-${n}-${i}`))))

    const { members } = validateConfig(readConfigFile(nodes[0]!.configFile).raw)
    const answer = await new NodeSynodClient(live[1]!.http, { timeoutMs: 8000 }).get('k-2-7')
    expect(answer.value).toBe('v-2-7')
    const verified = verifyGet('k-2-7', answer, members)
    expect(verified.value).toBe('v-2-7')
    expect(verified.signers.length).toBeGreaterThanOrEqual(2)

    // A node that lies about the value, or a certificate with a flipped bit, does not verify.
    expect(() => verifyGet('k-2-7', { ...answer, value: 'forged' }, members)).toThrow(/different from the certified result/)
    const flipped = answer.certificate!.slice(0, -2) + (answer.certificate!.endsWith('00') ? '01' : '00')
    expect(() => verifyGet('k-2-7', { ...answer, certificate: flipped }, members)).toThrow()
    expect(() => verifyGet('k-2-8', answer, members)).toThrow(/valid matching replies/)
  }, 120_000)
})
