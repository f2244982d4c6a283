// `synod bench`: a throwaway local cluster (or given endpoints) under write
// load; prints throughput and latency percentiles, writes result.json and a
// latency histogram (latency.svg).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { prepareCluster, startNodeProcess, stopNodes, waitLeader, waitReady } from './cluster.js'
import { latencyHistogramSvg, runLoad, type LoadResult } from './load.js'

export interface BenchOptions {
  readonly protocol: string
  readonly nodes: number
  readonly clients: number
  readonly operations: number
  readonly valueBytes: number
  readonly endpoints?: readonly string[]
  readonly outDir?: string
  readonly json: boolean
  readonly out: NodeJS.WritableStream
}

/** Start a local cluster, run `load` against its endpoints, stop it. */
export async function withLocalCluster<T>(protocol: string, n: number, load: (endpoints: string[]) => Promise<T>): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'synod-bench-'))
  const nodes = await prepareCluster(root, protocol, n)
  try {
    for (const node of nodes) startNodeProcess(node)
    await waitReady(nodes, 30_000)
    await waitLeader(nodes, 30_000)
    return await load(nodes.map((node) => node.http))
  } finally {
    await stopNodes(nodes)
    rmSync(root, { recursive: true, force: true })
  }
}

export async function runBench(options: BenchOptions): Promise<number> {
  const out = options.out
  const progress = (done: number, total: number) => {
    if (!options.json) out.write(`  ${Math.round((100 * done) / total)}% (${done}/${total})\n`)
  }
  const load = (endpoints: readonly string[]): Promise<LoadResult> => {
    if (!options.json) out.write(`writing ${options.operations} × ${options.valueBytes} B from ${options.clients} clients to ${endpoints.length} node(s)\n`)
    return runLoad({ endpoints, clients: options.clients, operations: options.operations, valueBytes: options.valueBytes, onProgress: progress })
  }
  if (!options.json && options.endpoints === undefined) out.write(`starting ${options.nodes} × ${options.protocol} on 127.0.0.1…\n`)
  const result = options.endpoints === undefined ? await withLocalCluster(options.protocol, options.nodes, load) : await load(options.endpoints)
  const summary = {
    protocol: options.protocol,
    nodes: options.endpoints?.length ?? options.nodes,
    clients: options.clients,
    valueBytes: options.valueBytes,
    operations: result.operations,
    errors: result.errors,
    seconds: Number(result.seconds.toFixed(3)),
    opsPerSecond: Math.round(result.opsPerSecond),
    p50Ms: Number(result.p50.toFixed(2)),
    p90Ms: Number(result.p90.toFixed(2)),
    p99Ms: Number(result.p99.toFixed(2)),
  }
  if (options.outDir !== undefined) {
    const dir = resolve(options.outDir)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'result.json'), `${JSON.stringify(summary, null, 2)}\n`)
    writeFileSync(join(dir, 'latency.svg'), latencyHistogramSvg(`${options.protocol}, ${summary.nodes} nodes, ${options.clients} clients`, result))
    if (!options.json) out.write(`wrote ${join(dir, 'result.json')} and ${join(dir, 'latency.svg')}\n`)
  }
  if (options.json) out.write(`${JSON.stringify(summary)}\n`)
  else
    out.write(
      `${summary.operations} writes in ${summary.seconds} s: ${summary.opsPerSecond} ops/s; latency p50 ${summary.p50Ms} ms, p90 ${summary.p90Ms} ms, p99 ${summary.p99Ms} ms; ${summary.errors} errors\n`,
    )
  return result.errors > 0 ? 1 : 0
}
