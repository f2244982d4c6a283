import { parseArgs } from 'node:util'

export const USAGE = `usage: synod-conformance [options]

Runs protocols × scenarios × seeds on the deterministic simulator and checks
every run (safety, linearizability, durability, liveness).

options:
  --protocol NAMES   comma-separated protocols (default: raft,pbft)
  --scenario NAMES   comma-separated scenarios, or 'all' (default: all);
                     scenarios that do not fit a protocol's fault model are skipped
  --seeds N          run seeds 1..N (default: 10)
  --seed N           run only seed N (what a reproduce command uses)
  --nodes N          cluster size for every run (default: each scenario's)
  --report DIR       write DIR/report.json and DIR/report.html
  --json             print the results as JSON on stdout instead of the table
  --list             list protocols and scenarios, then exit
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
  readonly reportDir: string | undefined
  readonly json: boolean
  readonly list: boolean
  readonly help: boolean
}

export const DEFAULT_SEED_COUNT = 10

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
      : Array.from({ length: values.seeds === undefined ? DEFAULT_SEED_COUNT : integer('--seeds', values.seeds, 1) }, (_, i) => i + 1)
  const scenarios = values.scenario === undefined || values.scenario === 'all' ? 'all' : nameList('--scenario', values.scenario)
  if (scenarios !== 'all' && scenarios.includes('all')) throw new UsageError(`--scenario all cannot be combined with names`)
  if (values.report !== undefined && values.report.trim() === '') throw new UsageError('--report needs a directory')
  return {
    protocols: values.protocol === undefined ? undefined : nameList('--protocol', values.protocol),
    scenarios,
    seeds,
    nodes: values.nodes === undefined ? undefined : integer('--nodes', values.nodes, 1),
    reportDir: values.report,
    json: values.json ?? false,
    list: values.list ?? false,
    help: values.help ?? false,
  }
}
