// A 3-node Raft cluster (simulated network, memoryStorage, the KV state machine) bundled for the
// browser and run in headless Chromium: a write commits, is read back linearizably, and every node
// applies it. Chromium is Debian's `chromium` (.ci/run installs it); without it the test fails in CI
// and is skipped, saying so, elsewhere.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { BROWSER_BUILD } from '../src/bundle.js'
import { describe, expect, it } from 'vitest'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))
const run = promisify(execFile)

async function pageWithBundle(): Promise<string> {
  const bundle = await build({
    entryPoints: [join(import.meta.dirname, '../src/raft-in-browser.ts')],
    ...BROWSER_BUILD,
  })
  // Inline the module (a file:// page cannot import another file:// module); drop its `export {...}` line.
  const code = bundle.outputFiles[0]!.text.replace(/^export \{[^}]*\};?\s*$/m, '')
  return readFileSync(join(import.meta.dirname, '../src/page.html'), 'utf8').replace('/*BUNDLE*/', () => code)
}

describe.skipIf(CHROMIUM === undefined && process.env['CI'] !== 'true')('Raft in a browser tab', () => {
  it('commits a write, reads it back and applies it on all 3 nodes in headless Chromium', async () => {
    expect(CHROMIUM, 'Debian chromium is required in CI (.ci/run installs it)').toBeDefined()
    const dir = mkdtempSync(join(tmpdir(), 'synod-browser-'))
    try {
      const page = join(dir, 'page.html')
      writeFileSync(page, await pageWithBundle())
      // --virtual-time-budget lets the page's promises and timers run to completion before the DOM is dumped.
      const { stdout } = await run(
        CHROMIUM!,
        ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${join(dir, 'profile')}`, '--virtual-time-budget=60000', '--dump-dom', `file://${page}`],
        { timeout: 150_000, maxBuffer: 64 * 1024 * 1024 },
      )
      const error = /data-error="([^"]*)"/.exec(stdout)
      expect(error?.[1], 'the page reported an error').toBeUndefined()
      const match = /data-result="([^"]*)"/.exec(stdout)
      expect(match, `no result in the page:\n${stdout.slice(0, 2000)}`).not.toBeNull()
      const result = JSON.parse(match![1]!.replaceAll('&quot;', '"')) as { leader: string; putIndex: number; value: string; appliedEverywhere: boolean }
      expect(result.value).toBe('hello from the browser')
      expect(result.putIndex).toBeGreaterThan(0)
      expect(result.appliedEverywhere).toBe(true)
      expect(['n1', 'n2', 'n3']).toContain(result.leader)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
