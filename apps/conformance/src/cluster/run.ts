// `synod-conformance --cluster`: start a live cluster, run the workload and
// the nemesis, heal, check, report — and leave nothing running behind.
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CheckResult } from '@synod/conformance'
import { readFileSync } from 'node:fs'
import type { ClusterArguments } from './args.js'
import { AnswerVerifier, membersOf } from './certificates.js'
import { checkConvergence, checkLiveDurability, finalReads, linearizability, livenessResult, probeLiveness, runRecord } from './final-checks.js'
import { ClusterHistory, toOperations } from './history.js'
import { describeFault, NemesisRunner, nemesisParts, planFaults } from './nemesis.js'
import type { NetworkKind } from './network.js'
import { probeNamespaces } from './netns.js'
import { LiveCluster } from './processes.js'
import { type ClusterRunResult, completions, renderClusterReport } from './report.js'
import { acknowledgedWrites, isByzantine, longestStall, progressResult, quorumSize } from './progress.js'
import { StatusSampler } from './sampler.js'
import { checkServerErrors } from './server-errors.js'
import { checkViews } from './views.js'
import { sleep, Workload } from './workload.js'

export interface ClusterRunOutput {
  write(chunk: string): unknown
}

export interface ClusterRunOutcome {
  /** 0 clean, 1 a violation or an undecided checker, 3 the cluster did not start, 130 interrupted. */
  readonly status: number
  readonly result?: ClusterRunResult
  /** Every node process the run started (all stopped when it returns). */
  readonly processIds: readonly number[]
}

export async function runClusterTest(
  args: ClusterArguments,
  out: ClusterRunOutput,
  command = 'synod-conformance --cluster',
  /** Aborting acts as a Ctrl-C: heal, stop every node and proxy, return 130. */
  signal?: AbortSignal,
): Promise<ClusterRunOutcome> {
  const say = (line: string) => void out.write(`${line}\n`)
  const network = await chooseNetwork(args.network)
  if (network.kind === undefined) {
    say(`--network netns: network namespaces cannot be used here: ${network.reason}`)
    return { status: 3, processIds: [] }
  }
  const networkKind = network.kind
  const root = mkdtempSync(join(tmpdir(), `synod-jepsen-${args.protocol}-`))
  const windows = planFaults(args.seed, args.nemeses, args.nodes, args.durationMs, args.clockRates)
  say(`synod-conformance --cluster: ${args.nodes} × ${args.protocol} ${networkKind === 'netns' ? 'in network namespaces' : 'on 127.0.0.1'}, seed ${args.seed}, nemesis ${args.nemeses.join(',') || 'none'}, ${args.durationMs / 1000}s (data in ${root})`)
  say(`  network: ${networkKind === 'netns' ? 'namespaces' : 'link proxies'} (${network.reason})`)
  if (args.nemeses.some((n) => n.includes('clock-skew'))) say(`  clock-skew rates: ${args.clockRates.map((r) => `×${r}`).join(', ')}`)
  for (const [name, value] of Object.entries(args.env)) say(`  node environment: ${name}=${value}`)
  let interrupted = false
  let cluster: LiveCluster | undefined
  // Ctrl-C: stop at the next step and clean up; a second one kills every process at once.
  const onSignal = () => {
    if (interrupted) {
      cluster?.killAllNow()
      // The data folder too (the 'exit' hooks remove the namespaces); a node still dying may hold a file: best effort.
      if (!args.keep) {
        try {
          rmSync(root, { recursive: true, force: true, maxRetries: 3 })
        } catch {
          say(`data left in ${root}`)
        }
      }
      process.exit(130)
    }
    interrupted = true
    say('\ninterrupted: healing and stopping every node and proxy (Ctrl-C again to kill at once)…')
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const onAbort = () => {
    if (!interrupted) onSignal()
  }
  signal?.addEventListener('abort', onAbort)
  try {
    say(`starting ${args.nodes} nodes (${LiveCluster.command()})…`)
    try {
      const { daemonProtocol, protocolOptions } = daemonProtocolOf(args.protocol)
      cluster = await LiveCluster.start({
        root,
        protocol: daemonProtocol,
        protocolOptions,
        network: networkKind,
        nodes: args.nodes,
        env: { ...args.env },
        startupMs: args.startupMs,
        // The test-only clock and disk hooks exist in the nodes only when this run injects those faults.
        faultHooks: args.nemeses.some((spec) => nemesisParts(spec).some((n) => n === 'clock-skew' || n === 'disk-stall')),
      })
    } catch (error) {
      say(`the cluster did not start: ${(error as Error).message}`)
      return { status: 3, processIds: [] }
    }
    const live = cluster
    say(`  ${live.network.description}`)
    say(`ready: ${live.nodes.map((n) => `${n.name} http://${n.http} pid ${n.process?.pid ?? '?'}`).join(', ')}`)
    const names = live.nodes.map((n) => n.name)
    const history = new ClusterHistory()
    // The members' keys from the configuration this run wrote (never from a node's answer).
    const verifier = args.verify ? new AnswerVerifier(membersOf(readFileSync(live.nodes[0]!.configFile, 'utf8'))) : undefined
    say(verifier === undefined ? 'clients believe every answer (no certificate check)' : 'clients verify every answer\'s reply certificate (f + 1 members)')
    // Warm-up: the fault phase starts with a cluster that acknowledges writes through every node (a PBFT
    // cluster on a loaded machine answered its first write seconds after /readyz). Outside the history.
    // Not verified: the warm-up asks only whether the processes answer; what they answer is checked from here on.
    const warm = await probeLiveness(live.nodes.map((n) => ({ name: n.name, http: n.http })), history, history.now(), args.startupMs, args.requestTimeoutMs, () => interrupted)
    const cold = [...warm].filter(([, ms]) => ms === undefined).map(([name]) => name)
    if (interrupted) return { status: 130, processIds: live.spawned }
    if (cold.length > 0) {
      say(`the cluster did not start: ${cold.join(', ')} acknowledged no write within ${args.startupMs} ms`)
      return { status: 3, processIds: live.spawned }
    }
    say(`warm: every node acknowledged a write (${[...warm].map(([n, ms]) => `${n} ${Math.round(ms ?? 0)} ms`).join(', ')})`)
    const sampler = new StatusSampler(live, history)
    const workload = new Workload(history, {
      clients: args.clients,
      keys: args.keys,
      seed: args.seed,
      requestTimeoutMs: args.requestTimeoutMs,
      endpoints: () => live.nodes.map((n) => n.http),
      nodeNames: names,
      ...(verifier === undefined ? {} : { verifier }),
    })
    const { daemonProtocol } = daemonProtocolOf(args.protocol)
    const quorum = quorumSize(daemonProtocol, args.nodes)
    const nemesis = new NemesisRunner(live, history, say, quorum)
    const startedAt = history.now()
    workload.start()
    const over = () => interrupted || history.now() - startedAt >= args.durationMs
    const ticker = progressTicker(history, startedAt, args.durationMs, say, over)
    await nemesis.run(windows, startedAt, over)
    // Bounded by the duration (or an interrupt).
    while (!over()) await sleep(100)
    await ticker

    const healed = await nemesis.heal()
    const healedAt = history.now()
    nemesis.finish(healedAt)
    say(`t=${(healedAt / 1000).toFixed(1)}s  final heal${healed === '' ? '' : `: ${healed}`}; waiting for the clients' last requests`)
    await workload.stop()

    const checks: CheckResult[] = []
    let livenessMs: Record<string, number | null> = {}
    if (!interrupted) {
      say(`recovery: every node must acknowledge a write within ${args.recoveryMs} ms…`)
      const nodes = live.nodes.map((n) => ({ name: n.name, http: n.http }))
      const times = await probeLiveness(nodes, history, healedAt, args.recoveryMs, args.requestTimeoutMs, () => false, verifier)
      livenessMs = Object.fromEntries([...times].map(([n, ms]) => [n, ms ?? null]))
      say(`  ${[...times].map(([n, ms]) => `${n} ${ms === undefined ? 'none' : `${Math.round(ms)} ms`}`).join(', ')}`)
      say('final reads through every node…')
      await finalReads(nodes, history, args.keys, 1_000_000, args.requestTimeoutMs, args.recoveryMs, verifier)
      const base = runRecord(names, toOperations(history.events), nemesis.timeline, healedAt, history.now())
      checks.push(linearizability(history, base))
      checks.push(await checkLiveDurability(nodes, base.history, base, args.requestTimeoutMs, args.recoveryMs, () => history.now()))
      checks.push(await checkConvergence(nodes, args.requestTimeoutMs, Math.min(args.recoveryMs, 20_000)))
      if (isByzantine(daemonProtocol)) checks.push(await checkViews(nodes, quorum, args.requestTimeoutMs, Math.min(args.recoveryMs, 20_000)))
      checks.push(livenessResult(times, args.recoveryMs))
      checks.push(checkServerErrors(history.events))
      if (verifier !== undefined) checks.push(verifier.result())
      const noQuorumMs = nemesis.noQuorum.reduce((sum, [s, e]) => sum + e - s, 0)
      const acks = acknowledgedWrites(history.events)
      checks.push(progressResult(longestStall(acks, startedAt, healedAt, nemesis.noQuorum), args.maxStallMs, acks.filter((t) => t >= startedAt && t <= healedAt).length, noQuorumMs))
    }
    await sampler.stop()
    const dropped = await droppedPerLink(live)
    const endedAt = history.now()
    const operations = toOperations(history.events)
    const record = { ...runRecord(names, operations, nemesis.timeline, healedAt, endedAt), leaders: sampler.leaders, commits: sampler.commits, acknowledgedCommands: new Map<number, string>() }
    const verdict = interrupted ? 'unknown' : checks.some((c) => c.verdict === 'violation') ? 'violation' : checks.some((c) => c.verdict === 'unknown') ? 'unknown' : 'ok'
    const counts: Record<string, number> = {}
    for (const c of completions(history.events)) counts[`${c.f} ${c.type}`] = (counts[`${c.f} ${c.type}`] ?? 0) + 1
    const result: ClusterRunResult = {
      protocol: args.protocol,
      nodes: names,
      seed: args.seed,
      nemeses: args.nemeses,
      durationMs: args.durationMs,
      command,
      originEpochMs: history.originEpochMs,
      links: sampler.links,
      network: { kind: networkKind, reason: network.reason, droppedUnit: live.network.droppedUnit, dropped },
      faults: windows.map((w) => `${w.at}–${w.healAt} ms: ${describeFault(w.fault)}`),
      restartWaitsMs: nemesis.restartWaits,
      checks,
      verdict,
      counts,
      livenessMs,
      record,
      events: history.events,
    }
    say('')
    for (const check of checks) {
      say(`${check.checker.padEnd(16)} ${check.verdict}${check.note === undefined ? '' : `  (${check.note})`}`)
      for (const v of check.violations.slice(0, 5)) say(`    ${v.message}`)
    }
    say(`operations: ${Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(', ')}`)
    say(`verdict: ${verdict}`)
    if (args.reportDir !== undefined) {
      await writeReport(args.reportDir, result)
      say(`report: ${join(args.reportDir, 'report.html')} (history: history.json)`)
    }
    return { status: interrupted ? 130 : verdict === 'ok' ? 0 : 1, result, processIds: live.spawned }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    signal?.removeEventListener('abort', onAbort)
    if (cluster !== undefined) {
      await cluster.stop({ removeData: !args.keep })
      const what = networkKind === 'netns' ? 'stopped every node; removed the namespaces' : 'stopped every node and proxy'
      say(args.keep ? `${what}; data and node logs kept in ${root}` : what)
    }
  }
}

/** The network a run uses: `auto` says why it picked one; an impossible `netns` is no kind, with the reason. */
export async function chooseNetwork(wanted: 'auto' | NetworkKind): Promise<{ kind: NetworkKind | undefined; reason: string }> {
  if (wanted === 'proxies') return { kind: 'proxies', reason: '--network proxies' }
  const support = await probeNamespaces()
  if (wanted === 'netns') return support.ok ? { kind: 'netns', reason: `--network netns: ${support.reason}` } : { kind: undefined, reason: support.reason }
  return support.ok ? { kind: 'netns', reason: `auto: ${support.reason}` } : { kind: 'proxies', reason: `auto: ${support.reason}` }
}

/** What each directed link lost over the run ('node1>node2': count), the evidence that its faults acted; links that lost nothing are left out. */
async function droppedPerLink(live: LiveCluster): Promise<Record<string, number>> {
  const dropped: Record<string, number> = {}
  for (let from = 0; from < live.size; from++) {
    for (let to = 0; to < live.size; to++) {
      if (from === to) continue
      const count = await Promise.resolve(live.network.dropped(from, to)).catch(() => 0)
      if (count > 0) dropped[`${live.nodes[from]!.name}>${live.nodes[to]!.name}`] = count
    }
  }
  return dropped
}

/**
 * The daemon protocol and options behind a runner protocol name: the conformance registry's variants run
 * as their base protocol with options in the config (`raft-lease` = Raft with readMode 'lease').
 */
export function daemonProtocolOf(protocol: string): { daemonProtocol: string; protocolOptions: Record<string, unknown> } {
  if (protocol === 'raft-lease') return { daemonProtocol: 'raft', protocolOptions: { readMode: 'lease' } }
  if (protocol === 'paxos-lease') return { daemonProtocol: 'paxos', protocolOptions: { readMode: 'lease' } }
  return { daemonProtocol: protocol, protocolOptions: {} }
}

async function writeReport(dir: string, result: ClusterRunResult): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'history.json'), `[\n${result.events.map((e) => JSON.stringify(e)).join(',\n')}\n]\n`)
  const { record, events, ...summary } = result
  await writeFile(join(dir, 'results.json'), `${JSON.stringify({ ...summary, timeline: record.timeline, healedAt: record.healedAt, endedAt: record.endedAt, operations: events.length }, null, 2)}\n`)
  await writeFile(join(dir, 'report.html'), renderClusterReport(result))
}

/** A progress line every 2 s during the fault phase (bounded by it). */
async function progressTicker(history: ClusterHistory, startedAt: number, durationMs: number, say: (line: string) => void, over: () => boolean): Promise<void> {
  let next = 2000
  while (!over()) {
    await sleep(100)
    const elapsed = history.now() - startedAt
    if (elapsed < next) continue
    next += 2000
    const done = completions(history.events)
    const recent = done.filter((c) => c.at >= history.now() - 2000)
    const ok = recent.filter((c) => c.type === 'ok').length
    say(`t=${(elapsed / 1000).toFixed(0).padStart(3)}s / ${durationMs / 1000}s  ${done.length} ops (${ok}/${recent.length} ok in the last 2 s)`)
  }
}
