// Polls every running node's /v1/status while the run lasts, for the report:
// who leads (and in which term or view), and each node's commit index — and
// its /metrics, for which of its links to the other members are down.
import type { CommitRecord, LeaderRecord } from '@synod/conformance'
import type { ClusterHistory } from './history.js'
import { call } from './http-call.js'
import type { LiveCluster } from './processes.js'

/** A change of a node's outbound links: the members it has no open stream to, from `at` (history time). */
export interface LinkRecord {
  readonly at: number
  readonly node: string
  readonly down: readonly string[]
}

/**
 * The members whose `synod_peer_connected` gauge is 0 in a node's /metrics text (the daemon's outbound
 * stream to that member is not open), by name; undefined when the text has no such gauge.
 */
export function linksDown(metrics: string, nameOf: ReadonlyMap<string, string>): string[] | undefined {
  let seen = false
  const down: string[] = []
  for (const match of metrics.matchAll(/^synod_peer_connected\{peer="([^"]+)"\} (\d+)$/gm)) {
    seen = true
    if (match[2] === '0') down.push(nameOf.get(match[1]!) ?? match[1]!)
  }
  return seen ? down.sort() : undefined
}

export class StatusSampler {
  readonly leaders: LeaderRecord[] = []
  /** Each node's down links, a record per change (what a partition cut, and how long after a heal it stayed down). */
  readonly links: LinkRecord[] = []
  private readonly lastLinks = new Map<string, string>()
  /** Commit index samples (digest unused): drawn as each node's commit line. */
  readonly commits: CommitRecord[] = []
  private readonly names: ReadonlyMap<string, string>
  private running = true
  private readonly loop: Promise<void>
  private readonly lastLeader = new Map<string, string>()

  constructor(
    private readonly cluster: LiveCluster,
    private readonly history: ClusterHistory,
    private readonly everyMs = 500,
  ) {
    this.names = new Map(cluster.nodes.map((n) => [n.id, n.name]))
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }

  private async run(): Promise<void> {
    while (this.running) {
      await Promise.all(
        this.cluster.nodes.map(async (node, i) => {
          if (this.cluster.state[i] !== 'up') return
          const answer = await call(node.http, 'GET', '/v1/status', undefined, Math.max(200, this.everyMs - 100))
          if (answer.kind !== 'ok') return
          const at = this.history.now()
          const { leader, term, commitIndex } = answer.body
          if (typeof commitIndex === 'number') this.commits.push({ node: node.name, incarnation: 0, index: commitIndex, digest: '', at })
          if (leader === node.id && typeof term === 'number') {
            const claim = `${term}`
            if (this.lastLeader.get(node.name) !== claim) {
              this.lastLeader.set(node.name, claim)
              this.leaders.push({ node: node.name, term, at })
            }
          }
          const metrics = await call(node.http, 'GET', '/metrics', undefined, Math.max(200, this.everyMs - 100))
          if (metrics.kind !== 'ok') return
          const down = linksDown(metrics.text ?? '', this.names)
          if (down === undefined || this.lastLinks.get(node.name) === down.join()) return
          this.lastLinks.set(node.name, down.join())
          this.links.push({ at: this.history.now(), node: node.name, down })
        }),
      )
      await new Promise((resolve) => setTimeout(resolve, this.everyMs))
    }
  }
}
