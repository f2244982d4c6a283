// Per-link TCP proxies for real-process partitions: node i reaches node j's
// libp2p port only through the proxy of the ordered link (i, j) — the runner
// writes the proxies' ports into each member's config before the nodes
// start — so cutting a link is closing its sockets and refusing new ones.
// A real network partition between processes, as Jepsen does with iptables,
// without root or namespaces.
//
// Faults are per direction: `blocked(a, b)` means bytes from node a to node b
// are lost. Both directions blocked: the link's connections are reset and new
// ones refused. One direction only: a libp2p connection (TCP, noise, yamux)
// carries both directions whoever dialed it, so the proxies of both ordered
// links between a and b keep their connections but silently drop the bytes
// flowing from a to b (a black hole, as an iptables DROP rule in one
// direction); new connections are accepted and their handshakes starve. A
// connection that lost bytes is corrupt (its encrypted stream has a gap), so
// the heal resets it and the nodes redial.
import { readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { blockedBy, type ClusterNetwork } from './network.js'

interface Link {
  readonly from: number
  readonly to: number
  readonly server: Server
  readonly port: number
  readonly sockets: Set<Socket>
  /** Sockets of this link that dropped bytes (reset at the heal: their streams have gaps). */
  readonly tainted: Set<Socket>
}

interface NodeConfigFile {
  listen: string[]
  members: Array<{ id: string; addrs: string[] }>
}

export class LinkProxies implements ClusterNetwork {
  readonly kind = 'proxies'
  readonly droppedUnit = 'bytes'
  readonly description = 'nodes on 127.0.0.1; each ordered link through its own TCP proxy in the runner (faults: closed or black-holed proxies)'
  private readonly links: Link[] = []
  /** Which directions lose their bytes: blocked(a, b) = messages from node a to node b are lost. */
  private blocked: (from: number, to: number) => boolean = () => false
  private closed = false
  /** Bytes dropped by one-way faults, per direction 'from>to' (evidence that a one-way fault acted). */
  private readonly droppedBytes = new Map<string, number>()

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

  /** Cut every link between different groups (both ways); nodes in no group are cut from everyone. */
  partition(groups: ReadonlyArray<readonly number[]>): void {
    this.apply(blockedBy.partition(groups))
  }

  /** Cut every link to and from node `i`. */
  isolate(i: number): void {
    this.apply(blockedBy.isolate(i))
  }

  /** One way: bytes from any node of `from` to any node of `to` are lost; the other direction still flows. */
  oneWay(from: readonly number[], to: readonly number[]): void {
    this.apply(blockedBy.oneWay(from, to))
  }

  /**
   * Jepsen's bridge: two halves that reach each other only through `bridge`,
   * which talks to both (links between the halves are cut both ways).
   */
  bridge(left: readonly number[], bridge: number, right: readonly number[]): void {
    this.apply(blockedBy.bridge(left, bridge, right))
  }

  /** Bytes a one-way fault dropped from node `from` to node `to` so far. */
  dropped(from: number, to: number): number {
    return this.droppedBytes.get(`${from}>${to}`) ?? 0
  }

  /** Whether messages from node `from` to node `to` are lost now. */
  isBlocked(from: number, to: number): boolean {
    return from !== to && this.blocked(from, to)
  }

  heal(): void {
    this.blocked = () => false
    // Connections that dropped bytes have gaps in their encrypted streams: reset them, the nodes redial.
    for (const link of this.links) {
      for (const socket of link.tainted) socket.destroy()
      link.tainted.clear()
    }
  }

  /** The nodes run in the runner's own network namespace. */
  launcher(): readonly string[] {
    return []
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

  private apply(blocked: (from: number, to: number) => boolean): void {
    this.blocked = blocked
    // Both directions lost: reset the link's connections (new ones are refused). One direction: see open().
    for (const link of this.links) if (this.cutBothWays(link)) for (const socket of link.sockets) socket.destroy()
  }

  private cutBothWays(link: { readonly from: number; readonly to: number }): boolean {
    return this.blocked(link.from, link.to) && this.blocked(link.to, link.from)
  }

  private async open(from: number, to: number, targetPort: number): Promise<Link> {
    const sockets = new Set<Socket>()
    const tainted = new Set<Socket>()
    const server = createServer((inbound) => {
      if (this.closed || this.cutBothWays({ from, to })) return void inbound.destroy()
      const outbound = connect(targetPort, '127.0.0.1')
      // inbound carries bytes from the dialer (node `from`) to node `to`; outbound the answers back.
      for (const [socket, other, src, dst] of [
        [inbound, outbound, from, to],
        [outbound, inbound, to, from],
      ] as const) {
        sockets.add(socket)
        socket.on('error', () => other.destroy())
        socket.on('close', () => {
          sockets.delete(socket)
          tainted.delete(socket)
          other.destroy()
        })
        socket.on('end', () => other.end())
        socket.on('data', (chunk: Buffer) => {
          if (this.blocked(src, dst)) {
            // A one-way fault: these bytes vanish; the stream is corrupt from here on (reset at the heal).
            tainted.add(socket)
            this.droppedBytes.set(`${src}>${dst}`, this.dropped(src, dst) + chunk.byteLength)
            return
          }
          if (!other.write(chunk)) {
            socket.pause()
            other.once('drain', () => socket.resume())
          }
        })
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const link: Link = { from, to, server, port: (server.address() as { port: number }).port, sockets, tainted }
    this.links.push(link)
    return link
  }
}
