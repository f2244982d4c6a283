// `synod bench`: a throwaway local cluster (or given endpoints) under write
// load; prints throughput and latency percentiles, writes result.json and a
// latency histogram (latency.svg).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { clientIdOf } from '@synod/core'
import { createSigner, generateKeyPair } from '@synod/crypto'
import { type ClusterNode, type ClusterSecurity, prepareCluster, startCluster, stopNodes, waitLeader } from './cluster.js'
import type { ClientCredentials } from '@synod/client'
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
  /** Measure the cost of authentication: alternate rounds against a cluster with it off and one with it on. */
  readonly compareAuth?: { readonly rounds: number }
}

/** Start a local cluster, run `load` against its endpoints, stop it. */
export async function withLocalCluster<T>(
  protocol: string,
  n: number,
  load: (endpoints: string[]) => Promise<T>,
  security: ClusterSecurity = {},
  credentials: ClientCredentials = {},
): Promise<T> {
  const root = mkdtempSync(join(tmpdir(), 'synod-bench-'))
  const nodes = await prepareCluster(root, protocol, n, {}, security)
  try {
    await startCluster(nodes, { timeoutMs: 90_000, credentials })
    await waitLeader(nodes, 60_000, credentials)
    return await load(nodes.map((node) => node.http))
  } finally {
    await stopNodes(nodes)
    rmSync(root, { recursive: true, force: true })
  }
}

/** A throwaway local cluster that stays up until `stop()` (several at once, for same-run comparisons). */
async function startBenchCluster(
  protocol: string,
  n: number,
  security: ClusterSecurity,
  credentials: ClientCredentials,
): Promise<{ nodes: readonly ClusterNode[]; stop(): Promise<void> }> {
  const root = mkdtempSync(join(tmpdir(), 'synod-bench-'))
  const nodes = await prepareCluster(root, protocol, n, {}, security)
  const stop = async () => {
    await stopNodes(nodes)
    rmSync(root, { recursive: true, force: true })
  }
  try {
    await startCluster(nodes, { timeoutMs: 90_000, credentials })
    await waitLeader(nodes, 60_000, credentials)
  } catch (error) {
    await stop()
    throw error
  }
  return { nodes, stop }
}

export async function runBench(options: BenchOptions): Promise<number> {
  if (options.compareAuth !== undefined) return await compareAuthentication(options, options.compareAuth.rounds)
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

/**
 * The cost of authentication, measured in one run: three local clusters of
 * the same build, one with authentication off and two with it on, and
 * rotating rounds of the same write load against each, so all modes see
 * the same machine conditions. With authentication on, two client modes:
 * `on` is the default client (an HTTP session per node: one signature, then
 * an HMAC per request; ADR 0011) and `signed` signs every request (what a
 * byzantine cluster needs). Reports ops/s per round, the median per mode and
 * the ratios on/off and signed/off.
 */
async function compareAuthentication(options: BenchOptions, rounds: number): Promise<number> {
  const out = options.out
  const admin = generateKeyPair()
  const credentials: Record<Mode, ClientCredentials | undefined> = {
    off: undefined,
    on: { signer: createSigner(admin.secretKey) },
    signed: { signer: createSigner(admin.secretKey), sessions: false },
  }
  const say = (text: string) => {
    if (!options.json) out.write(text)
  }
  say(`starting three ${options.nodes} × ${options.protocol} clusters on 127.0.0.1 (authentication off / on with sessions / on, signing every request)…\n`)
  const results: Record<Mode, LoadResult[]> = { off: [], on: [], signed: [] }
  let errors = 0
  // CPU per write (client process + every node of the cluster under load): unlike ops/s, barely moved by
  // other work on the machine — the cost itself, where throughput is the cost as the machine lets it show.
  const cpu: Record<Mode, number[]> = { off: [], on: [], signed: [] }
  // The client process's share of it: where the difference between the modes is spent.
  const cpuClient: Record<Mode, number[]> = { off: [], on: [], signed: [] }
  // One cluster per mode (authentication on for `on` and `signed`): each cluster's log then grows by the same
  // writes, so no mode pays for another's entries (snapshots, compaction, a longer log).
  const security = { admins: [clientIdOf(admin.publicKey)] }
  const clusters: Array<Awaited<ReturnType<typeof startBenchCluster>>> = []
  try {
    // One after the other: clusters prepared at once could pick the same free ports.
    for (const mode of MODES) clusters.push(await startBenchCluster(options.protocol, options.nodes, mode === 'off' ? {} : security, credentials.signed ?? {}))
    // One unmeasured round per cluster first: the first thousands of requests run while V8 still compiles the
    // hot paths (measured: round 1 at ≈half the later rounds' ops/s in every mode), which is start-up, not cost.
    say('  warm-up round (not counted)…\n')
    for (const mode of MODES) {
      const creds = credentials[mode]
      const cluster = clusters[MODES.indexOf(mode)]!
      const warm = await runLoad({ endpoints: cluster.nodes.map((n) => n.http), clients: options.clients, operations: options.operations, valueBytes: options.valueBytes, ...(creds === undefined ? {} : { credentials: creds }) })
      errors += warm.errors
    }
    for (let round = 1; round <= rounds; round++) {
      // Rotate which goes first, so no mode always runs on a warmer (or busier) machine.
      const order = MODES.map((_, i) => MODES[(i + round - 1) % MODES.length]!)
      for (const mode of order) {
        const creds = credentials[mode]
        const cluster = clusters[MODES.indexOf(mode)]!
        const before = cpuMs(cluster.nodes)
        const result = await runLoad({
          endpoints: cluster.nodes.map((n) => n.http),
          clients: options.clients,
          operations: options.operations,
          valueBytes: options.valueBytes,
          ...(creds === undefined ? {} : { credentials: creds }),
        })
        const after = cpuMs(cluster.nodes)
        const writes = Math.max(1, result.operations)
        const clientPerWrite = after === undefined || before === undefined ? Number.NaN : (after.client - before.client) / writes
        const nodesPerWrite = after === undefined || before === undefined ? Number.NaN : (after.nodes - before.nodes) / writes
        const perWrite = clientPerWrite + nodesPerWrite
        cpu[mode].push(perWrite)
        cpuClient[mode].push(clientPerWrite)
        errors += result.errors
        results[mode].push(result)
        const kinds = Object.entries(result.errorKinds).map(([k, n]) => `${n}× ${k}`).join(', ')
        say(
          `  round ${round} auth ${mode.padEnd(6)}: ${Math.round(result.opsPerSecond)} ops/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, CPU ${(perWrite * 1000).toFixed(0)} µs/write (client ${(clientPerWrite * 1000).toFixed(0)}), ${result.errors} errors${kinds === '' ? '' : ` (${kinds})`}\n`,
        )
      }
    }
  } finally {
    await Promise.all(clusters.map((c) => c.stop()))
  }
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    const mid = Math.floor(sorted.length / 2)
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
  }
  const medians = { off: median(results.off.map((r) => r.opsPerSecond)), on: median(results.on.map((r) => r.opsPerSecond)), signed: median(results.signed.map((r) => r.opsPerSecond)) }
  const summary = {
    protocol: options.protocol,
    nodes: options.nodes,
    clients: options.clients,
    operations: options.operations,
    valueBytes: options.valueBytes,
    rounds,
    opsPerSecondOff: results.off.map((r) => Math.round(r.opsPerSecond)),
    opsPerSecondOn: results.on.map((r) => Math.round(r.opsPerSecond)),
    opsPerSecondSigned: results.signed.map((r) => Math.round(r.opsPerSecond)),
    medianOff: Math.round(medians.off),
    medianOn: Math.round(medians.on),
    medianSigned: Math.round(medians.signed),
    ratio: Number((medians.on / medians.off).toFixed(3)),
    ratioSigned: Number((medians.signed / medians.off).toFixed(3)),
    // Each round's modes ran back to back: their ratio cancels slow drifts of the machine's load.
    ratioPerRound: results.on.map((r, i) => Number((r.opsPerSecond / results.off[i]!.opsPerSecond).toFixed(3))),
    ratioSignedPerRound: results.signed.map((r, i) => Number((r.opsPerSecond / results.off[i]!.opsPerSecond).toFixed(3))),
    // The paired estimate: each round's on/off ran back to back, so its ratio cancels the machine's drift
    // between rounds (which moved every mode's ops/s by up to 2× in one run); the median of those ratios.
    pairedRatio: Number(median(results.on.map((r, i) => r.opsPerSecond / results.off[i]!.opsPerSecond)).toFixed(3)),
    pairedRatioSigned: Number(median(results.signed.map((r, i) => r.opsPerSecond / results.off[i]!.opsPerSecond)).toFixed(3)),
    cpuUsPerWrite: { off: Math.round(median(cpu.off) * 1000), on: Math.round(median(cpu.on) * 1000), signed: Math.round(median(cpu.signed) * 1000) },
    clientCpuUsPerWrite: { off: Math.round(median(cpuClient.off) * 1000), on: Math.round(median(cpuClient.on) * 1000), signed: Math.round(median(cpuClient.signed) * 1000) },
    errors,
  }
  if (options.outDir !== undefined) {
    const dir = resolve(options.outDir)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'auth-comparison.json'), `${JSON.stringify(summary, null, 2)}\n`)
  }
  if (options.json) out.write(`${JSON.stringify(summary)}\n`)
  else
    out.write(
      `authentication on (sessions) ÷ off, median of the per-round ratios: ${summary.pairedRatio} (${((1 - summary.pairedRatio) * 100).toFixed(1)}% cost; per round ${summary.ratioPerRound.join(' / ')}); ` +
        `every request signed ÷ off: ${summary.pairedRatioSigned}; ` +
        `medians: off ${summary.medianOff} ops/s, on ${summary.medianOn} ops/s (${summary.ratio}), signed ${summary.medianSigned} ops/s (${summary.ratioSigned}); ` +
        `CPU per write (client + nodes, median) off ${summary.cpuUsPerWrite.off} µs, on ${summary.cpuUsPerWrite.on} µs, signed ${summary.cpuUsPerWrite.signed} µs ` +
        `(of which the client: ${summary.clientCpuUsPerWrite.off} / ${summary.clientCpuUsPerWrite.on} / ${summary.clientCpuUsPerWrite.signed} µs); ${errors} errors\n`,
    )
  return errors > 0 ? 1 : 0
}

/**
 * CPU milliseconds used so far by this process and the nodes' processes (Linux /proc; undefined elsewhere).
 * The load generator runs in this process, so its own CPU counts as the client's.
 */
function cpuMs(nodes: readonly ClusterNode[]): { client: number; nodes: number } | undefined {
  const own = process.cpuUsage()
  const client = (own.user + own.system) / 1000
  let total = 0
  for (const node of nodes) {
    const pid = node.process?.pid
    if (pid === undefined) return undefined
    try {
      // Fields 14 and 15 (utime, stime) in clock ticks; the command name (field 2) may hold spaces, so count after ')'.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!.trim().split(' ')
      total += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
    } catch {
      return undefined
    }
  }
  return { client, nodes: total }
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100

/** off: authentication off; on: sessions (the default client); signed: a signature per request. */
type Mode = 'off' | 'on' | 'signed'
const MODES: readonly Mode[] = ['off', 'on', 'signed']
