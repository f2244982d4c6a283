// issue 20 §5: Ctrl-C during a live run (with the node paused by SIGSTOP) stops
// every node process and proxy and exits 130 — nothing is left running.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { processAlive } from '../../src/cluster/pids.js'

describe('synod-conformance --cluster, interrupted', () => {
  it('Ctrl-C mid-fault: heals, stops every node (the paused one too) and exits 130', async () => {
    const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
    const tsx = createRequire(import.meta.url).resolve('tsx')
    const child = spawn(
      process.execPath,
      ['--conditions=@synod/source', '--import', tsx, cli, '--cluster', '--protocol', 'raft', '--nodes', '1', '--duration', '60s', '--nemesis', 'pause', '--seed', '20', '--clients', '2', '--network', 'proxies'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const seen = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        // Bounded: the child's exit or the test timeout ends the wait.
        const check = () => (pattern.test(out) ? resolve() : undefined)
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          check()
        })
        child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
        void exited.then(() => reject(new Error(`the runner exited before ${pattern}:\n${out}`)))
        check()
      })
    try {
      await seen(/fault: SIGSTOP node\d/)
      const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]))
      expect(pids).toHaveLength(1) // one node keeps the test cheap; it is the one SIGSTOPped
      expect(pids.every(processAlive)).toBe(true)
      child.kill('SIGINT')
      expect(await exited, out).toBe(130)
      expect(out).toContain('stopped every node and proxy')
      expect(pids.filter(processAlive)).toEqual([])
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }, 180_000)
})
