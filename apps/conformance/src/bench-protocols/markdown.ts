import { failed, type BenchReport, type ConfigurationResult } from './results.js'
import { BENCH_PROTOCOLS, NOTES, TEXTBOOK } from './plan.js'

const FAULT_MODEL = { crash: 'crash', byzantine: 'Byzantine' } as const

function fixed(value: number, digits = 1): string {
  if (!Number.isFinite(value)) return '–'
  return value.toFixed(digits).replace(/\.0+$/, '')
}

function thousands(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–'
}

function at(results: readonly ConfigurationResult[], protocol: string, nodes: number): ConfigurationResult | undefined {
  return results.find((r) => r.protocol === protocol && r.nodes === nodes)
}

function pair(results: readonly ConfigurationResult[], protocol: string, figure: (r: ConfigurationResult) => string): string {
  return [4, 7].map((n) => (at(results, protocol, n) === undefined ? '–' : figure(at(results, protocol, n)!))).join(' / ')
}

function wallOps(r: ConfigurationResult): string {
  return failed(r.wallClock) ? 'failed' : thousands(r.wallClock.opsPerSecond)
}

function wallCpu(r: ConfigurationResult): string {
  return failed(r.wallClock) ? '–' : thousands(r.wallClock.cpuMicrosPerOp)
}

function recovery(r: ConfigurationResult): string {
  return failed(r.crash) ? 'failed' : fixed(r.crash.recoveryDelays, 0)
}

/** The seed's comparison table, every figure measured: one row per protocol. */
export function comparisonTable(report: BenchReport): string {
  const measured = report.results.map((r) => r.protocol)
  const protocols = new Set([...BENCH_PROTOCOLS.filter((p) => measured.includes(p)), ...measured])
  const lines = [
    '| Protocol | Fault model | Nodes for f faults | Messages per decision, n = 4 / 7 | Messages per command with batching, n = 4 / 7 | Latency, message delays p50 / p99 (n = 4) | Throughput, writes/s in one process, n = 4 / 7 | CPU µs per write, n = 4 / 7 | Leader crash: recovery in message delays, n = 4 / 7 | Textbook claim | Practical notes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const protocol of protocols) {
    const any = report.results.find((r) => r.protocol === protocol)!
    const four = at(report.results, protocol, 4)
    lines.push(
      `| ${protocol} | ${FAULT_MODEL[any.faultModel]} | ${any.faultModel === 'crash' ? '2f + 1' : '3f + 1'} | ${pair(report.results, protocol, (r) => fixed(r.steady.perDecision.messages))} | ${pair(report.results, protocol, (r) => fixed(r.steady.loaded.perCommand.messages, 2))} | ${four === undefined ? '–' : `${fixed(four.steady.latency.p50)} / ${fixed(four.steady.latency.p99)}`} | ${pair(report.results, protocol, wallOps)} | ${pair(report.results, protocol, wallCpu)} | ${pair(report.results, protocol, recovery)} | ${TEXTBOOK[protocol] ?? ''} | ${NOTES[protocol] ?? ''} |`,
    )
  }
  return lines.join('\n')
}

/** Every configuration with every figure, for the detail section. */
export function detailTable(report: BenchReport): string {
  const lines = [
    '| Protocol | n | f | Msgs / decision | Bytes / decision | Idle msgs/s | Msgs / cmd (load) | Bytes / cmd (load) | Cmds / decision (load) | Latency p50 / p99 (low) | Latency p50 / p99 (load) | Ops per simulated s (load) | In-process ops/s | CPU µs/op (in-process) | Crash recovery | Slow link: latency p50 / p99 | Slow link: msgs / decision |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of report.results) {
    const s = r.steady
    const slow = failed(r.slowLink) ? 'failed' : `${fixed(r.slowLink.latency.p50)} / ${fixed(r.slowLink.latency.p99)}`
    const slowMessages = failed(r.slowLink) ? '–' : fixed(r.slowLink.perDecision.messages)
    lines.push(
      `| ${r.protocol} | ${r.nodes} | ${r.f} | ${fixed(s.perDecision.messages)} | ${thousands(s.perDecision.bytes)} | ${fixed(s.idlePerSecond.messages, 0)} | ${fixed(s.loaded.perCommand.messages, 2)} | ${thousands(s.loaded.perCommand.bytes)} | ${fixed(s.loaded.commandsPerDecision)} | ${fixed(s.latency.p50)} / ${fixed(s.latency.p99)} | ${fixed(s.loaded.latency.p50)} / ${fixed(s.loaded.latency.p99)} | ${thousands(s.loaded.virtualOpsPerSecond)} | ${wallOps(r)} | ${wallCpu(r)} | ${recovery(r)} | ${slow} | ${slowMessages} |`,
    )
  }
  return lines.join('\n')
}

/** The whole Markdown report: how it was measured, the comparison, the details. */
export function markdownReport(report: BenchReport): string {
  const { network, workload } = report
  const errors = report.results.flatMap((r) => [
    ...(failed(r.crash) ? [`- ${r.protocol} n = ${r.nodes}, leader crash: ${r.crash.error}`] : []),
    ...(failed(r.slowLink) ? [`- ${r.protocol} n = ${r.nodes}, slow link: ${r.slowLink.error}`] : []),
    ...(failed(r.wallClock) ? [`- ${r.protocol} n = ${r.nodes}, wall-clock throughput: ${r.wallClock.error}`] : []),
  ])
  return `# Protocols side by side, measured

Regenerate with \`${report.command}\` (${report.generatedAt}, seed ${report.seed}).

Every protocol runs on the same deterministic simulated network: every link delays every message by exactly ${network.linkMs} ms
one way (one *message delay*), no loss, storage syncs take no time, and clients sit on the node they call (no client hop is
counted). Messages and bytes are counted as the nodes hand them to the network. *Per decision*: one write in flight at a time
(${workload.lowLoadOps} writes), so each decision orders one command; the traffic an idle cluster sends anyway (heartbeats) in as
long a time is subtracted. *With batching*: ${workload.loadClients} closed-loop clients share ${workload.loadOps} writes; everything sent,
divided by the writes; a decision there is what the first leader commits at one virtual instant (a batch). Latency is per write, from the client's call to its answer, ÷ the link delay. *Ops per simulated s* is
writes per second of virtual time under that load: virtual time charges no CPU, so it is clients ÷ latency, a latency figure,
not capacity. *Throughput* is measured apart, as the package benches do: the same writes (${workload.wallClients} closed-loop clients,
batching on) on real Replicas with real clocks over a zero-latency in-process network, every node in one process, for
${workload.wallMeasureMs} ms after ${workload.wallWarmupMs} ms of warm-up; with CPU µs per write, it is the only figure that depends on the
machine (and on what else runs on it). Leader crash: the leader crashes in
steady state and every live node is offered a new write every message delay; the figure is the time until one is acknowledged.
Slow link: the link between the leader and one other node is ${report.slowLinkFactor}× slower both ways during the low-load writes.

## Comparison

${comparisonTable(report)}

## Every configuration

${detailTable(report)}
${errors.length === 0 ? '' : `\nRuns that failed:\n\n${errors.join('\n')}\n`}`
}
