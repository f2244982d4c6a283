// A throwaway cluster of real `synod start` processes on 127.0.0.1 for one
// test file: created, started and elected before its tests, stopped and
// deleted after them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { type ClusterNode, prepareCluster, startNodeProcess, stopNodes, waitLeader, waitReady } from '../src/cluster.js'

export interface LocalCluster {
  readonly root: string
  /** Filled before the tests run; tests may push nodes they start themselves (stopped at the end too). */
  readonly nodes: ClusterNode[]
}

export function useLocalCluster(protocol: string, n: number, prefix: string): LocalCluster {
  const cluster: LocalCluster = { root: mkdtempSync(join(tmpdir(), prefix)), nodes: [] }
  beforeAll(async () => {
    cluster.nodes.push(...(await prepareCluster(cluster.root, protocol, n)))
    for (const node of cluster.nodes) startNodeProcess(node)
    await waitReady(cluster.nodes, 90_000)
    await waitLeader(cluster.nodes, 60_000)
  }, 180_000)
  afterAll(async () => {
    await stopNodes(cluster.nodes, 5000)
    rmSync(cluster.root, { recursive: true, force: true })
  }, 30_000)
  return cluster
}
