// issue 20 (2, 5): partitions in Linux network namespaces (root only). Without
// daemons: three namespaces with tiny UDP and HTTP servers show that each
// fault drops exactly the intended directions between nodes — and never the
// runner's requests — that the heal restores them, that the nft counters are
// evidence, and that nothing is left behind (leftovers of a dead runner are
// removed too). Then a short real run through the runner with --network
// netns, a planted bug caught through it, and a Ctrl-C of one. Skipped, with the reason, when not root or
// without nft. Every wait is for a condition, bounded.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { UNSAFE_LOCAL_READS } from '@synod/node/debug-switches'
import { parseClusterArguments } from '../../src/cluster/args.js'
import { NamespaceNetwork, probeNamespaces, removeLeftovers, rootLinks, synodNamespaces } from '../../src/cluster/netns.js'
import { chooseNetwork, runClusterTest } from '../../src/cluster/run.js'
import { processAlive } from '../../src/cluster/pids.js'

const support = await probeNamespaces()
if (!support.ok) console.log(`netns.test.ts skipped: ${support.reason}`)

/** Bounded wait for a condition (no fixed sleeps). */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Namespaces and root links this process made (synod-<pid>-…, sy<pid>k…). */
async function ours(pid = process.pid): Promise<string[]> {
  const namespaces = (await synodNamespaces()).filter((n) => n.startsWith(`synod-${pid}-`))
  const links = (await rootLinks()).filter((l) => l.startsWith(`sy${pid}k`))
  return [...namespaces, ...links]
}

/**
 * A stand-in node: UDP on its address :7001 records who sent what; HTTP on :8000 (the runner's control) sends
 * a datagram (/send?to=&tag=), lists what arrived (/got), or opens a TCP connection to another node (/dial?to=).
 */
const NODE_SCRIPT = `
const http = require('node:http'), dgram = require('node:dgram'), net = require('node:net')
const addr = process.argv[1], got = []
const udp = dgram.createSocket('udp4')
udp.on('message', (m, r) => got.push({ from: r.address, tag: String(m) }))
udp.bind(7001, addr, () => http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x'), to = url.searchParams.get('to')
  if (url.pathname === '/send') udp.send(url.searchParams.get('tag'), 7001, to, () => res.end('sent'))
  else if (url.pathname === '/dial') {
    const s = net.connect({ host: to, port: 8000, timeout: 5000 })
    s.once('connect', () => { s.destroy(); res.end('ok') })
    s.once('timeout', () => { s.destroy(); res.end('fail') })
    s.once('error', () => res.end('fail'))
  } else res.end(JSON.stringify(got))
}).listen(8000, addr, () => console.log('ready')))
`

/** Whether this machine should support namespaces (root with ip and nft on PATH): then a failing probe is a bug, not a skip. */
function shouldSupport(): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false
  try {
    execFileSync('sh', ['-c', 'command -v ip && command -v nft'], { stdio: 'ignore', timeout: 10_000 })
    return true
  } catch {
    return false
  }
}

describe('choosing the network', () => {
  it.runIf(shouldSupport())('as root with ip and nft installed, the probe finds namespaces usable (a broken probe must not skip the tests below)', () => {
    expect(support).toEqual({ ok: true, reason: 'root, `ip netns` and nft work' })
  })

  it('auto says which and why; --network proxies is always proxies', async () => {
    expect(await chooseNetwork('proxies')).toEqual({ kind: 'proxies', reason: '--network proxies' })
    expect(await chooseNetwork('auto')).toEqual({ kind: support.ok ? 'netns' : 'proxies', reason: `auto: ${support.reason}` })
  })

  it.skipIf(support.ok)('--network netns where namespaces do not work: exit 3 with the reason, nothing started', async () => {
    const out = { text: '', write: (chunk: string) => void (out.text += chunk) }
    const outcome = await runClusterTest(parseClusterArguments(['--cluster', '--network', 'netns', '--duration', '1s']), out)
    expect(outcome.status).toBe(3)
    expect(out.text).toContain(`--network netns: network namespaces cannot be used here: ${support.reason}`)
    expect(outcome.processIds).toEqual([])
  })
})

describe.skipIf(!support.ok)('NamespaceNetwork: nft drop rules between namespaces, without daemons', () => {
  let network: NamespaceNetwork | undefined
  const children: ChildProcess[] = []
  let dir: string | undefined
  afterEach(async () => {
    for (const c of children.splice(0)) c.kill('SIGKILL')
    await network?.close()
    network = undefined
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  async function setUp(n: number) {
    dir = mkdtempSync(join(tmpdir(), 'synod-netns-'))
    const nodes = Array.from({ length: n }, (_, i) => {
      const configFile = join(dir!, `n${i}.json`)
      const members = Array.from({ length: n }, (_, j) => ({ id: `id${j}`, addrs: [`/ip4/127.0.0.1/tcp/${7000 + j}`], http: `127.0.0.1:${8000 + j}` }))
      writeFileSync(configFile, JSON.stringify({ listen: [`/ip4/127.0.0.1/tcp/${7000 + i}`], http: `127.0.0.1:${8000 + i}`, members }))
      return { id: `id${i}`, configFile, http: `127.0.0.1:${8000 + i}` }
    })
    network = await NamespaceNetwork.install(nodes)
    const net = network
    // Every config now names the namespaces' addresses, for libp2p and HTTP, its own and the members'.
    const config = JSON.parse(readFileSync(nodes[1]!.configFile, 'utf8')) as { listen: string[]; http: string; members: Array<{ addrs: string[]; http: string }> }
    expect(config.listen).toEqual([`/ip4/${net.address(1)}/tcp/7001`])
    expect(config.http).toBe(`${net.address(1)}:8001`)
    expect(config.members.map((m) => m.addrs[0])).toEqual(nodes.map((_, j) => `/ip4/${net.address(j)}/tcp/${7000 + j}`))
    expect(config.members.map((m) => m.http)).toEqual(nodes.map((_, j) => `${net.address(j)}:${8000 + j}`))
    expect(nodes[n - 1]!.http).toBe(`${net.address(n - 1)}:${8000 + n - 1}`)
    for (let i = 0; i < n; i++) {
      const child = spawn('ip', [...net.launcher(i).slice(1), process.execPath, '-e', NODE_SCRIPT, net.address(i)], { stdio: ['ignore', 'pipe', 'inherit'] })
      children.push(child)
      let out = ''
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
      await until(() => out.includes('ready'), `stand-in node ${i} to listen`, 60_000)
    }
    /** The runner (root namespace) asks node i: this is itself the check that the runner reaches every node. */
    const ask = async (i: number, path: string) => {
      const answer = await fetch(`http://${net.address(i)}:8000${path}`, { signal: AbortSignal.timeout(15_000) })
      return await answer.text()
    }
    let round = 0
    /** Every node sends a datagram to every other; returns the directions that arrived, as 'a>b'. */
    const reachable = async (expected: readonly string[]): Promise<string[]> => {
      const tag = `r${++round}`
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b) await ask(a, `/send?to=${net.address(b)}&tag=${tag}`)
      const arrived = async () => {
        const seen: string[] = []
        for (let b = 0; b < n; b++) {
          for (const g of JSON.parse(await ask(b, '/got')) as Array<{ from: string; tag: string }>) {
            if (g.tag === tag) seen.push(`${Number(g.from.split('.')[3]) - 1}>${b}`)
          }
        }
        return seen.sort()
      }
      // Bounded: the expected ones arrive (then anything else sent in the same round would have too).
      await until(async () => {
        const seen = await arrived()
        return expected.every((e) => seen.includes(e))
      }, `round ${tag}: ${expected.join(' ')}`)
      return await arrived()
    }
    const all = (blocked: (a: number, b: number) => boolean) => {
      const pairs: string[] = []
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (a !== b && !blocked(a, b)) pairs.push(`${a}>${b}`)
      return pairs.sort()
    }
    return { net, ask, reachable, all }
  }

  it('isolate, partition, one way and bridge drop exactly their directions; the runner is never cut; heal restores; counters are evidence', async () => {
    const { net, ask, reachable, all } = await setUp(4)
    expect(await reachable(all(() => false))).toEqual(all(() => false))

    await net.isolate(1)
    const isolated = (a: number, b: number) => a === 1 || b === 1
    expect(await reachable(all(isolated))).toEqual(all(isolated))
    expect([0, 1, 2, 3].flatMap((a) => [0, 1, 2, 3].filter((b) => a !== b && net.isBlocked(a, b)).map((b) => `${a}>${b}`))).toEqual(
      all((a, b) => !isolated(a, b)),
    )
    // TCP too: node 0 cannot open a connection to node 1; to node 2 it can. The runner reaches node 1 (ask answers).
    expect(await ask(0, `/dial?to=${net.address(1)}`)).toBe('fail')
    expect(await ask(0, `/dial?to=${net.address(2)}`)).toBe('ok')

    await net.partition([[0, 1], [2, 3]])
    const split = (a: number, b: number) => a < 2 !== b < 2
    expect(await reachable(all(split))).toEqual(all(split))

    await net.oneWay([0], [2, 3])
    const oneWay = (a: number, b: number) => a === 0 && b >= 2
    expect(await reachable(all(oneWay))).toEqual(all(oneWay))
    expect(net.isBlocked(0, 2) && !net.isBlocked(2, 0)).toBe(true)
    // The evidence: node 2's rule for packets from node 0 counted them; nothing from node 2 to node 0 was dropped by a one-way rule.
    const before = await net.dropped(0, 2)
    expect(before).toBeGreaterThan(0)
    await reachable(all(oneWay))
    expect(await net.dropped(0, 2)).toBeGreaterThan(before)

    await net.bridge([0], 1, [2, 3])
    const bridged = (a: number, b: number) => (a === 0 && b >= 2) || (a >= 2 && b === 0)
    expect(await reachable(all(bridged))).toEqual(all(bridged))
    await expect(net.bridge([0, 1], 1, [2])).rejects.toThrow(/neither half/)

    await net.heal()
    expect(await reachable(all(() => false))).toEqual(all(() => false))
    expect(await ask(0, `/dial?to=${net.address(1)}`)).toBe('ok')
    expect(net.isBlocked(0, 2)).toBe(false)
    // The counters outlive the rules (named objects): the evidence stays readable after the heal.
    expect(await net.dropped(0, 2)).toBeGreaterThan(before)
  }, 120_000)

  it('close removes every namespace and link; leftovers of a dead runner are removed at the next start', async () => {
    const { net } = await setUp(2)
    const made = await ours()
    expect(made).toEqual(expect.arrayContaining([...net.namespaces, net.rootLink]))
    for (const c of children.splice(0)) c.kill('SIGKILL')
    await net.close()
    network = undefined
    expect(await ours()).toEqual([])
    // A runner that died by SIGKILL (no exit handler ran) left a namespace and its uplink: a later install removes them.
    const dead = spawn(process.execPath, ['-e', ''])
    await new Promise((resolve) => dead.once('exit', resolve))
    const pid = dead.pid!
    expect(processAlive(pid)).toBe(false)
    execFileSync('ip', ['netns', 'add', `synod-${pid}-0-n1`], { timeout: 10_000 })
    execFileSync('ip', ['link', 'add', 'name', `sy${pid}k0`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', `synod-${pid}-0-n1`], { timeout: 10_000 })
    expect(await ours(pid)).toHaveLength(2)
    const removed = await removeLeftovers()
    expect(removed).toContain(`synod-${pid}-0-n1`)
    await until(async () => (await ours(pid)).length === 0, 'the dead runner\'s namespace and link to go')
  }, 60_000)
})

describe.skipIf(!support.ok).sequential('synod-conformance --cluster --network netns: live daemons in namespaces', () => {
  let reports = ''
  beforeAll(() => void (reports = mkdtempSync(join(tmpdir(), 'synod-netns-run-'))))
  afterAll(() => rmSync(reports, { recursive: true, force: true }))

  it('raft, 12 s of partitions as nft rules: every checker ok, the rules dropped packets, nothing left behind', async () => {
    // Seed 16: node2 isolated for 4 s, then node3 for 1.5 s (planFaults, 3 nodes; 3-node partitions are isolations).
    const args = parseClusterArguments([
      '--cluster', '--protocol', 'raft', '--duration', '12s', '--nemesis', 'partition', '--clients', '8', '--keys', '5',
      '--seed', '16', '--timeout-ms', '3000', '--network', 'netns', '--report', join(reports, 'raft'),
    ])
    const out = { text: '', write: (chunk: string) => void (out.text += chunk) }
    const { status, result, processIds } = await runClusterTest(args, out)
    expect(status, out.text).toBe(0)
    expect(out.text).toMatch(/network: namespaces \(--network netns: root, `ip netns` and nft work\)/)
    expect(result!.checks.map((c) => [c.checker, c.verdict]), out.text).toEqual([
      ['linearizability', 'ok'],
      ['durability', 'ok'],
      ['convergence', 'ok'],
      ['liveness', 'ok'],
      ['server-errors', 'ok'],
      ['progress', 'ok'],
    ])
    const partitions = result!.record.timeline.filter((e) => e.kind === 'fault' && e.detail.startsWith('partition'))
    expect(partitions.length, out.text).toBeGreaterThanOrEqual(1)
    // Evidence: while node2 was cut off for 4 s, the rules dropped Raft traffic both ways — to it (the leader's
    // appends, or if it led, the new leader's) and from it (its heartbeats, or its pre-votes).
    const network = result!.network!
    expect(network.kind).toBe('netns')
    expect(network.droppedUnit).toBe('packets')
    const count = (match: (link: string) => boolean) => Object.entries(network.dropped).filter(([link]) => match(link)).reduce((sum, [, n]) => sum + n, 0)
    expect(count((link) => link.startsWith('node2>')), JSON.stringify(network)).toBeGreaterThan(0)
    expect(count((link) => link.endsWith('>node2')), JSON.stringify(network)).toBeGreaterThan(0)
    expect(result!.counts['write ok'] ?? 0).toBeGreaterThan(20)
    const written = JSON.parse(readFileSync(join(reports, 'raft', 'results.json'), 'utf8')) as { network: { kind: string } }
    expect(written.network.kind).toBe('netns')
    // Nothing outlives the run: no node process, no namespace, no link.
    expect(processIds.length).toBeGreaterThanOrEqual(3)
    expect(processIds.filter(processAlive)).toEqual([])
    expect(await ours()).toEqual([])
    expect(out.text).toContain('stopped every node; removed the namespaces')
  }, 240_000)

  it('the planted bug SYNOD_DEBUG_UNSAFE_LOCAL_READS is caught through the namespaces too', async () => {
    // As live-cluster.test.ts's proxies run: a cut-off node that reads locally answers values the majority has
    // overwritten — here with its packets dropped rather than its connections reset. The clean run above has the
    // same schedule (seed 16, partitions only).
    const args = parseClusterArguments([
      '--cluster', '--protocol', 'raft', '--duration', '10s', '--nemesis', 'partition', '--clients', '8', '--keys', '5',
      '--seed', '16', '--timeout-ms', '3000', '--network', 'netns', '--env', `${UNSAFE_LOCAL_READS}=1`,
    ])
    const out = { text: '', write: (chunk: string) => void (out.text += chunk) }
    const { status, result, processIds } = await runClusterTest(args, out)
    expect(status, out.text).toBe(1)
    const linearizability = result!.checks.find((c) => c.checker === 'linearizability')!
    expect(linearizability.verdict, out.text).toBe('violation')
    expect(linearizability.violations[0]!.message).toMatch(/cannot be linearized|no operation wrote/)
    expect(result!.network!.kind).toBe('netns')
    expect(processIds.filter(processAlive)).toEqual([])
    expect(await ours()).toEqual([])
  }, 240_000)

  /** The CLI with --network netns, mid-way through its first partition: its node pids, output and exit. */
  async function cliMidPartition() {
    const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const child = spawn(
      process.execPath,
      ['--conditions=@synod/source', '--import', tsx, cli, '--cluster', '--protocol', 'raft', '--duration', '60s', '--nemesis', 'partition', '--seed', '16', '--clients', '2', '--network', 'netns'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    const run = { child, out: '', pids: [] as number[], data: '', exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) }
    child.stdout.on('data', (chunk: Buffer) => (run.out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (run.out += chunk.toString()))
    await until(() => /fault: partition/.test(run.out) || child.exitCode !== null, 'the first partition', 180_000)
    expect(run.out).toMatch(/fault: partition/)
    run.pids = [...run.out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
    run.data = /\(data in ([^)]+)\)/.exec(run.out)?.[1] ?? ''
    expect(existsSync(run.data), run.out).toBe(true)
    expect(run.pids).toHaveLength(3)
    expect((await ours(child.pid)).length).toBeGreaterThan(0)
    return run
  }

  it('Ctrl-C mid-partition: exits 130 and removes every node, namespace and link', async () => {
    const run = await cliMidPartition()
    try {
      run.child.kill('SIGINT')
      expect(await run.exited, run.out).toBe(130)
      expect(run.out).toContain('stopped every node; removed the namespaces')
      expect(run.pids.filter(processAlive)).toEqual([])
      expect(await ours(run.child.pid)).toEqual([])
      expect(existsSync(run.data)).toBe(false)
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL')
    }
  }, 240_000)

  it('a second Ctrl-C exits at once: the exit hook SIGKILLs the nodes and deletes the namespaces synchronously; the data folder goes too', async () => {
    const run = await cliMidPartition()
    try {
      run.child.kill('SIGINT')
      await until(() => run.out.includes('interrupted:'), 'the first Ctrl-C to be seen')
      run.child.kill('SIGINT')
      expect(await run.exited, run.out).toBe(130)
      expect(run.out).not.toContain('removed the namespaces')
      // Deleted by name before the process ended; SIGKILLed nodes are gone within a bound.
      expect(await ours(run.child.pid)).toEqual([])
      await until(() => run.pids.every((pid) => !processAlive(pid)), 'the SIGKILLed nodes to be gone')
      expect(existsSync(run.data), run.out).toBe(false)
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL')
    }
  }, 240_000)
})
