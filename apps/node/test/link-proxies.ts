// Per-link TCP proxies for real-process fault tests: node i reaches node j's
// libp2p port only through the proxy of the ordered link (i, j), so the test
// can cut every link of one node — a real network partition between
// processes, as Jepsen does with iptables, without root or namespaces.
import { createServer, connect, type Server, type Socket } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import type { ClusterNode } from '../src/cluster.js'

interface Link {
  readonly from: number
  readonly to: number
  readonly server: Server
  readonly port: number
  readonly sockets: Set<Socket>
}

export class LinkProxies {
  private readonly links: Link[] = []
  private readonly isolated = new Set<number>()

  /** Start one proxy per ordered pair and point each node's config at them (call before the nodes start). */
  static async install(nodes: readonly ClusterNode[]): Promise<LinkProxies> {
    const proxies = new LinkProxies()
    const configs = nodes.map((node) => JSON.parse(readFileSync(node.configFile, 'utf8')) as { listen: string[]; members: Array<{ id: string; addrs: string[] }> })
    const p2pPorts = configs.map((config) => Number(/\/tcp\/(\d+)/.exec(config.listen[0]!)![1]))
    for (let from = 0; from < nodes.length; from++) {
      for (let to = 0; to < nodes.length; to++) {
        if (from === to) continue
        const link = await proxies.open(from, to, p2pPorts[to]!)
        const member = configs[from]!.members.find((m) => m.id === nodes[to]!.id)!
        member.addrs = [`/ip4/127.0.0.1/tcp/${link.port}`]
      }
    }
    nodes.forEach((node, i) => writeFileSync(node.configFile, `${JSON.stringify(configs[i], null, 2)}\n`))
    return proxies
  }

  /** Cut every link to and from node `i` (open connections are reset, new ones refused). */
  isolate(i: number): void {
    this.isolated.add(i)
    for (const link of this.links) if (link.from === i || link.to === i) for (const socket of link.sockets) socket.destroy()
  }

  heal(): void {
    this.isolated.clear()
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      for (const socket of link.sockets) socket.destroy()
      await new Promise<void>((resolve) => link.server.close(() => resolve()))
    }
  }

  private async open(from: number, to: number, targetPort: number): Promise<Link> {
    const sockets = new Set<Socket>()
    const server = createServer((inbound) => {
      if (this.isolated.has(from) || this.isolated.has(to)) return void inbound.destroy()
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
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    const link: Link = { from, to, server, port: (server.address() as { port: number }).port, sockets }
    this.links.push(link)
    return link
  }
}
