// The CLI's main function end to end over a fake registry of toy protocols.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fixedLeaderToy, forgetsOnRestartToy, scenarios, staleReadsToy } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'
import { main } from '../src/main.js'
import { ProtocolUnavailableError, type ProtocolExtrasLoader, type ProtocolRegistry } from '../src/registry.js'

const registry: ProtocolRegistry = new Map([
  ['toy-fixed-leader', async () => fixedLeaderToy as ProtocolFactory<unknown>],
  ['toy-stale-reads', async () => staleReadsToy as ProtocolFactory<unknown>],
  ['toy-forgets-on-restart', async () => forgetsOnRestartToy as ProtocolFactory<unknown>],
  // A byzantine protocol that registers no adversary of its own.
  ['toy-byzantine', async () => ({ ...(fixedLeaderToy as ProtocolFactory<unknown>), name: 'toy-byzantine', faultModel: 'byzantine' as const })],
  [
    'unfinished',
    () => Promise.reject(new ProtocolUnavailableError('unfinished', "@synod/unfinished does not export a ProtocolFactory as 'unfinished' yet")),
  ],
])

async function runCli(argv: string[], extras: ReadonlyMap<string, ProtocolExtrasLoader> = new Map()) {
  const stdout: string[] = []
  const stderr: string[] = []
  const status = await main(argv, {
    stdout: { write: (s: string) => stdout.push(s) },
    stderr: { isTTY: false, write: (s: string) => stderr.push(s) },
    registry,
    defaultProtocols: ['toy-fixed-leader'],
    scenarios,
    extras,
    now: () => new Date('2025-01-01T00:00:00Z'),
  })
  return { status, stdout: stdout.join(''), stderr: stderr.join('') }
}

const temporaryDirs: string[] = []
afterAll(async () => {
  for (const dir of temporaryDirs) await rm(dir, { recursive: true, force: true })
})

describe('main', () => {
  it('runs a clean matrix: summary table, exit 0', async () => {
    const { status, stdout, stderr } = await runCli(['--scenario', 'steady-state,crash-all-and-restart', '--seeds', '2'])
    expect(status).toBe(0)
    const lines = stdout.split('\n')
    expect(lines[0]).toMatch(/^scenario\s+protocol\s+runs\s+violations\s+unknown\s+skipped\s+ops ok\s+ops info\s+recover p50$/)
    expect(lines.find((l) => l.startsWith('steady-state'))).toMatch(/^steady-state\s+toy-fixed-leader\s+2\s+0\s+0\s+0\s+\d+\s+\d+\s+\d+ ms$/)
    expect(lines.find((l) => l.startsWith('crash-all-and-restart'))).toMatch(/toy-fixed-leader\s+2\s+0/)
    expect(stdout).toMatch(/4 runs in [\d.]+ s: 0 with violations, 0 undecided/)
    expect(stdout).not.toContain('violations:')
    expect(stderr).toContain('100% 4/4 runs, 0 violations')
  })

  it('reports violations with their reproduce commands and exits 1', async () => {
    const { status, stdout } = await runCli(['--protocol', 'toy-stale-reads,toy-fixed-leader', '--scenario', 'steady-state', '--seed', '3'])
    expect(status).toBe(1)
    expect(stdout).toMatch(/steady-state\s+toy-stale-reads\s+1\s+1/)
    expect(stdout).toMatch(/steady-state\s+toy-fixed-leader\s+1\s+0/)
    expect(stdout).toContain('✗ toy-stale-reads × steady-state × seed 3: violation')
    expect(stdout).toContain('[linearizability] violation')
    expect(stdout).toContain('reproduce: pnpm synod-conformance --protocol toy-stale-reads --scenario steady-state --seed 3')
    expect(stdout).not.toContain('toy-fixed-leader × steady-state × seed 3')
  })

  it('skips scenarios of another fault model', async () => {
    const { status, stdout, stderr } = await runCli(['--scenario', 'steady-state,byzantine-silent', '--seed', '1'])
    expect(status).toBe(0)
    expect(stdout).not.toContain('byzantine-silent')
    expect(stderr).toContain("note: scenario 'byzantine-silent' is for byzantine protocols; none was chosen")
    const only = await runCli(['--scenario', 'byzantine-silent', '--seed', '1'])
    expect(only.status).toBe(2)
    expect(only.stderr).toContain('nothing to run')
  })

  it('prints JSON with --json', async () => {
    const { status, stdout } = await runCli(['--scenario', 'steady-state', '--seed', '1', '--json'])
    expect(status).toBe(0)
    const report = JSON.parse(stdout)
    expect(report.runs).toHaveLength(1)
    expect(report.runs[0]).toMatchObject({ protocol: 'toy-fixed-leader', scenario: 'steady-state', seed: 1, verdict: 'ok' })
    expect(report.command).toBe('synod-conformance --scenario steady-state --seed 1 --json')
  })

  it('writes report.json and report.html with --report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synod-conformance-'))
    temporaryDirs.push(dir)
    const out = join(dir, 'nested', 'out')
    const { status, stderr } = await runCli(['--protocol', 'toy-stale-reads', '--scenario', 'steady-state', '--seeds', '2', '--report', out])
    expect(status).toBe(1)
    expect(stderr).toContain(`wrote ${join(out, 'report.json')} and ${join(out, 'report.html')}`)
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'))
    expect(report.generatedAt).toBe('2025-01-01T00:00:00.000Z')
    expect(report.runs).toHaveLength(2)
    expect(report.failures).toHaveLength(2)
    expect(report.failures[0].record.history.length).toBeGreaterThan(10)
    const html = await readFile(join(out, 'report.html'), 'utf8')
    expect(html).toContain('<svg class="timeline"')
    expect(html).toContain('pnpm synod-conformance --protocol toy-stale-reads --scenario steady-state --seed 2')
    expect(html).toContain('<svg class="histogram" data-protocol="toy-stale-reads"')
  })

  it.each([
    [['--protocol', 'nope'], /unknown protocol 'nope'; known: toy-fixed-leader, toy-stale-reads, toy-forgets-on-restart, toy-byzantine, unfinished/],
    [['--scenario', 'steady-state,nope'], /unknown scenario 'nope'; known: steady-state, /],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--seeds', 'x'], /--seeds must be an integer/],
  ])('exits 2 with the usage on %j', async (argv, message) => {
    const { status, stdout, stderr } = await runCli(argv)
    expect(status).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(message)
    expect(stderr).toContain('usage: synod-conformance')
  })

  it('shrinks the first failing run of each protocol × scenario: summary, JSON and HTML show the smaller run', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synod-conformance-shrink-'))
    temporaryDirs.push(dir)
    const { status, stdout } = await runCli(['--protocol', 'toy-forgets-on-restart', '--scenario', 'leader-crash', '--seeds', '2', '--report', dir])
    expect(status).toBe(1)
    const shrunkLine = stdout.split('\n').find((l) => l.includes('reproduce shrunk:'))
    expect(shrunkLine).toBeDefined()
    const shrunkCommand = shrunkLine!.slice(shrunkLine!.indexOf('pnpm synod-conformance ') + 'pnpm synod-conformance '.length)
    expect(shrunkCommand).toMatch(/^--protocol toy-forgets-on-restart --scenario leader-crash --seed 1 .*--max-ops \d+/)
    expect(stdout).toMatch(/shrunk in \d+ re-run\(s\): faults 2 → \d, max ops 300 → \d+/)
    expect(stdout).toContain('✗ [agreement]')
    // Only the first failing seed of the pair is shrunk.
    expect(stdout.match(/reproduce shrunk:/g)).toHaveLength(1)

    const json = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'))
    const [first, second] = json.runs
    expect(first.shrink.reproduce).toBe(`pnpm synod-conformance ${shrunkCommand}`)
    expect(first.shrink.checker).toBe('agreement')
    expect(first.shrink.shrunk.ops).toBeLessThanOrEqual(first.shrink.original.ops)
    expect(first.shrink.trace.at(-1)).toContain('✗ [agreement]')
    expect(second.shrink).toBeUndefined()
    const html = await readFile(join(dir, 'report.html'), 'utf8')
    expect(html).toContain('reproduce shrunk: <code>pnpm synod-conformance --protocol toy-forgets-on-restart')
    expect(html).toContain('<pre class="trace">')

    // The shrunk command replays the smaller run: same checker, no more operations.
    const replay = await runCli([...shrunkCommand.split(' '), '--shrink-runs', '0', '--json'])
    expect(replay.status).toBe(1)
    const [run] = JSON.parse(replay.stdout).runs
    expect(run.reproduce).toBe(first.shrink.reproduce)
    expect(run.checks.find((c: { checker: string }) => c.checker === 'agreement').verdict).toBe('violation')
    expect(run.traceHash).toBeDefined()
  })

  it('refuses a reduction that does not fit the scenario', async () => {
    const { status, stderr } = await runCli(['--protocol', 'toy-fixed-leader', '--scenario', 'leader-crash', '--seed', '1', '--faults', '1'])
    expect(status).toBe(2)
    expect(stderr).toContain("cannot reduce 'leader-crash'")
  })

  it('exits 2 with a clear message when a registered protocol is not ready', async () => {
    const { status, stderr } = await runCli(['--protocol', 'unfinished', '--seed', '1'])
    expect(status).toBe(2)
    expect(stderr).toBe("synod-conformance: protocol 'unfinished' is registered but unavailable: @synod/unfinished does not export a ProtocolFactory as 'unfinished' yet\n")
  })

  it('prints help and the list of protocols and scenarios', async () => {
    expect((await runCli(['--help'])).stdout).toContain('usage: synod-conformance')
    const list = await runCli(['--list'])
    expect(list.status).toBe(0)
    expect(list.stdout).toContain('protocols: toy-fixed-leader, toy-stale-reads, toy-forgets-on-restart, toy-byzantine, unfinished (default: toy-fixed-leader)')
    expect(list.stdout).toMatch(/ {2}leader-crash +\[any\] The leader crashes/)
  })

  it("reports a scenario whose 'protocol' adversary the protocol does not supply as skipped, with the reason, never as a pass", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'synod-skip-'))
    temporaryDirs.push(dir)
    const { status, stdout } = await runCli(['--protocol', 'toy-byzantine', '--scenario', 'byzantine-protocol-adversary,steady-state', '--seeds', '2', '--report', dir])
    expect(status).toBe(0)
    expect(stdout).toMatch(/byzantine-protocol-adversary\s+toy-byzantine\s+0\s+0\s+0\s+2\s+0\s+0\s+—/)
    expect(stdout).toMatch(/steady-state\s+toy-byzantine\s+2\s+0\s+0\s+0\s/)
    expect(stdout).toMatch(/2 runs in [\d.]+ s: 0 with violations, 0 undecided, 2 skipped/)
    expect(stdout).toContain("⊘ toy-byzantine × byzantine-protocol-adversary (2 runs): needs toy-byzantine's own adversary ('protocol' behaviour); toy-byzantine registers none")
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as { runs: Array<{ scenario: string; verdict: string; skipReason?: string }> }
    const skipped = report.runs.filter((r) => r.scenario === 'byzantine-protocol-adversary')
    expect(skipped.map((r) => r.verdict)).toEqual(['skipped', 'skipped'])
    expect(skipped[0]!.skipReason).toMatch(/registers none/)
    const html = await readFile(join(dir, 'report.html'), 'utf8')
    expect(html).toContain('<h2>Skipped (not run, not passed)</h2>')
    expect(html).toContain('2 skipped')
  })

  it("runs it with the adversary and the protocol's own scenarios when the protocol registers them", async () => {
    const attacked: string[] = []
    const extras = new Map<string, ProtocolExtrasLoader>([
      [
        'toy-byzantine',
        async () => ({
          adversary: ({ factory, node, attack }) => {
            attacked.push(`${node}:${attack ?? 'default'}`)
            return factory
          },
          scenarios: [{ ...scenarios.find((s) => s.name === 'byzantine-protocol-adversary')!, name: 'toy-own-attack', adversaries: [{ index: 1, behaviour: 'protocol', attack: 'own' }] }],
        }),
      ],
    ])
    const { status, stdout } = await runCli(['--protocol', 'toy-byzantine,toy-fixed-leader', '--scenario', 'byzantine-protocol-adversary,toy-own-attack', '--seed', '1'], extras)
    expect(status).toBe(0)
    expect(stdout).not.toContain('skipped (not run')
    expect(stdout).toMatch(/byzantine-protocol-adversary\s+toy-byzantine\s+1\s+0\s+0\s+0\s/)
    expect(stdout).toMatch(/toy-own-attack\s+toy-byzantine\s+1\s+0/)
    expect(stdout).not.toMatch(/toy-own-attack\s+toy-fixed-leader/)
    expect(attacked).toEqual(['n1:default', 'n2:own'])
  })
})
