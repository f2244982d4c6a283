// Polls every running node's /v1/status while the run lasts, for the report:
// who leads (and in which term or view), and each node's commit index.
import type { CommitRecord, LeaderRecord } from '@synod/conformance'
import type { ClusterHistory } from './history.js'
import { call } from './http-call.js'
import type { LiveCluster } from './processes.js'

export class StatusSampler {
  readonly leaders: LeaderRecord[] = []
  /** Commit index samples (digest unused): drawn as each node's commit line. */
  readonly commits: CommitRecord[] = []
  private running = true
  private readonly loop: Promise<void>
  private readonly lastLeader = new Map<string, string>()

  constructor(
    private readonly cluster: LiveCluster,
    private readonly history: ClusterHistory,
    private readonly everyMs = 500,
  ) {
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
        }),
      )
      await new Promise((resolve) => setTimeout(resolve, this.everyMs))
    }
  }
}
