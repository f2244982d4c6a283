// Issue #8's end-to-end test: real `synod start` processes on 127.0.0.1 over
// libp2p with durable storage. Concurrent writes, SIGKILL of the leader,
// catch-up of the restarted node, restart of the whole cluster from disk, bad
// input on both ports.
import { connect } from 'node:net'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { type ClusterNode, sleep, startCluster, startNodeProcess, stopNodes, waitLeader, waitReady } from '../src/cluster.js'
import { clusterStatus, formatClusterStatus } from '../src/cluster-status.js'
import { NodeSynodClient } from '@synod/client/node'
import { useLocalCluster } from './local-cluster.js'

const { nodes } = useLocalCluster('raft', 3, 'synod-e2e-')
const acknowledged = new Map<string, string>()

async function leaderNode(): Promise<ClusterNode> {
  const id = await waitLeader(nodes.filter((n) => n.process?.exitCode === null && n.process.signalCode === null), 20_000)
  const node = nodes.find((n) => n.id === id)
  if (node === undefined) throw new Error(`leader ${id} is not a cluster node`)
  return node
}

/** `total` writes of unique keys from `concurrency` clients spread over the live nodes; retries until acknowledged. */
async function writeMany(prefix: string, total: number, concurrency: number, live: () => ClusterNode[]): Promise<void> {
  let next = 0
  const worker = async (w: number) => {
    while (next < total) {
      const i = next++
      const key = `${prefix}-${i}`
      const value = `v${i}-${w}`
      for (let attempt = 0; ; attempt++) {
        const targets = live()
        const client = new NodeSynodClient(targets[(w + attempt) % targets.length]!.http, { timeoutMs: 5000 })
        try {
          await client.put(key, value)
          acknowledged.set(key, value)
          break
        } catch (error) {
          if (attempt > 60) throw new Error(`write ${key} never acknowledged: ${(error as Error).message}`)
          await sleep(100)
        }
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)))
}

async function commitIndex(node: ClusterNode): Promise<number> {
  const status = await new NodeSynodClient(node.http, { timeoutMs: 2000 }).status()
  return Number(status.appliedIndex ?? status.commitIndex)
}

async function expectAllAcknowledged(node: ClusterNode, consistency: 'stale' | 'linearizable'): Promise<void> {
  const client = new NodeSynodClient(node.http, { timeoutMs: 5000 })
  const missing: string[] = []
  const entries = [...acknowledged]
  for (let i = 0; i < entries.length; i += 50) {
    const batch = entries.slice(i, i + 50)
    const values = await Promise.all(batch.map(([key]) => client.get(key, { consistency })))
    batch.forEach(([key, value], j) => {
      if (values[j]!.value !== value) missing.push(`${key}: expected ${value}, read ${String(values[j]!.value)}`)
    })
  }
  expect(missing, `${node.name} lost acknowledged writes`).toEqual([])
}

describe('3-node Raft cluster of real processes', () => {
  it('takes 1,000 concurrent writes across a SIGKILL of the leader; the killed node restarts and catches up', async () => {
    const live = () => nodes.filter((n) => n.process?.exitCode === null && n.process.signalCode === null)
    await writeMany('before', 600, 16, live)
    const leader = await leaderNode()
    leader.process!.kill('SIGKILL')
    await leader.exited
    await writeMany('after', 400, 16, live)
    expect(acknowledged.size).toBe(1000)
    const newLeader = await leaderNode()
    expect(newLeader.id).not.toBe(leader.id)
    // `synod status --all` from a live node: the killed leader is a 'down' row, the new leader is the one marked.
    const rows = await clusterStatus(newLeader.http, (http) => new NodeSynodClient(http, { timeoutMs: 3000 }).status())
    expect(rows.map((r) => r.id).sort()).toEqual(nodes.map((n) => n.id).sort())
    expect(rows.find((r) => r.id === leader.id)).toMatchObject({ up: false })
    expect(rows.filter((r) => r.up && r.leader === true).map((r) => r.id)).toEqual([newLeader.id])
    expect(formatClusterStatus(rows)).toMatch(/MEMBER\s+HTTP\s+STATE\s+ROLE/)
    // `synod members` shows each member's up/down state too.
    let listed = ''
    const sink = new Writable({ write: (chunk, _enc, done) => ((listed += String(chunk)), done()) })
    expect(await main(['members', '--endpoint', newLeader.http], sink)).toBe(0)
    expect(listed).toMatch(new RegExp(`${leader.id}\\s+voter\\s+down`))
    expect(listed).toMatch(new RegExp(`${newLeader.id}\\s+voter \\(leader\\)\\s+up`))

    startNodeProcess(leader)
    // Ready means: running and a leader known (or a quorum heard). Generous for a busy machine.
    await waitReady([leader], 90_000)
    const target = await commitIndex(newLeader)
    const deadline = Date.now() + 20_000
    while ((await commitIndex(leader).catch(() => 0)) < target) {
      if (Date.now() > deadline) throw new Error('restarted node did not catch up')
      await sleep(100)
    }
    for (const node of nodes) await expectAllAcknowledged(node, 'stale')
    await expectAllAcknowledged(nodes[0]!, 'linearizable')
  }, 180_000)

  it('keeps serving after garbage on the libp2p port and malformed HTTP requests', async () => {
    const victim = nodes[1]!
    const config = (await new NodeSynodClient(victim.http).status()) as { id: string }
    expect(config.id).toBe(victim.id)
    const p2pPort = Number(/tcp\/(\d+)/.exec(JSON.stringify((await import('node:fs')).readFileSync(victim.configFile, 'utf8')))![1])
    await new Promise<void>((resolve) => {
      const socket = connect(p2pPort, '127.0.0.1', () => {
        socket.write(Buffer.alloc(4096, 0xab))
        socket.end()
      })
      socket.on('error', () => resolve())
      socket.on('close', () => resolve())
    })
    const bad = await fetch(`http://${victim.http}/v1/kv/x`, { method: 'PUT', body: '{"value":', headers: { 'content-type': 'application/json' } })
    expect(bad.status).toBe(400)
    const big = await fetch(`http://${victim.http}/v1/kv/x`, {
      method: 'PUT',
      body: JSON.stringify({ value: 'x'.repeat(2 * 1024 * 1024) }),
      headers: { 'content-type': 'application/json' },
    })
    expect(big.status).toBe(413)
    const put = await new NodeSynodClient(victim.http).put('still-alive', 'yes')
    expect(put.index).toBeGreaterThan(0)
    acknowledged.set('still-alive', 'yes')
  }, 30_000)

  it('restarts the whole cluster from disk without losing an acknowledged write', async () => {
    await stopNodes(nodes, 10_000)
    // attempts 1: a restart keeps its addresses (the members' config is what is being restarted)
    await startCluster(nodes, { timeoutMs: 90_000, attempts: 1 })
    await waitLeader(nodes, 30_000)
    await expectAllAcknowledged(nodes[2]!, 'linearizable')
  }, 150_000)
})
