import { describe, expect, it } from 'vitest'
import { DEFAULT_SEED_COUNT, parseRunnerArguments, UsageError } from '../src/args.js'

describe('parseRunnerArguments', () => {
  it('has defaults', () => {
    const args = parseRunnerArguments([])
    expect(args).toEqual({
      protocols: undefined,
      scenarios: 'all',
      seeds: Array.from({ length: DEFAULT_SEED_COUNT }, (_, i) => i + 1),
      nodes: undefined,
      reduction: undefined,
      shrinkRuns: 30,
      crypto: 'ed25519',
      reportDir: undefined,
      json: false,
      list: false,
      help: false,
    })
  })

  it('reads every flag', () => {
    const args = parseRunnerArguments(['--protocol', 'raft,pbft,raft', '--scenario', 'leader-crash,steady-state', '--seeds', '3', '--nodes', '5', '--report', 'out/', '--json'])
    expect(args.protocols).toEqual(['raft', 'pbft'])
    expect(args.scenarios).toEqual(['leader-crash', 'steady-state'])
    expect(args.seeds).toEqual([1, 2, 3])
    expect(args.nodes).toBe(5)
    expect(args.reportDir).toBe('out/')
    expect(args.json).toBe(true)
    expect(parseRunnerArguments(['--seed', '0']).seeds).toEqual([0])
    expect(parseRunnerArguments(['--seed=417']).seeds).toEqual([417])
    expect(parseRunnerArguments(['-h']).help).toBe(true)
    expect(parseRunnerArguments(['--seeds', '26..29']).seeds).toEqual([26, 27, 28, 29])
    expect(parseRunnerArguments([]).crypto).toBe('ed25519')
    expect(parseRunnerArguments(['--crypto', 'simulated']).crypto).toBe('simulated')
  })

  it.each([
    [['--protocl', 'raft'], /Unknown option '--protocl'/],
    [['raft'], /Unexpected argument 'raft'/],
    [['--seeds', 'many'], /--seeds must be an integer, got 'many'/],
    [['--seeds', '0'], /--seeds must be an integer ≥ 1, got '0'/],
    [['--seeds', '-3'], /--seeds/],
    [['--seed', '1.5'], /--seed must be an integer/],
    [['--seed', '1', '--seeds', '4'], /either --seeds N .* or --seed N/],
    [['--nodes', '0'], /--nodes must be an integer ≥ 1/],
    [['--protocol', 'raft,,pbft'], /--protocol takes comma-separated names/],
    [['--scenario', 'all,leader-crash'], /cannot be combined/],
    [['--json=yes'], /--json/],
    [['--report'], /argument missing|--report/],
    [['--seeds', '9..3'], /range is empty/],
    [['--seeds', '0..3'], /--seeds must be an integer ≥ 1/],
    [['--crypto', 'rsa'], /--crypto must be ed25519 or simulated/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseRunnerArguments(argv)).toThrow(UsageError)
    expect(() => parseRunnerArguments(argv)).toThrow(message)
  })

  it('reads a reduced scenario and the shrink budget', () => {
    const args = parseRunnerArguments(['--scenario', 'leader-crash', '--seed', '4', '--faults', '1,0,1', '--max-ops', '40', '--chaos-ms', '900', '--shrink-runs', '0'])
    expect(args.reduction).toEqual({ faults: [0, 1], maxOps: 40, chaosMs: 900 })
    expect(args.shrinkRuns).toBe(0)
    expect(parseRunnerArguments(['--scenario', 'steady-state', '--faults', 'none']).reduction).toEqual({ faults: [] })
    expect(() => parseRunnerArguments(['--faults', '0'])).toThrow(/exactly one --scenario/)
    expect(() => parseRunnerArguments(['--scenario', 'a,b', '--max-ops', '3'])).toThrow(/exactly one --scenario/)
    expect(() => parseRunnerArguments(['--scenario', 'a', '--faults', 'x'])).toThrow(UsageError)
    expect(() => parseRunnerArguments(['--scenario', 'a', '--max-ops', '0'])).toThrow(UsageError)
    expect(() => parseRunnerArguments(['--shrink-runs', '-1'])).toThrow(UsageError)
  })
})
