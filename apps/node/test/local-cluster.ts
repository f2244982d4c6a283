// A throwaway cluster of real `synod start` processes on 127.0.0.1 for one
// test file: created, started and elected before its tests, stopped and
// deleted after them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import type { ClientCredentials } from '@synod/client'
import { type ClusterNode, type ClusterSecurity, prepareCluster, startCluster, stopNodes, waitLeader } from '../src/cluster.js'

export interface LocalCluster {
  readonly root: string
  /** Filled before the tests run; tests may push nodes they start themselves (stopped at the end too). */
  readonly nodes: ClusterNode[]
}

export interface LocalClusterOptions {
  readonly protocolOptions?: Record<string, unknown>
  /**
   * Budget for the processes to come up, and again to elect (tsx start-up of four processes took
   * over 30 s on a loaded 2-core machine). Default 90 s.
   */
  readonly startupMs?: number
  /** Extra environment of every node (SYNOD_* settings). */
  readonly env?: Record<string, string>
  /** Authentication (admins) and TLS; off by default in tests. */
  readonly security?: ClusterSecurity
  /** How the harness reads /v1/status when authentication is on (an admin's signer). */
  readonly credentials?: ClientCredentials
}

export function useLocalCluster(protocol: string, n: number, prefix: string, options: LocalClusterOptions = {}): LocalCluster {
  const startupMs = options.startupMs ?? 90_000
  const cluster: LocalCluster = { root: mkdtempSync(join(tmpdir(), prefix)), nodes: [] }
  beforeAll(async () => {
    cluster.nodes.push(...(await prepareCluster(cluster.root, protocol, n, options.protocolOptions ?? {}, options.security ?? {})))
    await startCluster(cluster.nodes, { timeoutMs: startupMs, env: options.env ?? {} })
    await waitLeader(cluster.nodes, startupMs, options.credentials ?? {})
  }, 2 * startupMs + 10_000)
  afterAll(async () => {
    await stopNodes(cluster.nodes, 5000)
    // SYNOD_KEEP_TEST_DIRS=1 keeps the data directories and node.log files for a post-mortem.
    if (process.env.SYNOD_KEEP_TEST_DIRS === '1') console.log(`kept ${cluster.root}`)
    else rmSync(cluster.root, { recursive: true, force: true })
  }, 30_000)
  return cluster
}
