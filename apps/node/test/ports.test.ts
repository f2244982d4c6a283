// A node whose port another process took between freePort and its own bind
// (seen in CI: EADDRINUSE for the demo's node3) must not fail the cluster:
// startCluster moves the whole cluster to fresh ports and starts again.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type ClusterNode, freePort, prepareCluster, startCluster, stopNodes, waitLeader } from '../src/cluster.js'

const root = mkdtempSync(join(tmpdir(), 'synod-ports-'))
const nodes: ClusterNode[] = []
let squatter: Server | undefined

afterAll(async () => {
  await stopNodes(nodes, 5000)
  squatter?.close()
  rmSync(root, { recursive: true, force: true })
}, 30_000)

describe('ports for local clusters', () => {
  it('freePort hands out distinct ports below the ephemeral range', async () => {
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()))
    expect(new Set(ports).size).toBe(20)
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    for (const port of ports) expect(port).toBeLessThan(ephemeralLow)
  })

  it('moves a cluster to fresh ports when one of its ports is taken, and it still elects', async () => {
    nodes.push(...(await prepareCluster(root, 'raft', 2)))
    const config = JSON.parse(readFileSync(nodes[1]!.configFile, 'utf8')) as { listen: string[] }
    const taken = Number(/\/tcp\/(\d+)/.exec(config.listen[0]!)![1])
    squatter = createServer()
    await new Promise<void>((resolve) => squatter!.listen(taken, '127.0.0.1', resolve))
    const before = nodes.map((n) => n.http)
    await startCluster(nodes, { timeoutMs: 90_000 })
    expect(nodes.map((n) => n.http)).not.toEqual(before)
    const moved = JSON.parse(readFileSync(nodes[1]!.configFile, 'utf8')) as { listen: string[] }
    expect(moved.listen[0]).not.toContain(`/tcp/${taken}`)
    expect(await waitLeader(nodes, 60_000)).toMatch(/^[0-9a-f]+$|^12D3/)
  }, 240_000)

  it('fails with the cause when moving is not allowed', async () => {
    const other = await prepareCluster(join(root, 'b'), 'raft', 1)
    const config = JSON.parse(readFileSync(other[0]!.configFile, 'utf8')) as { listen: string[] }
    const taken = Number(/\/tcp\/(\d+)/.exec(config.listen[0]!)![1])
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(taken, '127.0.0.1', resolve))
    try {
      await expect(startCluster(other, { timeoutMs: 90_000, attempts: 1 })).rejects.toThrow(/EADDRINUSE/)
    } finally {
      await stopNodes(other, 5000)
      blocker.close()
    }
  }, 240_000)
})
