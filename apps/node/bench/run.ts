// End-to-end figures of the daemon: write throughput and latency of real
// `synod start` processes (libp2p, durable storage, HTTP), for Raft (3 nodes)
// and PBFT (4 nodes). Baseline, measured in the same run: the same clients
// doing HTTP round trips to /healthz on the same nodes (no consensus, no disk).
import { against, median, report, type BenchResult } from '@synod/bench-kit'
import { withLocalCluster } from '../src/bench-command.js'
import { NodeSynodClient } from '@synod/client/node'
import { runLoad } from '../src/load.js'

const CLIENTS = 32
const OPS = Number(process.env['NODE_BENCH_OPS'] ?? 2000)
const RUNS = Number(process.env['NODE_BENCH_RUNS'] ?? 3)

async function healthRoundTrips(endpoints: string[], total: number): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, w) => {
      const client = new NodeSynodClient(endpoints[w % endpoints.length]!)
      while (next < total) {
        next++
        await client.ready()
      }
    }),
  )
  return total / ((performance.now() - started) / 1000)
}

const results: BenchResult[] = []
for (const [protocol, nodes] of [
  ['raft', 3],
  ['pbft', 4],
] as const) {
  console.log(`${protocol}: ${nodes} processes, ${CLIENTS} clients, ${OPS} writes × ${RUNS} runs`)
  const measured = await withLocalCluster(protocol, nodes, async (endpoints) => {
    const runs: Array<{ baseline: number; ops: number; p50: number; p99: number }> = []
    for (let r = 0; r < RUNS; r++) {
      const baseline = await healthRoundTrips(endpoints, OPS)
      const load = await runLoad({ endpoints, clients: CLIENTS, operations: OPS, valueBytes: 100 })
      runs.push({ baseline, ops: load.opsPerSecond, p50: load.p50, p99: load.p99 })
      console.log(`  run ${r + 1}: ${load.opsPerSecond.toFixed(0)} writes/s (p50 ${load.p50.toFixed(1)} ms), healthz ${baseline.toFixed(0)}/s`)
    }
    return runs
  })
  const params = { nodes, clients: CLIENTS, ops: OPS, runs: RUNS, valueBytes: 100 }
  const baseline: BenchResult = { name: `${protocol} http-roundtrip baseline`, value: median(measured.map((m) => m.baseline)), unit: 'req/s', params }
  results.push(baseline)
  results.push(against({ name: `${protocol} committed writes`, value: median(measured.map((m) => m.ops)), unit: 'ops/s', params }, baseline))
  results.push({ name: `${protocol} p50 write latency`, value: median(measured.map((m) => m.p50)), unit: 'ms', params })
  results.push({ name: `${protocol} p99 write latency`, value: median(measured.map((m) => m.p99)), unit: 'ms', params })
}
report('@synod/node', results)
