// Issue 17 on real processes: a 3-node Multi-Paxos cluster (`synod start --protocol paxos`, libp2p,
// durable storage) takes writes across a SIGKILL of the leader; the killed node restarts from disk and
// catches up; every acknowledged write is then readable, linearizably, through every node. Then a
// fourth node joins (`synod init --join`, `synod members add`: learner, caught up, voter) and every
// write is readable through it.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { type ClusterNode, freePort, sleep, startNodeProcess, waitLeader, waitReady } from '../src/cluster.js'
import { NodeSynodClient } from '@synod/client/node'
import { useLocalCluster } from './local-cluster.js'

const { root, nodes } = useLocalCluster('paxos', 3, 'synod-paxos-e2e-', { startupMs: 120_000 })
const acknowledged = new Map<string, string>()
const live = () => nodes.filter((n) => n.process?.exitCode === null && n.process.signalCode === null)

/** `total` writes of unique keys from `concurrency` clients over the live nodes, each retried until acknowledged. */
async function writeMany(prefix: string, total: number, concurrency: number): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (next < total) {
        const i = next++
        const key = `${prefix}-${i}`
        for (let attempt = 0; ; attempt++) {
          const targets = live()
          try {
            await new NodeSynodClient(targets[(w + attempt) % targets.length]!.http, { timeoutMs: 5000 }).put(key, `v${i}`)
            acknowledged.set(key, `v${i}`)
            break
          } catch (error) {
            if (attempt > 80) throw new Error(`write ${key} never acknowledged: ${(error as Error).message}`)
            await sleep(100)
          }
        }
      }
    }),
  )
}

async function leaderNode(): Promise<ClusterNode> {
  const id = await waitLeader(live(), 30_000)
  return nodes.find((n) => n.id === id)!
}

describe('3-node Multi-Paxos cluster of real processes', () => {
  it('takes writes across a SIGKILL of the leader; every acknowledged write is readable through every node', async () => {
    await writeMany('before', 300, 12)
    const leader = await leaderNode()
    leader.process!.kill('SIGKILL')
    await leader.exited
    await writeMany('after', 200, 12)
    expect(acknowledged.size).toBe(500)
    expect((await leaderNode()).id).not.toBe(leader.id)

    startNodeProcess(leader)
    await waitReady([leader], 120_000)
    for (const node of nodes) {
      const client = new NodeSynodClient(node.http, { timeoutMs: 10_000 })
      const missing: string[] = []
      const entries = [...acknowledged]
      for (let i = 0; i < entries.length; i += 50) {
        const batch = entries.slice(i, i + 50)
        // Linearizable reads: the restarted node answers once it has caught up far enough (retried while it cannot).
        const values = await Promise.all(
          batch.map(async ([key]) => {
            for (let attempt = 0; ; attempt++) {
              try {
                return (await client.get(key)).value
              } catch (error) {
                if (attempt > 100) throw error
                await sleep(100)
              }
            }
          }),
        )
        batch.forEach(([key, value], j) => {
          if (values[j] !== value) missing.push(`${key}: expected ${value}, read ${String(values[j])}`)
        })
      }
      expect(missing, `${node.name} lost acknowledged writes`).toEqual([])
    }
  }, 300_000)

  it('a fourth node joins with init --join and members add, becomes a voter, takes writes and reads every one', async () => {
    const cli = async (args: string[]) => {
      const out = new PassThrough()
      const chunks: Buffer[] = []
      out.on('data', (c: Buffer) => chunks.push(c))
      const code = await main(args, out)
      return { code, output: Buffer.concat(chunks).toString('utf8') }
    }
    const dir = join(root, 'node4')
    const [p2p, http] = [await freePort(), await freePort()]
    const init = await cli(['init', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${p2p}`, '--http', `127.0.0.1:${http}`, '--join', nodes[0]!.http])
    expect(init.code, init.output).toBe(0)
    const configFile = join(dir, 'synod.json')
    expect(JSON.parse(readFileSync(configFile, 'utf8'))).toMatchObject({ join: true, protocol: 'paxos' })
    const id = init.output.match(/node id:\s+(\S+)/)![1]!
    const joiner: ClusterNode = { name: 'node4', id, dataDir: dir, configFile, http: `127.0.0.1:${http}` }
    nodes.push(joiner)
    startNodeProcess(joiner)
    await waitReady([joiner], 120_000)
    const add = await cli(['members', 'add', '--node-config', configFile, '--endpoint', nodes[0]!.http])
    expect(add.code, add.output).toBe(0)
    const votersOf = async (node: ClusterNode) =>
      ((await new NodeSynodClient(node.http, { timeoutMs: 5000 }).members()) as { voters: Array<{ id: string }> }).voters.map((m) => m.id)
    for (const node of nodes) {
      for (let attempt = 0; ; attempt++) {
        if ((await votersOf(node).catch(() => [])).length === 4) break
        if (attempt > 200) throw new Error(`${node.name} never saw 4 voters`)
        await sleep(100)
      }
    }
    await writeMany('via-joiner', 50, 4)
    const client = new NodeSynodClient(joiner.http, { timeoutMs: 10_000 })
    const missing: string[] = []
    for (const [key, value] of acknowledged) {
      let read: string | undefined
      for (let attempt = 0; ; attempt++) {
        try {
          read = (await client.get(key)).value ?? undefined
          break
        } catch (error) {
          if (attempt > 100) throw error
          await sleep(100)
        }
      }
      if (read !== value) missing.push(key)
    }
    expect(missing).toEqual([])
  }, 300_000)
})
