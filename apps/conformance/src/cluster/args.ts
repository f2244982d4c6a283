import { parseArgs } from 'node:util'
import { UsageError } from '../args.js'
import { CLOCK_RATES, NEMESES, nemesisParts, type NemesisSpec } from './nemesis.js'
import type { NetworkKind } from './network.js'
import { DEFAULT_MAX_STALL_MS, isByzantine } from './progress.js'

export const CLUSTER_USAGE = `usage: synod-conformance --cluster [options]

Starts real \`synod start\` processes (fresh data folders) on 127.0.0.1 or, as
root, each in its own network namespace (see --network), runs a concurrent
workload through their HTTP API, injects real faults on a schedule from the
seed, heals, waits for recovery and checks the history (linearizability,
durability, convergence, liveness, progress).

options:
  --protocol NAME     raft, raft-lease (Raft with lease reads) or pbft (any protocol the daemon knows; default raft)
  --nodes N           cluster size (default: 3, or 4 for pbft)
  --duration T        fault phase, e.g. 20s, 60s, 1500ms (default 20s)
  --nemesis LIST      comma-separated: ${NEMESES.join(', ')}, or none (default kill,pause,partition);
                      clock-skew and disk-stall act through test-only hooks the runner turns on in its nodes;
                      kinds joined by + hit together on one target (e.g. clock-skew+partition)
  --clock-rates LIST  clock-skew's rates, comma-separated, each in [0.05, 20] (default ${CLOCK_RATES.join(',')}:
                      far beyond the 10 % drift bound that raft-lease and paxos-lease assume; rates within
                      it, for one node skewed at a time: 0.92,0.95,1.05,1.08)
  --clients N         concurrent clients (default 8)
  --keys N            register keys (default 5)
  --seed S            seeds the fault schedule and the workload (default 1)
  --timeout-ms N      per-request timeout (default 2000)
  --recovery-ms N     after the heal: budget for every node to acknowledge a write (default 30000)
  --max-stall-ms N    progress: the longest stretch without an acknowledged write while a quorum
                      of nodes was up and connected (default ${DEFAULT_MAX_STALL_MS})
  --startup-ms N      budget for the nodes to become ready (default 120000)
  --verify on|off     byzantine protocols' clients believe an answer only with a valid reply
                      certificate (default on for pbft and hotstuff; off: believe every answer,
                      to see what a client that does not verify would be told)
  --network MODE      how partitions are made: proxies (a TCP proxy per link on 127.0.0.1, no root),
                      netns (each node in its own network namespace, partitions as nft drop rules; needs
                      root, iproute2 and nftables) or auto (default: netns when it works here, else
                      proxies; the runner says which and why)
  --env K=V           extra environment of every node (repeatable; e.g. a test-only debug switch)
  --report DIR        write DIR/history.json, DIR/results.json and DIR/report.html
  --keep              keep the nodes' data folders (their logs: node.log)
  -h, --help          this text

exit status: 0 no violation, 1 a violation (or a checker could not decide), 2 usage error, 3 the cluster did not
start (also: --network netns where namespaces do not work)
`

export interface ClusterArguments {
  readonly protocol: string
  readonly nodes: number
  readonly durationMs: number
  readonly nemeses: readonly NemesisSpec[]
  /** clock-skew's rates (the seed picks one per fault). */
  readonly clockRates: readonly number[]
  readonly clients: number
  readonly keys: number
  readonly seed: number
  readonly requestTimeoutMs: number
  readonly recoveryMs: number
  readonly maxStallMs: number
  readonly startupMs: number
  readonly env: Readonly<Record<string, string>>
  /** Where the nodes run and how partitions are made; 'auto' picks netns when it works (root, ip netns, nft). */
  readonly network: 'auto' | NetworkKind
  /** Check every answer's reply certificate (byzantine protocols only). */
  readonly verify: boolean
  readonly reportDir: string | undefined
  readonly keep: boolean
  readonly help: boolean
}

export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text)
  if (match === null) throw new UsageError(`${flag} must be a duration such as 20s, 1500ms or 2m`)
  const value = Number(match[1])
  return Math.round(match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000)
}

function positive(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${flag} must be a positive integer`)
  return Number(text)
}

export function parseClusterArguments(argv: readonly string[]): ClusterArguments {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        cluster: { type: 'boolean' },
        protocol: { type: 'string' },
        nodes: { type: 'string' },
        duration: { type: 'string' },
        nemesis: { type: 'string' },
        'clock-rates': { type: 'string' },
        clients: { type: 'string' },
        keys: { type: 'string' },
        seed: { type: 'string' },
        'timeout-ms': { type: 'string' },
        'recovery-ms': { type: 'string' },
        'max-stall-ms': { type: 'string' },
        'startup-ms': { type: 'string' },
        env: { type: 'string', multiple: true },
        network: { type: 'string' },
        verify: { type: 'string' },
        report: { type: 'string' },
        keep: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const v = parsed.values
  const protocol = v.protocol ?? 'raft'
  if (!/^[a-z][a-z0-9-]*$/.test(protocol) || protocol.includes(',')) throw new UsageError('--cluster runs one --protocol at a time')
  const nemesisText = v.nemesis ?? 'kill,pause,partition'
  const nemeses = nemesisText === 'none' ? [] : nemesisText.split(',').map((n) => n.trim())
  for (const n of nemeses) {
    try {
      nemesisParts(n)
    } catch (error) {
      throw new UsageError(`${(error as Error).message}; known: ${NEMESES.join(', ')}, none (join kinds with + to overlap them)`)
    }
  }
  let clockRates = CLOCK_RATES
  if (v['clock-rates'] !== undefined) {
    clockRates = v['clock-rates'].split(',').map((r) => {
      const rate = Number(r.trim())
      if (!/^\d+(\.\d+)?$/.test(r.trim()) || !(rate >= 0.05 && rate <= 20))
        throw new UsageError(`--clock-rates: '${r}' is not a rate in [0.05, 20] (e.g. 0.95 or 2)`)
      return rate
    })
  }
  const env: Record<string, string> = {}
  for (const pair of v.env ?? []) {
    const at = pair.indexOf('=')
    if (at < 1) throw new UsageError(`--env wants KEY=VALUE, got '${pair}'`)
    env[pair.slice(0, at)] = pair.slice(at + 1)
  }
  const nodes = positive(v.nodes, '--nodes', protocol === 'pbft' || protocol === 'hotstuff' ? 4 : 3)
  if (nodes > 9) throw new UsageError('--nodes must be at most 9')
  if (v.verify !== undefined && v.verify !== 'on' && v.verify !== 'off') throw new UsageError('--verify must be on or off')
  const byzantine = isByzantine(protocol)
  if (v.verify === 'on' && !byzantine) throw new UsageError(`--verify on: ${protocol} answers carry no reply certificates (pbft and hotstuff do)`)
  const network = v.network ?? 'auto'
  if (network !== 'auto' && network !== 'proxies' && network !== 'netns') throw new UsageError(`--network must be auto, proxies or netns, got '${network}'`)
  const seedText = v.seed ?? '1'
  if (!/^\d+$/.test(seedText)) throw new UsageError('--seed must be a non-negative integer')
  return {
    protocol,
    nodes,
    durationMs: parseDuration(v.duration ?? '20s', '--duration'),
    nemeses: [...new Set(nemeses)] as NemesisSpec[],
    clockRates,
    clients: positive(v.clients, '--clients', 8),
    keys: positive(v.keys, '--keys', 5),
    seed: Number(seedText),
    requestTimeoutMs: positive(v['timeout-ms'], '--timeout-ms', 2000),
    recoveryMs: positive(v['recovery-ms'], '--recovery-ms', 30_000),
    maxStallMs: positive(v['max-stall-ms'], '--max-stall-ms', DEFAULT_MAX_STALL_MS),
    startupMs: positive(v['startup-ms'], '--startup-ms', 120_000),
    env,
    network,
    verify: byzantine && v.verify !== 'off',
    reportDir: v.report,
    keep: v.keep === true,
    help: v.help === true,
  }
}
