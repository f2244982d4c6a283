// `synod cluster`: a throwaway local cluster of real `synod start` processes on
// 127.0.0.1, with a live status view. The one-command demo.
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MemberConfig } from './config.js'
import { initNode, writePrivateFile } from './init.js'
import { HttpKvClient, KvHttpError } from './kv-client.js'

export interface ClusterOptions {
  readonly protocol: string
  readonly nodes: number
  /** Parent folder for the nodes' data; a fresh temporary folder when absent (removed on exit unless `keep`). */
  readonly dataDir?: string
  readonly keep: boolean
  /** Stop after this many seconds (0: run until Ctrl-C). */
  readonly durationSeconds: number
  /** Bring the cluster up, write and read a key through every node, then shut down. */
  readonly smoke: boolean
  /** Drive a small write load so the status view shows ops/s. */
  readonly load: boolean
  readonly out: NodeJS.WritableStream
  readonly protocolOptions?: Record<string, unknown>
}

export interface ClusterNode {
  readonly name: string
  readonly id: string
  readonly dataDir: string
  readonly configFile: string
  readonly http: string
  process?: ChildProcess
  exited?: Promise<number | null>
}

/**
 * How to run `synod` as a child: the built CLI next to this file, or — when
 * this module runs from source (tests) — the TypeScript entry through tsx.
 */
export function synodCommand(): string[] {
  if (import.meta.url.endsWith('.ts')) {
    const cli = fileURLToPath(new URL('./cli.ts', import.meta.url))
    return ['--conditions=@synod/source', '--import', import.meta.resolve('tsx'), cli]
  }
  return [fileURLToPath(new URL('./cli.js', import.meta.url))]
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Create the data folders, keys and configs of an n-node cluster on 127.0.0.1. */
export async function prepareCluster(root: string, protocol: string, n: number, protocolOptions: Record<string, unknown> = {}): Promise<ClusterNode[]> {
  const prepared: Array<{ name: string; dir: string; id: string; publicKey: string; p2pPort: number; httpPort: number }> = []
  for (let i = 1; i <= n; i++) {
    const name = `node${i}`
    const dir = join(root, name)
    const { id, publicKey } = await initNode(dir) // creates dir 0700
    prepared.push({ name, dir, id, publicKey, p2pPort: await freePort(), httpPort: await freePort() })
  }
  const members: MemberConfig[] = prepared.map((p) => ({
    id: p.id,
    publicKey: p.publicKey,
    addrs: [`/ip4/127.0.0.1/tcp/${p.p2pPort}`],
    http: `127.0.0.1:${p.httpPort}`,
  }))
  return prepared.map((p) => {
    const configFile = join(p.dir, 'synod.json')
    const config = {
      protocol,
      dataDir: p.dir,
      listen: [`/ip4/127.0.0.1/tcp/${p.p2pPort}`],
      http: `127.0.0.1:${p.httpPort}`,
      members,
      protocolOptions,
    }
    writePrivateFile(configFile, `${JSON.stringify(config, null, 2)}\n`)
    return { name: p.name, id: p.id, dataDir: p.dir, configFile, http: `127.0.0.1:${p.httpPort}` }
  })
}

/** Start one node as a child process; its output goes to <dataDir>/node.log. */
export function startNodeProcess(node: ClusterNode, extraEnv: Record<string, string> = {}): void {
  const log = createWriteStream(join(node.dataDir, 'node.log'), { flags: 'a', mode: 0o600 })
  const child = spawn(process.execPath, [...synodCommand(), 'start', '--config', node.configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYNOD_LOG_PRETTY: '0', ...extraEnv },
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  node.process = child
  node.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

export async function waitReady(nodes: readonly ClusterNode[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const node of nodes) {
    const client = new HttpKvClient(node.http)
    while (true) {
      if (Date.now() > deadline) throw new Error(`${node.name} was not ready within ${timeoutMs} ms; see ${join(node.dataDir, 'node.log')}`)
      if (node.process?.exitCode !== null && node.process?.exitCode !== undefined)
        throw new Error(`${node.name} exited with code ${node.process.exitCode}:\n${tail(join(node.dataDir, 'node.log'))}`)
      if (await client.ready().catch(() => false)) break
      await sleep(100)
    }
  }
}

/** Wait until every given node names the same leader; returns its id. */
export async function waitLeader(nodes: readonly ClusterNode[], timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const leaders = await Promise.all(
      nodes.map((node) =>
        new HttpKvClient(node.http, 2000)
          .status()
          .then((s) => (typeof s.leader === 'string' ? s.leader : undefined))
          .catch(() => undefined),
      ),
    )
    const first = leaders[0]
    if (first !== undefined && leaders.every((l) => l === first)) return first
    await sleep(100)
  }
  throw new Error(`the nodes did not agree on a leader within ${timeoutMs} ms`)
}

export async function stopNodes(nodes: readonly ClusterNode[], graceMs = 10_000): Promise<void> {
  await Promise.all(
    nodes.map(async (node) => {
      const child = node.process
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await node.exited
      clearTimeout(timer)
    }),
  )
}

export async function runCluster(options: ClusterOptions): Promise<number> {
  const out = options.out
  const root = options.dataDir ?? mkdtempSync(join(tmpdir(), 'synod-cluster-'))
  const removeRoot = options.dataDir === undefined && !options.keep
  out.write(`synod cluster: ${options.nodes} × ${options.protocol} on 127.0.0.1 (data in ${root})\n`)
  const nodes = await prepareCluster(root, options.protocol, options.nodes, options.protocolOptions)
  let stopping = false
  const stop = async (code: number): Promise<number> => {
    if (stopping) return code
    stopping = true
    out.write('\nstopping nodes (SIGTERM)…\n')
    await stopNodes(nodes)
    if (removeRoot) rmSync(root, { recursive: true, force: true })
    out.write(`stopped${removeRoot ? '' : `; data kept in ${root}`}\n`)
    return code
  }
  const onSignal = () => {
    void stop(0).then((code) => process.exit(code))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    for (const node of nodes) startNodeProcess(node)
    await waitReady(nodes, 30_000)
    const leader = await waitLeader(nodes, 30_000)
    out.write('\nclient endpoints:\n')
    for (const node of nodes) out.write(`  ${node.name}  http://${node.http}   ${node.id}${node.id === leader ? '  (leader)' : ''}\n`)
    out.write(`\ntry:  synod kv put greeting hello --endpoint ${nodes[0]!.http}\n      curl -s http://${nodes[1]!.http}/v1/kv/greeting\n\n`)
    if (options.smoke) {
      await smokeTest(nodes, out)
      return await stop(0)
    }
    const load = options.load ? startLoad(nodes) : undefined
    await liveStatus(nodes, out, options.durationSeconds, () => stopping)
    load?.stop()
    return await stop(0)
  } catch (error) {
    out.write(`\nerror: ${(error as Error).message}\n`)
    return await stop(1)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** Write through one node, read back linearizably through every node. */
async function smokeTest(nodes: readonly ClusterNode[], out: NodeJS.WritableStream): Promise<void> {
  const value = `hello-${process.pid}`
  const writer = new HttpKvClient(nodes[0]!.http)
  const put = await retryUnavailable(() => writer.put('greeting', value))
  out.write(`put greeting=${value} via ${nodes[0]!.name} → committed at index ${put.index}\n`)
  for (const node of nodes) {
    const got = await retryUnavailable(() => new HttpKvClient(node.http).get('greeting'))
    if (got.value !== value) throw new Error(`${node.name} read ${JSON.stringify(got.value)}, expected ${value}`)
    out.write(`get greeting via ${node.name} → ${got.value}\n`)
  }
  out.write('smoke test passed\n')
}

/** Retry a request answered 503 (no leader yet, or stepping down) for a few seconds, as a client would. */
async function retryUnavailable<T>(call: () => Promise<T>, attempts = 50): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof KvHttpError && error.status === 503) || i >= attempts) throw error
      await sleep(100)
    }
  }
}

function startLoad(nodes: readonly ClusterNode[]): { stop(): void } {
  let running = true
  const clients = nodes.map((n) => new HttpKvClient(n.http))
  const worker = async (w: number) => {
    let i = 0
    while (running) {
      await clients[(w + i) % clients.length]!.put(`load-${w}`, String(i++)).catch(() => sleep(50))
    }
  }
  for (let w = 0; w < 8; w++) void worker(w)
  return { stop: () => (running = false) }
}

async function liveStatus(nodes: readonly ClusterNode[], out: NodeJS.WritableStream, seconds: number, stopped: () => boolean): Promise<void> {
  const tty = (out as NodeJS.WriteStream).isTTY === true
  const previous = new Map<string, { commit: number; at: number }>()
  const started = Date.now()
  let lines = 0
  out.write(tty ? 'live status (Ctrl-C to stop)\n' : 'status every 5 s (Ctrl-C to stop)\n')
  let tick = 0
  while (!stopped() && (seconds === 0 || Date.now() - started < seconds * 1000)) {
    const rows: string[][] = []
    for (const node of nodes) {
      const status = await new HttpKvClient(node.http).status().catch(() => undefined)
      if (status === undefined) {
        rows.push([node.name, 'down', '-', '-', '-', '-'])
        continue
      }
      const commit = Number(status.commitIndex ?? 0)
      const now = Date.now()
      const prev = previous.get(node.name)
      const rate = prev === undefined ? 0 : ((commit - prev.commit) * 1000) / Math.max(1, now - prev.at)
      previous.set(node.name, { commit, at: now })
      const leaderName = nodes.find((n) => n.id === status.leader)?.name ?? '-'
      rows.push([node.name, String(status.role), leaderName, String(status.term), String(commit), rate.toFixed(0)])
    }
    const table = formatTable(['node', 'role', 'leader', 'term/view', 'commit', 'ops/s'], rows)
    if (tty) {
      if (lines > 0) out.write(`\x1b[${lines}A`)
      out.write(table.map((l) => `\x1b[2K${l}\n`).join(''))
      lines = table.length
    } else if (tick % 5 === 0) {
      out.write(`${table.join('\n')}\n`)
    }
    tick++
    await sleep(1000)
  }
}

export function formatTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  return [line(header), ...rows.map(line)]
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
