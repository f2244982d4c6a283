// The report's figures in the shared bench format (@synod/bench-kit's BenchResult, written to
// bench-results/protocols.json like every package bench): one figure per protocol × size, each
// machine-dependent one with its ratio to Raft at the same size, measured in the same run.
import { against, type BenchResult } from '@synod/bench-kit'
import { failed, type BenchReport, type ConfigurationResult } from './results.js'

function figures(c: ConfigurationResult): BenchResult[] {
  const params = { protocol: c.protocol, nodes: c.nodes, faultModel: c.faultModel }
  const out: BenchResult[] = [
    { name: `${c.protocol} n=${c.nodes} messages per decision`, value: c.steady.perDecision.messages, unit: 'messages', params },
    { name: `${c.protocol} n=${c.nodes} messages per command (batched)`, value: c.steady.loaded.perCommand.messages, unit: 'messages', params },
    { name: `${c.protocol} n=${c.nodes} latency p50`, value: c.steady.latency.p50, unit: 'message delays', params },
    { name: `${c.protocol} n=${c.nodes} latency p99`, value: c.steady.latency.p99, unit: 'message delays', params },
  ]
  if (!failed(c.crash)) out.push({ name: `${c.protocol} n=${c.nodes} leader-crash recovery`, value: c.crash.recoveryDelays, unit: 'message delays', params })
  if (!failed(c.wallClock)) {
    out.push({ name: `${c.protocol} n=${c.nodes} throughput`, value: Math.round(c.wallClock.opsPerSecond), unit: 'ops/s', params })
    out.push({ name: `${c.protocol} n=${c.nodes} CPU per write`, value: Math.round(c.wallClock.cpuMicrosPerOp), unit: 'µs', params })
  }
  return out
}

export function benchResults(report: BenchReport): BenchResult[] {
  const all = report.results.flatMap(figures)
  // Same-run ratios to Raft at the same size, for the figures a machine decides.
  return all.map((r) => {
    const protocol = r.params['protocol'] as string
    if (protocol === 'raft' || (r.unit !== 'ops/s' && r.unit !== 'µs')) return r
    const baseline = all.find((b) => b.params['protocol'] === 'raft' && b.params['nodes'] === r.params['nodes'] && b.unit === r.unit)
    return baseline === undefined ? r : against(r, baseline)
  })
}
