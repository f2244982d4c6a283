import { parseArgs } from 'node:util'
import { DEFAULT_SHRINK_RUNS, type ConformanceCrypto, type ScenarioReduction } from '@synod/conformance'

export const USAGE = `usage: synod-conformance [options]

Runs protocols × scenarios × seeds on the deterministic simulator and checks
every run (safety, linearizability, durability, liveness).

options:
  --protocol NAMES   comma-separated protocols (default: raft,raft-lease,pbft,hotstuff,paxos,paxos-lease;
                     raft-lease and paxos-lease are raft and paxos with lease reads)
  --scenario NAMES   comma-separated scenarios, or 'all' (default: all);
                     scenarios that do not fit a protocol's fault model are skipped
  --seeds N          run seeds 1..N (default: 10); A..B runs seeds A to B (to
                     split a long sweep over processes)
  --seed N           run only seed N (what a reproduce command uses)
  --nodes N          cluster size for every run (default: each scenario's)
  --shrink-runs N    re-runs to shrink the first failing run of each protocol ×
                     scenario (default: 30; 0 = no shrinking)
  --faults LIST      run a reduced scenario (what a shrunk reproduce command says):
                     keep only these fault steps (positions in its chaos list,
                     e.g. 0,2, or 'none'); needs exactly one --scenario
  --max-ops N        reduced scenario: cap the workload at N operations
  --chaos-ms N       reduced scenario: end the chaos phase after N ms
  --crypto SCHEME    signatures of byzantine runs: ed25519 (default) or
                     simulated (a keyed hash with the same contract, ≈30× cheaper:
                     for long seed sweeps; unforgeable inside the simulation)
  --report DIR       write DIR/report.json and DIR/report.html
  --json             print the results as JSON on stdout instead of the table
  --list             list protocols and scenarios, then exit
  --cluster          run against live daemons instead (see --cluster --help)
  -h, --help         this text

exit status: 0 no violation, 1 at least one violation, 2 usage error
`

/** A bad command line: printed with the usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export interface RunnerArguments {
  /** Protocol names as given, in order, without duplicates; undefined = the default set. */
  readonly protocols: readonly string[] | undefined
  /** Scenario names, or 'all'. */
  readonly scenarios: readonly string[] | 'all'
  readonly seeds: readonly number[]
  readonly nodes: number | undefined
  /** The scenario reduction from --faults/--max-ops/--chaos-ms; undefined when none is given. */
  readonly reduction: ScenarioReduction | undefined
  /** Re-runs to shrink a failing run with (0 = off). */
  readonly shrinkRuns: number
  readonly crypto: ConformanceCrypto
  readonly reportDir: string | undefined
  readonly json: boolean
  readonly list: boolean
  readonly help: boolean
}

export const DEFAULT_SEED_COUNT = 10

/** --seeds N (1..N) or A..B (A to B inclusive). */
function seedRange(raw: string | undefined): number[] {
  if (raw === undefined) return Array.from({ length: DEFAULT_SEED_COUNT }, (_, i) => i + 1)
  const range = /^(\d+)\.\.(\d+)$/.exec(raw)
  if (range === null) return Array.from({ length: integer('--seeds', raw, 1) }, (_, i) => i + 1)
  const from = integer('--seeds', range[1]!, 1)
  const to = integer('--seeds', range[2]!, 1)
  if (to < from) throw new UsageError(`--seeds ${raw}: the range is empty`)
  return Array.from({ length: to - from + 1 }, (_, i) => from + i)
}

function integer(flag: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw)) throw new UsageError(`${flag} must be an integer, got '${raw}'`)
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got '${raw}'`)
  return value
}

function nameList(flag: string, raw: string): string[] {
  const names = raw.split(',').map((s) => s.trim())
  if (names.some((n) => n === '')) throw new UsageError(`${flag} takes comma-separated names, got '${raw}'`)
  return [...new Set(names)]
}

/** --faults: 'none' or comma-separated step positions. */
function faultList(raw: string): number[] {
  if (raw.trim() === 'none') return []
  const positions = raw.split(',').map((s) => s.trim())
  if (positions.some((p) => !/^\d+$/.test(p))) throw new UsageError(`--faults takes 'none' or comma-separated step positions such as 0,2, got '${raw}'`)
  return [...new Set(positions.map(Number))].sort((a, b) => a - b)
}

/** Parse argv strictly: an unknown flag, a stray argument or a bad value is a UsageError. */
export function parseRunnerArguments(argv: readonly string[]): RunnerArguments {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        protocol: { type: 'string' },
        scenario: { type: 'string' },
        seeds: { type: 'string' },
        seed: { type: 'string' },
        nodes: { type: 'string' },
        faults: { type: 'string' },
        'max-ops': { type: 'string' },
        'chaos-ms': { type: 'string' },
        'shrink-runs': { type: 'string' },
        crypto: { type: 'string' },
        report: { type: 'string' },
        json: { type: 'boolean' },
        list: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values } = parsed
  if (values.seeds !== undefined && values.seed !== undefined) throw new UsageError('give either --seeds N (seeds 1..N) or --seed N (one seed), not both')
  const seeds =
    values.seed !== undefined
      ? [integer('--seed', values.seed, 0)]
      : seedRange(values.seeds)
  const scenarios = values.scenario === undefined || values.scenario === 'all' ? 'all' : nameList('--scenario', values.scenario)
  if (scenarios !== 'all' && scenarios.includes('all')) throw new UsageError(`--scenario all cannot be combined with names`)
  if (values.report !== undefined && values.report.trim() === '') throw new UsageError('--report needs a directory')
  const crypto = values.crypto ?? 'ed25519'
  if (crypto !== 'ed25519' && crypto !== 'simulated') throw new UsageError(`--crypto must be ed25519 or simulated, got '${crypto}'`)
  const reduction: ScenarioReduction = {
    ...(values.faults === undefined ? {} : { faults: faultList(values.faults) }),
    ...(values['max-ops'] === undefined ? {} : { maxOps: integer('--max-ops', values['max-ops'], 1) }),
    ...(values['chaos-ms'] === undefined ? {} : { chaosMs: integer('--chaos-ms', values['chaos-ms'], 1) }),
  }
  const reduced = Object.keys(reduction).length > 0
  if (reduced && (scenarios === 'all' || scenarios.length !== 1))
    throw new UsageError('--faults, --max-ops and --chaos-ms reduce one scenario: give exactly one --scenario')
  return {
    protocols: values.protocol === undefined ? undefined : nameList('--protocol', values.protocol),
    scenarios,
    seeds,
    nodes: values.nodes === undefined ? undefined : integer('--nodes', values.nodes, 1),
    reduction: reduced ? reduction : undefined,
    shrinkRuns: values['shrink-runs'] === undefined ? DEFAULT_SHRINK_RUNS : integer('--shrink-runs', values['shrink-runs'], 0),
    crypto,
    reportDir: values.report,
    json: values.json ?? false,
    list: values.list ?? false,
    help: values.help ?? false,
  }
}
