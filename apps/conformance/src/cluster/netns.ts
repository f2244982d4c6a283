// Real network partitions between the nodes, in Linux network namespaces
// (root only): each node runs in its own namespace (`ip netns exec`) with one
// veth to a bridge; the bridge lives in a namespace of its own, with one more
// veth up to the runner's (root) namespace, so the runner reaches every node's
// HTTP API and /metrics directly while the nodes' traffic to each other never
// crosses the host's namespace (its firewall, or br_netfilter on a Docker
// host, never sees it).
//
//   root ns: runner, sy<pid>k<k> 10.A.B.254 ── uplink ┐
//   synod-<pid>-<k>-br:            br0 ─ n1 n2 … nN ──┘
//   synod-<pid>-<k>-n<i>:          eth0 10.A.B.<i>, the node (libp2p and HTTP on 10.A.B.<i>)
//
// A fault "a → b lost" is an nft rule in b's namespace, on the input hook:
// `ip saddr <a> counter name "from<a>" drop` — Jepsen's iptables INPUT DROP.
// On the receiver, not the sender: a packet dropped on output makes the
// sender's own send fail (EPERM), which a real network never reports; a packet
// dropped on input is simply never heard. The rules match only node addresses
// as sources, so the runner's requests (from .254) always pass. Every change
// rewrites each namespace's chain in one `nft -f -` transaction (flush and
// re-add), all namespaces in parallel: a namespace never holds half a fault.
// The counters are named objects of the table, kept across the flushes: they
// are the evidence that a fault dropped something.
//
// Unlike the proxies, nothing corrupts a stream: TCP retransmits what was
// dropped, so the heal only removes the rules (no connection is reset).
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { blockedBy, type ClusterNetwork } from './network.js'
import { processAlive } from './pids.js'

/** Every `ip` and `nft` call is bounded: a stuck one is killed and reported. */
const COMMAND_TIMEOUT_MS = 20_000
const TABLE = 'inet synod'

/** Run a command with a timeout; stdin from `input`; rejects with its stderr. */
export function runCommand(command: string, args: readonly string[], input?: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, [...args], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout)
      const why = (error as { killed?: boolean }).killed === true ? `timed out after ${timeoutMs} ms` : stderr.trim() || error.message
      reject(new Error(`${command} ${args.join(' ')}: ${why}`))
    })
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(input ?? '')
  })
}

function runNow(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, [...args], { timeout: 10_000, stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Whether namespaces can be used here, and if not, why (probed once per process: a throwaway namespace with a bridge, a veth and an nft table). */
export type NamespaceSupport = { readonly ok: true; readonly reason: string } | { readonly ok: false; readonly reason: string }

let probed: Promise<NamespaceSupport> | undefined

export function probeNamespaces(): Promise<NamespaceSupport> {
  probed ??= probe()
  return probed
}

async function probe(): Promise<NamespaceSupport> {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces are Linux only (this is ${process.platform})` }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not running as root (namespaces, veths and nft rules need root)' }
  for (const [command, args, package_] of [
    ['ip', ['-V'], 'iproute2'],
    ['nft', ['--version'], 'nftables'],
  ] as const) {
    try {
      await runCommand(command, args, undefined, 10_000)
    } catch (error) {
      return { ok: false, reason: `\`${command}\` does not run (install ${package_}): ${(error as Error).message.split('\n')[0]}` }
    }
  }
  const name = `synod-${process.pid}-probe`
  try {
    await runCommand('ip', ['netns', 'add', name])
    // What a run needs inside a namespace: a bridge, a veth pair, an nft table with an input chain.
    await runCommand('ip', ['-n', name, '-batch', '-'], 'link add br0 type bridge\nlink add probe0 type veth peer name probe1\nlink set probe0 master br0\n')
    await runCommand('ip', ['netns', 'exec', name, 'nft', '-f', '-'], `table ${TABLE} {\n  chain in { type filter hook input priority 0; policy accept; }\n}\n`)
    return { ok: true, reason: 'root, `ip netns` and nft work' }
  } catch (error) {
    return { ok: false, reason: `a throwaway namespace with a bridge, a veth and an nft table failed: ${(error as Error).message.split('\n')[0]}` }
  } finally {
    await runCommand('ip', ['netns', 'del', name]).catch(() => undefined)
  }
}

const NAMESPACE_NAME = /^synod-(\d+)-/
const ROOT_LINK_NAME = /^sy(\d+)k\d+$/

/** Remove namespaces and root-namespace links left by runs whose process is gone (a SIGKILLed runner). Returns what it removed. */
export async function removeLeftovers(): Promise<string[]> {
  const removed: string[] = []
  for (const name of await synodNamespaces()) {
    const pid = Number(NAMESPACE_NAME.exec(name)?.[1] ?? Number.NaN)
    if (Number.isInteger(pid) && !processAlive(pid) && (await runCommand('ip', ['netns', 'del', name]).then(() => true, () => false))) removed.push(name)
  }
  for (const link of await rootLinks()) {
    const pid = Number(ROOT_LINK_NAME.exec(link)?.[1] ?? Number.NaN)
    if (Number.isInteger(pid) && !processAlive(pid) && (await runCommand('ip', ['link', 'del', link]).then(() => true, () => false))) removed.push(link)
  }
  return removed
}

/** The names of the root namespace's network interfaces. */
export async function rootLinks(): Promise<string[]> {
  const links = JSON.parse(await runCommand('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>
  return links.map((l) => l.ifname)
}

/** Namespaces whose name says this package made them (synod-<pid>-…). */
export async function synodNamespaces(): Promise<string[]> {
  return (await runCommand('ip', ['netns', 'list']))
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter((n) => NAMESPACE_NAME.test(n))
}

/** A /24 in 10.0.0.0/8 that no address or route of this host overlaps, derived from the pid (tried in a bounded sequence). */
async function freeSubnet(pid: number, k: number): Promise<[number, number]> {
  const addrs = JSON.parse(await runCommand('ip', ['-j', '-4', 'addr', 'show'])) as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>
  const routes = JSON.parse(await runCommand('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as Array<{ dst: string }>
  const taken: Array<[number, number]> = []
  const toInt = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0)
  for (const a of addrs) for (const info of a.addr_info ?? []) taken.push([toInt(info.local), info.prefixlen])
  for (const r of routes) {
    if (r.dst === 'default' || !/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(r.dst)) continue
    const [ip, len] = r.dst.split('/')
    taken.push([toInt(ip!), len === undefined ? 32 : Number(len)])
  }
  const overlaps = (net: number) =>
    taken.some(([ip, len]) => {
      const shorter = Math.min(24, len)
      const mask = shorter === 0 ? 0 : (0xffffffff << (32 - shorter)) >>> 0
      return ((ip & mask) >>> 0) === ((net & mask) >>> 0)
    })
  let h = (pid * 2654435761 + k * 40503) >>> 0
  for (let attempt = 0; attempt < 200; attempt++) {
    const b = 1 + (h % 254)
    const c = (h >>> 8) % 256
    if (!overlaps(toInt(`10.${b}.${c}.0`))) return [b, c]
    h = (Math.imul(h, 1103515245) + 12345) >>> 0
  }
  throw new Error('no free /24 in 10.0.0.0/8 for the namespaces (every candidate overlaps an address or route of this host)')
}

interface NodeConfigFile {
  listen: string[]
  http: string
  insecureAllowUnauthenticated?: boolean
  members: Array<{ id: string; addrs: string[]; http?: string }>
}

let created = 0

export class NamespaceNetwork implements ClusterNetwork {
  readonly kind = 'netns'
  readonly droppedUnit = 'packets'
  readonly description: string
  private blocked: (from: number, to: number) => boolean = () => false
  /** Rule changes one after another (a heal never overtakes the fault it undoes). */
  private queue: Promise<void> = Promise.resolve()
  private exitHook: (() => void) | undefined
  private closed = false

  private constructor(
    /** synod-<pid>-<k>: every namespace's name starts with it. */
    readonly prefix: string,
    /** The runner's end of the uplink veth, in the root namespace. */
    readonly rootLink: string,
    /** 10.A.B: node i is 10.A.B.(i+1), the runner 10.A.B.254. */
    readonly subnet: string,
    readonly size: number,
  ) {
    this.description = `each node in its own network namespace (${prefix}-n1…n${size}, ${subnet}.0/24, runner at ${subnet}.254 via ${rootLink}); faults are nft drop rules`
  }

  /** Namespace of node i (0-based). */
  namespace(i: number): string {
    return `${this.prefix}-n${i + 1}`
  }

  address(i: number): string {
    return `${this.subnet}.${i + 1}`
  }

  get bridgeNamespace(): string {
    return `${this.prefix}-br`
  }

  /** Every namespace this network made. */
  get namespaces(): string[] {
    return [this.bridgeNamespace, ...Array.from({ length: this.size }, (_, i) => this.namespace(i))]
  }

  /**
   * Make the namespaces, bridge and veths, and rewrite every node's config to listen (libp2p and HTTP) on its
   * namespace's address and dial the others there (before the nodes start). `nodes[i].http` is updated.
   */
  static async install(nodes: Array<{ readonly id: string; readonly configFile: string; http: string }>): Promise<NamespaceNetwork> {
    if (nodes.length > 200) throw new Error('at most 200 nodes in one namespace network')
    await removeLeftovers()
    const k = created++
    const [b, c] = await freeSubnet(process.pid, k)
    const network = new NamespaceNetwork(`synod-${process.pid}-${k}`, `sy${process.pid}k${k}`, `10.${b}.${c}`, nodes.length)
    // Whatever ends the process, nothing stays behind (a second Ctrl-C exits at once).
    network.exitHook = () => network.closeNow()
    process.on('exit', network.exitHook)
    try {
      await network.build()
      network.rewriteConfigs(nodes)
      return network
    } catch (error) {
      await network.close()
      throw error
    }
  }

  private async build(): Promise<void> {
    const n = this.size
    const root = [
      ...this.namespaces.map((ns) => `netns add ${ns}`),
      ...Array.from({ length: n }, (_, i) => `link add name n${i + 1} netns ${this.bridgeNamespace} type veth peer name eth0 netns ${this.namespace(i)}`),
      `link add name ${this.rootLink} type veth peer name uplink netns ${this.bridgeNamespace}`,
      `addr add ${this.subnet}.254/24 dev ${this.rootLink}`,
      `link set ${this.rootLink} up`,
    ]
    await runCommand('ip', ['-batch', '-'], `${root.join('\n')}\n`)
    const ports = ['uplink', ...Array.from({ length: n }, (_, i) => `n${i + 1}`)]
    const bridge = ['link add br0 type bridge', 'link set br0 up', ...ports.flatMap((p) => [`link set ${p} master br0`, `link set ${p} up`])]
    await runCommand('ip', ['-n', this.bridgeNamespace, '-batch', '-'], `${bridge.join('\n')}\n`)
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const ns = this.namespace(i)
        await runCommand('ip', ['-n', ns, '-batch', '-'], `link set lo up\naddr add ${this.address(i)}/24 dev eth0\nlink set eth0 up\n`)
        // The table, a named counter per other node (kept across rule changes) and the empty input chain.
        const counters = Array.from({ length: n }, (_, a) => a)
          .filter((a) => a !== i)
          .map((a) => `  counter from${a + 1} {}\n`)
          .join('')
        await runCommand('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], `table ${TABLE} {\n${counters}  chain in { type filter hook input priority 0; policy accept; }\n}\n`)
      }),
    )
  }

  private rewriteConfigs(nodes: Array<{ readonly id: string; readonly configFile: string; http: string }>): void {
    const addressOf = new Map(nodes.map((node, i) => [node.id, this.address(i)]))
    const move = (hostPort: string, address: string) => hostPort.replace(/^127\.0\.0\.1:/, `${address}:`)
    const moveAddr = (multiaddr: string, address: string) => multiaddr.replace(/^\/ip4\/127\.0\.0\.1\//, `/ip4/${address}/`)
    nodes.forEach((node, i) => {
      const config = JSON.parse(readFileSync(node.configFile, 'utf8')) as NodeConfigFile
      const own = this.address(i)
      config.listen = config.listen.map((a) => moveAddr(a, own))
      config.http = move(config.http, own)
      // Authentication stays off as on 127.0.0.1: the address is reachable only from this host (the bridge is in
      // its own namespace, its one way out is the runner's veth), which the daemon cannot know.
      config.insecureAllowUnauthenticated = true
      for (const member of config.members) {
        const address = addressOf.get(member.id)
        if (address === undefined) throw new Error(`member ${member.id} is not a node of this cluster`)
        member.addrs = member.addrs.map((a) => moveAddr(a, address))
        if (member.http !== undefined) member.http = move(member.http, address)
      }
      if (!config.listen.every((a) => a.includes(`/ip4/${own}/`)) || !config.http.startsWith(`${own}:`))
        throw new Error(`cannot move ${node.configFile} to ${own}: it does not listen on 127.0.0.1`)
      writeFileSync(node.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
      node.http = config.http
    })
  }

  launcher(i: number): readonly string[] {
    return ['ip', 'netns', 'exec', this.namespace(i)]
  }

  async partition(groups: ReadonlyArray<readonly number[]>): Promise<void> {
    return this.apply(blockedBy.partition(groups))
  }

  async isolate(i: number): Promise<void> {
    return this.apply(blockedBy.isolate(i))
  }

  async oneWay(from: readonly number[], to: readonly number[]): Promise<void> {
    return this.apply(blockedBy.oneWay(from, to))
  }

  async bridge(left: readonly number[], bridge: number, right: readonly number[]): Promise<void> {
    return this.apply(blockedBy.bridge(left, bridge, right))
  }

  async heal(): Promise<void> {
    return this.apply(() => false)
  }

  isBlocked(from: number, to: number): boolean {
    return from !== to && this.blocked(from, to)
  }

  /** Packets from node `from` that node `to`'s rules dropped, over the whole run. */
  async dropped(from: number, to: number): Promise<number> {
    if (from === to) return 0
    const out = await runCommand('ip', ['netns', 'exec', this.namespace(to), 'nft', '-j', 'list', 'counter', ...TABLE.split(' '), `from${from + 1}`])
    const counter = (JSON.parse(out) as { nftables: Array<{ counter?: { packets: number } }> }).nftables.find((o) => o.counter !== undefined)
    return counter?.counter?.packets ?? 0
  }

  /** Rewrite every namespace's input chain to drop what `blocked` says, one transaction per namespace, all in parallel. */
  private apply(blocked: (from: number, to: number) => boolean): Promise<void> {
    const change = this.queue.then(async () => {
      if (this.closed) throw new Error('the namespace network is closed')
      const results = await Promise.allSettled(
        Array.from({ length: this.size }, (_, to) => {
          const rules = Array.from({ length: this.size }, (_, from) => from)
            .filter((from) => from !== to && blocked(from, to))
            .map((from) => `add rule ${TABLE} in ip saddr ${this.address(from)} counter name "from${from + 1}" drop\n`)
          return runCommand('ip', ['netns', 'exec', this.namespace(to), 'nft', '-f', '-'], `flush chain ${TABLE} in\n${rules.join('')}`)
        }),
      )
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${this.namespace(i)}: ${(r.reason as Error).message}`] : []))
      // The namespaces that did change hold the new rules: say so, and let the caller stop the run.
      this.blocked = blocked
      if (failed.length > 0) throw new Error(`nft rules not applied in ${failed.join('; ')}`)
    })
    this.queue = change.catch(() => undefined)
    return change
  }

  /** Remove the namespaces and the uplink (the nodes must have stopped: a namespace lives on while a process is in it). */
  async close(): Promise<void> {
    this.closed = true
    await this.queue
    await runCommand('ip', ['link', 'del', this.rootLink]).catch(() => undefined)
    await Promise.all(this.namespaces.map((ns) => runCommand('ip', ['netns', 'del', ns]).catch(() => undefined)))
    if (this.exitHook !== undefined) process.off('exit', this.exitHook)
    this.exitHook = undefined
  }

  /** Synchronous last resort (process 'exit'): the same removal, each step bounded. */
  closeNow(): void {
    this.closed = true
    runNow('ip', ['link', 'del', this.rootLink])
    for (const ns of this.namespaces) runNow('ip', ['netns', 'del', ns])
  }
}
