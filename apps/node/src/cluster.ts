// `synod cluster`: a throwaway local cluster of real `synod start` processes on
// 127.0.0.1, with a live status view. The one-command demo.
import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clientIdOf } from '@synod/core'
import { createSigner } from '@synod/crypto'
import { defaultClientKeyPath, ensureClientKey } from './auth/client-key.js'
import type { MemberConfig } from './config.js'
import { initNode, writePrivateFile } from './init.js'
import { type ClientCredentials, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'

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
  /** Default true: the nodes require authentication; your client key (created if absent) is their admin. */
  readonly authentication?: boolean
  /** Serve the API over TLS with a throwaway cluster CA (in the data folder), and give the admin a client certificate. */
  readonly tls?: boolean
}

/** How a prepared cluster is secured. */
export interface ClusterSecurity {
  /** Admins (client ids): authentication is on when given, off (loopback only) otherwise. */
  readonly admins?: readonly string[]
  /** Create a cluster CA in <root>/ca and serve every node's API over TLS. */
  readonly tls?: boolean
}

export interface ClusterNode {
  readonly name: string
  readonly id: string
  readonly dataDir: string
  readonly configFile: string
  /** host:port of the API (changes only if `startCluster` had to move the cluster to fresh ports). */
  http: string
  process?: ChildProcess
  exited?: Promise<number | null>
}

/** Names the one-file daemon (apps/node/scripts/bundle.mjs) that children run; the test suites' global setup sets it. */
export const DAEMON_BUNDLE_ENV = 'SYNOD_DAEMON_BUNDLE'

/**
 * How to run `synod` as a child: the built daemon next to this file (the
 * one-file bin dist/synod.mjs, else dist/cli.js), or — when
 * this module runs from source (tests) — the one-file daemon named by
 * SYNOD_DAEMON_BUNDLE when it exists (compiled from the sources by the test
 * suites' global setup; docs/adr/0031), else the TypeScript entry through tsx.
 * `preferBuilt`: from source without a bundle, run the built CLI when there is
 * one (a tsx start compiles the daemon again: seconds per start on a busy
 * machine, which a runner restarting nodes every few seconds cannot afford).
 * Inside the one-file daemon itself (`synod cluster` starting its nodes): itself.
 */
export function synodCommand(options: { preferBuilt?: boolean } = {}): string[] {
  if (import.meta.url.endsWith('.mjs')) return [fileURLToPath(import.meta.url)]
  const bundle = process.env[DAEMON_BUNDLE_ENV]
  if (import.meta.url.endsWith('.ts') && bundle !== undefined && bundle !== '' && existsSync(bundle)) return [bundle]
  // The built daemon: the one-file bin `pnpm build` writes (dist/synod.mjs), or tsc's dist/cli.js without it.
  const dist = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../dist/' : './', import.meta.url))
  const built = existsSync(join(dist, 'synod.mjs')) ? join(dist, 'synod.mjs') : join(dist, 'cli.js')
  if (import.meta.url.endsWith('.ts') && !(options.preferBuilt === true && existsSync(built))) {
    const cli = fileURLToPath(new URL('./cli.ts', import.meta.url))
    return ['--conditions=@synod/source', '--import', import.meta.resolve('tsx'), cli]
  }
  return [built]
}

/**
 * A TCP port on 127.0.0.1 that is free now. Chosen at random *below* the
 * kernel's ephemeral range: a port the kernel handed out (listen(0)) and we
 * released is soon handed out again as the source port of some outgoing
 * connection, and the node that was meant to bind it fails with EADDRINUSE
 * (seen in CI on a busy machine). Ports below the range are only ever taken
 * by explicit binds. The caller still races other processes between this
 * check and its own bind; `startCluster` retries that case with fresh ports.
 */
export async function freePort(): Promise<number> {
  const [low, high] = portRange()
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (handedOut.has(port)) continue
    if (await canBind(port)) {
      handedOut.add(port)
      return port
    }
  }
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

const handedOut = new Set<number>()

/** [low, high) for freePort: 20000 up to the start of the ephemeral range (Linux: ip_local_port_range). */
function portRange(): [number, number] {
  let ephemeralLow = 32768
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    if (Number.isInteger(first) && first > 0) ephemeralLow = first
  } catch {
    // not Linux: IANA's ephemeral range starts at 49152; 32768 is below both
  }
  return ephemeralLow > 21_024 ? [20_000, ephemeralLow] : [1_024, 65_536]
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)))
  })
}

/** Create the data folders, keys and configs of an n-node cluster on 127.0.0.1. */
export async function prepareCluster(
  root: string,
  protocol: string,
  n: number,
  protocolOptions: Record<string, unknown> = {},
  security: ClusterSecurity = {},
): Promise<ClusterNode[]> {
  const caDir = join(root, 'ca')
  if (security.tls === true) await (await import('./tls/certificates.js')).createCa(caDir, 'synod local cluster CA', true)
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
  const nodes: ClusterNode[] = []
  for (const p of prepared) {
    const configFile = join(p.dir, 'synod.json')
    let tls: { cert: string; key: string; ca: string } | undefined
    if (security.tls === true) {
      const { issueServerCert } = await import('./tls/certificates.js')
      const files = await issueServerCert(caDir, ['127.0.0.1', 'localhost'], join(p.dir, 'server'))
      tls = { ...files, ca: join(caDir, 'ca.crt') }
    }
    const config = {
      protocol,
      dataDir: p.dir,
      listen: [`/ip4/127.0.0.1/tcp/${p.p2pPort}`],
      http: `127.0.0.1:${p.httpPort}`,
      members,
      protocolOptions,
      ...(security.admins === undefined ? { authentication: false } : { authentication: true, admins: security.admins }),
      ...(tls === undefined ? {} : { tls }),
    }
    writePrivateFile(configFile, `${JSON.stringify(config, null, 2)}\n`)
    nodes.push({ name: p.name, id: p.id, dataDir: p.dir, configFile, http: `127.0.0.1:${p.httpPort}` })
  }
  return nodes
}

/**
 * Start one node as a child process; its output goes to <dataDir>/node.log. `launcher` is a command prefix the
 * node runs behind (e.g. `ip netns exec <ns>`, which execs in place: the child's pid stays the daemon's, so
 * SIGKILL and SIGSTOP reach it).
 */
export function startNodeProcess(
  node: ClusterNode,
  extraEnv: Record<string, string> = {},
  options: { preferBuilt?: boolean; launcher?: readonly string[] } = {},
): void {
  const log = createWriteStream(join(node.dataDir, 'node.log'), { flags: 'a', mode: 0o600 })
  const [command, ...args] = [...(options.launcher ?? []), process.execPath, ...synodCommand(options), 'start', '--config', node.configFile]
  const child = spawn(command!, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYNOD_LOG_PRETTY: '0', ...extraEnv },
  })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  node.process = child
  node.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/**
 * Start every node and wait until all are ready. A node that could not bind
 * its port (another process took it after `freePort` checked it) makes the
 * whole cluster move to fresh ports and start again, up to `attempts` times.
 */
export async function startCluster(
  nodes: readonly ClusterNode[],
  options: { timeoutMs: number; env?: Record<string, string>; credentials?: ClientCredentials; attempts?: number },
): Promise<void> {
  const attempts = options.attempts ?? 3
  for (let attempt = 1; ; attempt++) {
    for (const node of nodes) startNodeProcess(node, options.env ?? {})
    try {
      await waitReady(nodes, options.timeoutMs, options.credentials ?? {})
      return
    } catch (error) {
      if (!(error as Error).message.includes('EADDRINUSE') || attempt >= attempts) throw error
      await stopNodes(nodes, 5000)
      await movePorts(nodes)
    }
  }
}

/** Give every node of a prepared cluster fresh p2p and HTTP ports, in every node's config. */
export async function movePorts(nodes: readonly ClusterNode[]): Promise<void> {
  const moved = new Map<string, { p2p: number; http: number }>()
  for (const node of nodes) moved.set(node.id, { p2p: await freePort(), http: await freePort() })
  for (const node of nodes) {
    const config = JSON.parse(readFileSync(node.configFile, 'utf8')) as {
      listen: string[]
      http: string
      members: Array<{ id: string; addrs: string[]; http?: string }>
    }
    const own = moved.get(node.id)!
    config.listen = [`/ip4/127.0.0.1/tcp/${own.p2p}`]
    config.http = `127.0.0.1:${own.http}`
    for (const member of config.members) {
      const ports = moved.get(member.id)
      if (ports === undefined) continue
      member.addrs = [`/ip4/127.0.0.1/tcp/${ports.p2p}`]
      member.http = `127.0.0.1:${ports.http}`
    }
    writePrivateFile(node.configFile, `${JSON.stringify(config, null, 2)}\n`)
    node.http = config.http
  }
}

export async function waitReady(nodes: readonly ClusterNode[], timeoutMs: number, credentials: ClientCredentials = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (const node of nodes) {
    const client = new NodeSynodClient(node.http, { timeoutMs: 10_000, ...credentials })
    while (true) {
      if (Date.now() > deadline) throw new Error(`${node.name} was not ready within ${timeoutMs} ms; see ${join(node.dataDir, 'node.log')}`)
      // Any node, not only this one: a node that waits for a quorum is never ready while another has died.
      const dead = nodes.find((n) => n.process?.exitCode !== null && n.process?.exitCode !== undefined)
      if (dead !== undefined) throw new Error(`${dead.name} exited with code ${dead.process!.exitCode}:\n${tail(join(dead.dataDir, 'node.log'))}`)
      if (await client.ready().catch(() => false)) break
      await sleep(100)
    }
  }
}

/** Wait until every given node names the same leader; returns its id. */
export async function waitLeader(nodes: readonly ClusterNode[], timeoutMs: number, credentials: ClientCredentials = {}): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const leaders = await Promise.all(
      nodes.map((node) =>
        new NodeSynodClient(node.http, { timeoutMs: 2000, ...credentials })
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
  const security = demoSecurity(options)
  const nodes = await prepareCluster(root, options.protocol, options.nodes, options.protocolOptions, security.security)
  const auth = await demoCredentials(root, security)
  const credentials = auth.credentials
  let stopping = false
  let stopped: Promise<number> | undefined
  // Every caller waits for the one stop in progress: the status loop ends as soon as a signal starts it, and
  // returning at once let the CLI exit before the nodes were stopped and the data removed.
  const stop = (code: number): Promise<number> => {
    stopping = true
    stopped ??= (async () => {
      out.write('\nstopping nodes (SIGTERM)…\n')
      await stopNodes(nodes)
      if (removeRoot) rmSync(root, { recursive: true, force: true })
      out.write(`stopped${removeRoot ? '' : `; data kept in ${root}`}\n`)
      return code
    })()
    return stopped
  }
  // Ctrl-C reaches this process more than once: from the terminal (the whole process group) and again from
  // the `pnpm demo` wrapper forwarding it. A handler kept (`on`, not `once`) absorbs the repeats; with `once`
  // the second SIGINT took Node's default action and killed the demo mid-stop, leaving its data behind.
  const onSignal = () => {
    if (stopping) return
    void stop(0).then((code) => process.exit(code))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    out.write(`starting ${nodes.length} nodes…\n`)
    // Generous: four processes starting at once on a busy 2-core machine took over 30 s.
    await startCluster(nodes, { timeoutMs: 120_000, credentials })
    const leader = await waitLeader(nodes, 60_000, credentials)
    const scheme = options.tls === true ? 'https' : 'http'
    out.write('\nclient endpoints:\n')
    for (const node of nodes) out.write(`  ${node.name}  ${scheme}://${node.http}   ${node.id}${node.id === leader ? '  (leader)' : ''}\n`)
    out.write(`\n${auth.howTo(nodes[0]!.http)}\n`)
    if (options.smoke) {
      await smokeTest(nodes, out, credentials)
      return await stop(0)
    }
    const load = options.load ? startLoad(nodes, credentials) : undefined
    await liveStatus(nodes, out, options.durationSeconds, () => stopping, credentials)
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
async function smokeTest(nodes: readonly ClusterNode[], out: NodeJS.WritableStream, credentials: ClientCredentials): Promise<void> {
  const value = `hello-${process.pid}`
  const writer = new NodeSynodClient(nodes[0]!.http, { timeoutMs: 10_000, ...credentials })
  const put = await retryUnavailable(() => writer.put('greeting', value))
  out.write(`put greeting=${value} via ${nodes[0]!.name} → committed at index ${put.index}\n`)
  for (const node of nodes) {
    const got = await retryUnavailable(() => new NodeSynodClient(node.http, { timeoutMs: 10_000, ...credentials }).get('greeting'))
    if (got.value !== value) throw new Error(`${node.name} read ${JSON.stringify(got.value)}, expected ${value}`)
    out.write(`get greeting via ${node.name} → ${got.value}\n`)
  }
  out.write('smoke test passed\n')
}

/**
 * Retry a request answered 503 (no leader yet, or stepping down) or 504 (not
 * committed in time: a busy machine, a view change) for up to a minute, as a
 * client would. The smoke test's writes are idempotent puts of one value.
 */
export async function retryUnavailable<T>(call: () => Promise<T>, budgetMs = 60_000): Promise<T> {
  const deadline = Date.now() + budgetMs
  for (;;) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof SynodHttpError && (error.status === 503 || error.status === 504)) || Date.now() > deadline) throw error
      await sleep(100)
    }
  }
}

function startLoad(nodes: readonly ClusterNode[], credentials: ClientCredentials): { stop(): void } {
  let running = true
  const clients = nodes.map((n, i) => new NodeSynodClient(n.http, { timeoutMs: 10_000, ...credentials, session: 100 + i }))
  const worker = async (w: number) => {
    let i = 0
    while (running) {
      await clients[(w + i) % clients.length]!.put(`load-${w}`, String(i++)).catch(() => sleep(50))
    }
  }
  for (let w = 0; w < 8; w++) void worker(w)
  return { stop: () => (running = false) }
}

async function liveStatus(
  nodes: readonly ClusterNode[],
  out: NodeJS.WritableStream,
  seconds: number,
  stopped: () => boolean,
  credentials: ClientCredentials,
): Promise<void> {
  const clients = nodes.map((node) => new NodeSynodClient(node.http, { timeoutMs: 10_000, ...credentials }))
  const tty = (out as NodeJS.WriteStream).isTTY === true
  const previous = new Map<string, { commit: number; at: number }>()
  const started = Date.now()
  let lines = 0
  out.write(tty ? 'live status (Ctrl-C to stop)\n' : 'status every 5 s (Ctrl-C to stop)\n')
  let tick = 0
  while (!stopped() && (seconds === 0 || Date.now() - started < seconds * 1000)) {
    const rows: string[][] = []
    for (const [i, node] of nodes.entries()) {
      const status = await clients[i]!.status().catch(() => undefined)
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

/**
 * The demo's security: authentication on (unless turned off), with your
 * client key — created if absent, like `synod client init` — as the admin.
 */
function demoSecurity(options: ClusterOptions): { security: ClusterSecurity; signer?: ReturnType<typeof createSigner>; keyFile?: string } {
  if (options.authentication === false) {
    options.out.write('authentication: OFF (loopback only)\n')
    return { security: {} }
  }
  const keyFile = defaultClientKeyPath()
  const { keyPair, created } = ensureClientKey(keyFile)
  const admin = clientIdOf(keyPair.publicKey)
  options.out.write(`authentication: on; admin: your client key ${keyFile}${created ? ' (just created)' : ''}, client id ${admin}\n`)
  return { security: { admins: [admin], ...(options.tls === true ? { tls: true } : {}) }, signer: createSigner(keyPair.secretKey), keyFile }
}

/** What the demo's own requests use, and what it tells you to type; with --tls, a client certificate for your key. */
async function demoCredentials(
  root: string,
  auth: ReturnType<typeof demoSecurity>,
): Promise<{ credentials: ClientCredentials; howTo: (endpoint: string) => string }> {
  if (auth.signer === undefined) return { credentials: {}, howTo: (e) => `try:  synod kv put greeting hello --endpoint ${e}\n` }
  if (auth.security.tls !== true)
    return {
      credentials: { signer: auth.signer },
      howTo: (e) =>
        `try:  synod kv put greeting hello --endpoint ${e}      (signed with ${auth.keyFile})\n` +
        `      synod client init --client-key ./reader.key; synod role grant <its client id> readonly --prefix greet --endpoint ${e}\n`,
    }
  const { issueClientCert } = await import('./tls/certificates.js')
  const { readKeyFile } = await import('./init.js')
  const ca = join(root, 'ca', 'ca.crt')
  const cert = await issueClientCert(join(root, 'ca'), readKeyFile(auth.keyFile!), join(root, 'admin'))
  return {
    credentials: { signer: auth.signer, tls: { ca: readFileSync(ca, 'utf8') } },
    howTo: (e) =>
      `TLS: cluster CA ${ca}; a client certificate for your key: ${cert.cert} (key ${cert.key})\n` +
      `try:  synod kv put greeting hello --endpoint ${e} --ca ${ca}\n` +
      `      curl -s --cacert ${ca} --cert ${cert.cert} --key ${cert.key} https://${e}/v1/kv/greeting\n`,
  }
}
