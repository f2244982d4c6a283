// Per-link TCP proxies for real-process partitions: node i reaches node j's
// libp2p port only through the proxy of the ordered link (i, j) — the runner
// writes the proxies' ports into each member's config before the nodes
// start — so cutting a link is closing its sockets and refusing new ones.
// A real network partition between processes, as Jepsen does with iptables,
// without root or namespaces. A libp2p connection carries both directions,
// so a cut link is cut both ways (one-way partitions are not modelled here).
import { readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'

interface Link {
  readonly from: number
  readonly to: number
  readonly server: Server
  readonly port: number
  readonly sockets: Set<Socket>
}

interface NodeConfigFile {
  listen: string[]
  members: Array<{ id: string; addrs: string[] }>
}

export class LinkProxies {
  private readonly links: Link[] = []
  /** Which ordered links are cut: a predicate over (from, to) node indexes. */
  private cut: (from: number, to: number) => boolean = () => false
  private closed = false

  private constructor(readonly size: number) {}

  /** One proxy per ordered pair; every node's config is rewritten to dial its peers through them (before the nodes start). */
  static async install(nodes: ReadonlyArray<{ readonly id: string; readonly configFile: string }>): Promise<LinkProxies> {
    const proxies = new LinkProxies(nodes.length)
    try {
      const configs = nodes.map((node) => JSON.parse(readFileSync(node.configFile, 'utf8')) as NodeConfigFile)
      const p2pPorts = configs.map((config) => {
        const port = /\/tcp\/(\d+)/.exec(config.listen[0] ?? '')?.[1]
        if (port === undefined) throw new Error(`cannot find the libp2p port in ${JSON.stringify(config.listen)}`)
        return Number(port)
      })
      for (let from = 0; from < nodes.length; from++) {
        for (let to = 0; to < nodes.length; to++) {
          if (from === to) continue
          const link = await proxies.open(from, to, p2pPorts[to]!)
          const member = configs[from]!.members.find((m) => m.id === nodes[to]!.id)
          if (member === undefined) throw new Error(`node ${from} does not list member ${nodes[to]!.id}`)
          member.addrs = [`/ip4/127.0.0.1/tcp/${link.port}`]
        }
      }
      nodes.forEach((node, i) => writeFileSync(node.configFile, `${JSON.stringify(configs[i], null, 2)}\n`, { mode: 0o600 }))
      return proxies
    } catch (error) {
      await proxies.close()
      throw error
    }
  }

  /** Cut every link between different groups; nodes in no group are cut from everyone. */
  partition(groups: ReadonlyArray<readonly number[]>): void {
    const groupOf = new Map<number, number>()
    groups.forEach((group, g) => group.forEach((node) => groupOf.set(node, g)))
    this.apply((from, to) => groupOf.get(from) === undefined || groupOf.get(from) !== groupOf.get(to))
  }

  /** Cut every link to and from node `i`. */
  isolate(i: number): void {
    this.apply((from, to) => from === i || to === i)
  }

  heal(): void {
    this.cut = () => false
  }

  /** Destroy every open connection (as a restart of the network would); links stay as they are. */
  resetConnections(): void {
    for (const link of this.links) for (const socket of link.sockets) socket.destroy()
  }

  async close(): Promise<void> {
    this.closed = true
    await Promise.all(
      this.links.map(async (link) => {
        for (const socket of link.sockets) socket.destroy()
        await new Promise<void>((resolve) => link.server.close(() => resolve()))
      }),
    )
  }

  private apply(cut: (from: number, to: number) => boolean): void {
    this.cut = cut
    for (const link of this.links) if (cut(link.from, link.to)) for (const socket of link.sockets) socket.destroy()
  }

  private async open(from: number, to: number, targetPort: number): Promise<Link> {
    const sockets = new Set<Socket>()
    const server = createServer((inbound) => {
      if (this.closed || this.cut(from, to)) return void inbound.destroy()
      const outbound = connect(targetPort, '127.0.0.1')
      for (const [socket, other] of [
        [inbound, outbound],
        [outbound, inbound],
      ] as const) {
        sockets.add(socket)
        socket.on('error', () => other.destroy())
        socket.on('close', () => {
          sockets.delete(socket)
          other.destroy()
        })
        socket.pipe(other)
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const link: Link = { from, to, server, port: (server.address() as { port: number }).port, sockets }
    this.links.push(link)
    return link
  }
}
