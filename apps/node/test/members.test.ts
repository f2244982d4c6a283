// Membership change at run time (issue #8), with real `synod start`
// processes over libp2p: a fourth node joins with `synod init --join` and
// `synod members add`, becomes a voter and receives everything; a follower
// and then the leader are removed with `synod members remove`; the cluster
// keeps taking writes throughout, and a restart keeps the new membership.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { type ClusterNode, freePort, sleep, startNodeProcess, stopNodes, waitLeader, waitReady } from '../src/cluster.js'
import { NodeSynodClient } from '@synod/client/node'
import { useLocalCluster } from './local-cluster.js'

const { root, nodes } = useLocalCluster('raft', 3, 'synod-members-')
const written = new Map<string, string>()
const removedIds: string[] = []

async function cli(args: string[]): Promise<{ code: number; output: string }> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const code = await main(args, out)
  return { code, output: Buffer.concat(chunks).toString('utf8') }
}

function running(): ClusterNode[] {
  return nodes.filter((n) => n.process?.exitCode === null && n.process.signalCode === null)
}

async function writeSome(prefix: string, count: number, via: readonly ClusterNode[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const key = `${prefix}-${i}`
    for (let attempt = 0; ; attempt++) {
      try {
        await new NodeSynodClient(via[(i + attempt) % via.length]!.http, { timeoutMs: 5000 }).put(key, `v${i}`)
        written.set(key, `v${i}`)
        break
      } catch (error) {
        if (attempt > 50) throw new Error(`write ${key} failed: ${(error as Error).message}`)
        await sleep(100)
      }
    }
  }
}

/** Every write so far is readable from `node`'s local state (eventually: it may still be applying). */
async function expectAllLocally(node: ClusterNode): Promise<void> {
  const client = new NodeSynodClient(node.http, { timeoutMs: 5000 })
  let missing: string[] = []
  for (let round = 0; round < 50; round++) {
    missing = []
    for (const [key, value] of written) if ((await client.get(key, { consistency: 'stale' })).value !== value) missing.push(key)
    if (missing.length === 0) return
    await sleep(200)
  }
  expect(missing, `${node.name} misses writes`).toEqual([])
}

async function voters(node: ClusterNode): Promise<string[]> {
  const members = (await new NodeSynodClient(node.http, { timeoutMs: 5000 }).members()) as { voters: Array<{ id: string }> }
  return members.voters.map((m) => m.id).sort()
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return
    await sleep(100)
  }
  throw new Error(`timed out waiting until ${what}`)
}

describe('membership change at run time (Raft, real processes)', () => {
  it('a node joins with init --join and members add, becomes a voter and has every write', async () => {
    await writeSome('before', 40, nodes)
    const dir = join(root, 'node4')
    const [p2p, http] = [await freePort(), await freePort()]
    const init = await cli(['init', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${p2p}`, '--http', `127.0.0.1:${http}`, '--join', nodes[0]!.http])
    expect(init.code, init.output).toBe(0)
    expect(init.output).toContain('synod members add --node-config')
    const configFile = join(dir, 'synod.json')
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { join: boolean; members: unknown[]; protocol: string }
    expect(config).toMatchObject({ join: true, protocol: 'raft' })
    expect(config.members).toHaveLength(4)
    const id = init.output.match(/node id:\s+(\S+)/)![1]!
    const joiner: ClusterNode = { name: 'node4', id, dataDir: dir, configFile, http: `127.0.0.1:${http}` }
    nodes.push(joiner)
    startNodeProcess(joiner)
    await waitReady([joiner], 90_000)
    // Not a member yet: the cluster ignores it and it cannot take part.
    expect(await voters(nodes[0]!)).not.toContain(id)

    // Asked at a follower, the change is forwarded to the leader.
    const leader = await waitLeader(nodes.slice(0, 3), 20_000)
    const follower = nodes.slice(0, 3).find((n) => n.id !== leader)!
    const add = await cli(['members', 'add', '--node-config', configFile, '--endpoint', follower.http])
    expect(add.code, add.output).toBe(0)
    expect(add.output).toMatch(/ok \(membership changed at index \d+\)/)
    for (const node of nodes) await eventually(`${node.name} sees 4 voters`, async () => (await voters(node)).length === 4)
    await expectAllLocally(joiner)
    await writeSome('after-join', 20, [joiner]) // the new member forwards writes to the leader
    await expectAllLocally(joiner)
    const again = await cli(['members', 'add', '--node-config', configFile, '--endpoint', nodes[0]!.http])
    expect(again.output).toContain('no change: already a member')
  }, 180_000)

  it('removes a follower, then the leader; the rest keep committing, and a restart keeps the membership', async () => {
    const leader = await waitLeader(running(), 20_000)
    const victim = nodes.find((n) => n.id !== leader && n.name !== 'node4')!
    const removed = await cli(['members', 'remove', victim.id, '--endpoint', nodes.find((n) => n.name === 'node4')!.http, '--json'])
    expect(removed.code, removed.output).toBe(0)
    expect((JSON.parse(removed.output) as { voters: unknown[] }).voters).toHaveLength(3)
    removedIds.push(victim.id)
    await stopNodes([victim], 5000)
    await writeSome('after-remove', 20, running())

    const oldLeader = nodes.find((n) => n.id === leader)!
    const removeLeader = await cli(['members', 'remove', leader, '--endpoint', oldLeader.http])
    expect(removeLeader.code, removeLeader.output).toBe(0)
    removedIds.push(leader)
    const rest = running().filter((n) => n !== oldLeader)
    // The leader handed leadership over first (so nobody waited an election timeout), then the new leader removed it.
    await eventually('the others follow a new leader', async () => (await waitLeader(rest, 2000)) !== oldLeader.id)
    const counters = (await new NodeSynodClient(oldLeader.http, { timeoutMs: 5000 }).status()).counters as Record<string, number>
    expect(counters.transfers).toBe(1)
    await stopNodes([oldLeader], 5000)
    await writeSome('two-voters', 20, rest)
    for (const node of rest) expect(await voters(node)).toEqual(rest.map((n) => n.id).sort())

    // The configuration comes back from the log, not from the (stale) config files.
    await stopNodes(rest, 5000)
    for (const node of rest) startNodeProcess(node)
    await waitReady(rest, 90_000)
    await waitLeader(rest, 60_000)
    for (const node of rest) expect(await voters(node)).toEqual(rest.map((n) => n.id).sort())
    await writeSome('after-restart', 10, rest)
    for (const node of rest) await expectAllLocally(node)
  }, 240_000)

  it('refuses bad member input with the field named, and removing a non-member', async () => {
    const node = running()[0]!
    const bad = await cli(['members', 'add', '--id', 'x', '--public-key', 'zz', '--addr', '/ip4/127.0.0.1/tcp/1', '--endpoint', node.http])
    expect(bad.code).toBe(2)
    const missing = await cli(['members', 'add', '--endpoint', node.http])
    expect(missing.code).toBe(2)
    const notMember = await cli(['members', 'remove', removedIds[0]!, '--endpoint', node.http])
    expect(notMember.code).toBe(1)
  }, 30_000)
})
