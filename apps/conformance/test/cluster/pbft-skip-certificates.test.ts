// issue 20 §4: PBFT's planted bug. With SYNOD_DEBUG_UNSAFE_SKIP_REPLY_CERTIFICATES=1 every node answers
// puts and cas from its own tentative execution against its local state (acknowledged before they are
// ordered, no reply certificate of f+1 matching replies) and reads from its local state: a short live run
// with no nemesis at all is caught by the linearizability checker, and the same run without the switch is
// clean. Real processes: bounded waits on conditions, generous vitest timeouts for a busy machine.
import { afterAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { UNSAFE_SKIP_REPLY_CERTIFICATES } from '@synod/node/debug-switches'
import { parseClusterArguments } from '../../src/cluster/args.js'
import { runClusterTest } from '../../src/cluster/run.js'

const reports = mkdtempSync(join(tmpdir(), 'synod-pbft-skip-'))
afterAll(() => rmSync(reports, { recursive: true, force: true }))

async function run(report: string, env: string[]) {
  const args = parseClusterArguments([
    '--cluster', '--protocol', 'pbft', '--duration', '4s', '--nemesis', 'none', '--clients', '8', '--keys', '3',
    '--seed', '5', '--timeout-ms', '3000', '--recovery-ms', '20000', '--report', join(reports, report), ...env.flatMap((e) => ['--env', e]),
  ])
  const out = { text: '', write: (chunk: string) => void (out.text += chunk) }
  const started = performance.now()
  const outcome = await runClusterTest(args, out)
  return { ...outcome, out: out.text, ms: performance.now() - started }
}

describe.sequential('pbft planted bug: answers without reply certificates', () => {
  it('a 4 s run with the switch is caught by linearizability', async () => {
    const { status, result, out } = await run('skip', [`${UNSAFE_SKIP_REPLY_CERTIFICATES}=1`])
    expect(status, out).toBe(1)
    const linearizability = result!.checks.find((c) => c.checker === 'linearizability')!
    expect(linearizability.verdict, out).toBe('violation')
    expect(linearizability.violations[0]!.message).toMatch(/cannot be linearized|no operation wrote/)
  }, 120_000)

  it('the same run without the switch is clean', async () => {
    const { status, result, out } = await run('clean', [])
    expect(status, out).toBe(0)
    expect(result!.checks.every((c) => c.verdict === 'ok'), out).toBe(true)
    expect(result!.counts['write ok'] ?? 0, out).toBeGreaterThan(5)
  }, 120_000)
})
