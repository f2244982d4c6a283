// Three real processes on 127.0.0.1, each a core Replica running a toy
// protocol over the libp2p transport. One is killed with SIGKILL and started
// again on the same port with the same key: the others reconnect to it and it
// catches up.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { toHex } from '@synod/core'
import { afterAll, describe, expect, it } from 'vitest'
import { ed25519PublicKeyFromSeed, peerIdFromPublicKey } from '../src/index.js'
import type { Libp2pTransportMetrics } from '../src/index.js'
import { waitFor } from './support.js'

const here = dirname(fileURLToPath(import.meta.url))
const script = join(here, 'fixtures', 'replica-process.ts')
// tsx is resolved like any dependency, so the test does not depend on the working directory or PATH.
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

interface NodeProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly commits: Map<number, string>
  readonly events: Array<Record<string, unknown>>
  readonly exited: Promise<number | null>
  ready: { id: string; addrs: string[] } | undefined
  stderr: string
}

function startNode(config: { seedHex: string; port: number; ids: string[]; addrs: string[][] }): NodeProcess {
  const child = spawn(process.execPath, ['--conditions=@synod/source', '--import', tsxLoader, script, JSON.stringify(config)], {
    cwd: join(here, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const node: NodeProcess = {
    child,
    commits: new Map(),
    events: [],
    ready: undefined,
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  }
  child.stderr.on('data', (chunk: Buffer) => {
    node.stderr += chunk.toString()
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as Record<string, unknown>
    node.events.push(event)
    if (event.event === 'ready') node.ready = event as unknown as NodeProcess['ready']
    if (event.event === 'commit') node.commits.set(event.index as number, event.command as string)
  })
  return node
}

function request(node: NodeProcess, message: Record<string, unknown>): void {
  node.child.stdin.write(`${JSON.stringify(message)}\n`)
}

async function metricsOf(node: NodeProcess): Promise<Libp2pTransportMetrics> {
  const before = node.events.length
  request(node, { cmd: 'metrics' })
  await waitFor(() => node.events.slice(before).some((e) => e.event === 'metrics'), 30_000, 'metrics')
  return node.events.slice(before).find((e) => e.event === 'metrics')!.metrics as Libp2pTransportMetrics
}

function committedInOrder(node: NodeProcess, upTo: number): boolean {
  for (let i = 1; i <= upTo; i++) if (node.commits.get(i) !== `cmd-${i}`) return false
  return true
}

describe('three processes over libp2p on 127.0.0.1', () => {
  const running = new Set<NodeProcess>()
  afterAll(async () => {
    for (const node of running) node.child.kill('SIGKILL')
    await Promise.all([...running].map((n) => n.exited))
  })

  it('commits, survives a SIGKILL of a follower, and the restarted follower reconnects and catches up', async () => {
    const seeds = [0, 1, 2].map(() => new Uint8Array(randomBytes(32)))
    const ids = seeds.map((seed) => peerIdFromPublicKey(ed25519PublicKeyFromSeed(seed)))
    // Each node binds an ephemeral port; once all listen, everyone learns the addresses (setPeers at run time).
    const nodes: NodeProcess[] = []
    const addrs: string[][] = [[], [], []]
    for (const seed of seeds) {
      const node = startNode({ seedHex: toHex(seed), port: 0, ids, addrs: [[], [], []] })
      running.add(node)
      nodes.push(node)
    }
    for (const [i, node] of nodes.entries()) {
      await waitFor(() => node.ready !== undefined || node.child.exitCode !== null, 90_000, `node ${i} ready`)
      expect(node.ready, node.stderr).toBeDefined()
      expect(node.ready!.id).toBe(ids[i])
      addrs[i] = node.ready!.addrs
    }
    for (const node of nodes) request(node, { cmd: 'peers', addrs })
    const [leader, , follower] = nodes as [NodeProcess, NodeProcess, NodeProcess]
    let next = 1
    const propose = (count: number) => {
      for (let k = 0; k < count; k++, next++) request(leader, { cmd: 'propose', command: `cmd-${next}`, id: next })
    }

    propose(20)
    await waitFor(() => nodes.every((n) => committedInOrder(n, 20)), 60_000, 'first 20 commits everywhere')

    // Crash the last follower; the other two still form a majority.
    follower.child.kill('SIGKILL')
    await follower.exited
    running.delete(follower)
    propose(10)
    await waitFor(() => committedInOrder(leader, 30) && committedInOrder(nodes[1]!, 30), 60_000, '30 commits on the survivors')

    // Restart it on the same port with the same key: its peers' links reconnect to it.
    const port = Number(/\/tcp\/(\d+)/.exec(addrs[2]![0]!)![1])
    const restarted = startNode({ seedHex: toHex(seeds[2]!), port, ids, addrs })
    running.add(restarted)
    await waitFor(() => restarted.ready !== undefined || restarted.child.exitCode !== null, 90_000, 'restarted node ready')
    expect(restarted.ready, restarted.stderr).toBeDefined()
    propose(5)
    await waitFor(() => committedInOrder(restarted, 35) && committedInOrder(leader, 35), 60_000, 'restarted node caught up')

    const leaderMetrics = await metricsOf(leader)
    expect(leaderMetrics.peers[ids[2]!]!.reconnects).toBeGreaterThanOrEqual(1)
    expect(leaderMetrics.peers[ids[2]!]!.connected).toBe(true)
    expect(leaderMetrics.peers[ids[1]!]!.messagesReceived).toBeGreaterThan(0)

    for (const node of [leader, nodes[1]!, restarted]) request(node, { cmd: 'stop' })
    const codes = await Promise.all([leader, nodes[1]!, restarted].map((n) => n.exited))
    for (const node of [leader, nodes[1]!, restarted]) running.delete(node)
    expect(codes).toEqual([0, 0, 0])
    const errors = [leader, nodes[1]!, restarted].flatMap((n) => n.events.filter((e) => e.event === 'error'))
    expect(errors).toEqual([])
  }, 400_000)
})
