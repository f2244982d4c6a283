// Ctrl-C on the demo (issue 18): the terminal sends SIGINT to the whole foreground process group — the
// launcher (scripts/demo.mjs) and the CLI alike — and wrappers forward it once more. The demo must stop
// its nodes, remove its data directory and exit 0. Before the fix the CLI exited while its nodes were
// still stopping (the data stayed behind), and a second SIGINT killed it outright.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..')
const home = mkdtempSync(join(tmpdir(), 'synod-demo-int-'))
afterAll(() => rmSync(home, { recursive: true, force: true }))

it('Ctrl-C (SIGINT to the process group, twice) stops the nodes, removes the data and exits 0', async () => {
  const child = spawn(process.execPath, [join(root, 'scripts/demo.mjs'), '--duration', '600'], {
    cwd: root,
    detached: true, // its own process group, as a terminal's foreground job
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYNOD_DEMO_NO_BUILD: '1', SYNOD_DEMO_SOURCE: '1', SYNOD_CLIENT_KEY: join(home, 'client.key') },
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += String(chunk)))
  child.stderr.on('data', (chunk) => (output += String(chunk)))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  try {
    // Wait (bounded) until the demo runs its status loop: nodes up, a leader, load started.
    for (let i = 0; i < 1200 && !output.includes('status every'); i++) await new Promise((r) => setTimeout(r, 100))
    expect(output, output).toContain('status every')
    const dataDir = /data in (\S+)\)/.exec(output)?.[1]
    expect(dataDir, output).toBeDefined()
    expect(existsSync(dataDir!)).toBe(true)
    process.kill(-child.pid!, 'SIGINT')
    // The repeat arrives while the demo is stopping, as a wrapper's forwarded copy does (two signals sent
    // back to back would merge into one pending signal and test nothing).
    for (let i = 0; i < 600 && !output.includes('stopping nodes'); i++) await new Promise((r) => setTimeout(r, 50))
    process.kill(-child.pid!, 'SIGINT')
    const code = await exited
    expect(output).toContain('stopped')
    expect(code, output).toBe(0)
    expect(existsSync(dataDir!), `${dataDir} was left behind`).toBe(false)
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL')
  }
}, 240_000)
