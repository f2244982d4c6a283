// The one-file daemon the test suites start their nodes from (scripts/bundle.mjs, docs/adr/0031): the
// global setup built it from the sources, children run it, and it carries every protocol package.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { DAEMON_BUNDLE_ENV, synodCommand } from '../src/cluster.js'
import { bundleDaemon } from '../scripts/bundle.mjs'
import { loadProtocol, useBundledProtocols } from '../src/protocols.js'

const appDir = join(dirname(fileURLToPath(import.meta.url)), '..')

const run = promisify(execFile)
const bundle = process.env[DAEMON_BUNDLE_ENV]
const off = bundle === 'off'

describe('the one-file daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-bundle-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.skipIf(off)('is what children run when the suite built it', () => {
    expect(bundle).toBeDefined()
    expect(existsSync(bundle!)).toBe(true)
    expect(synodCommand()).toEqual([bundle])
    expect(synodCommand({ preferBuilt: true })).toEqual([bundle])
  })

  it('without one, children run the sources through tsx', () => {
    const saved = process.env[DAEMON_BUNDLE_ENV]
    process.env[DAEMON_BUNDLE_ENV] = join(dir, 'absent.mjs')
    try {
      const command = synodCommand()
      expect(command.at(-1)).toMatch(/src[/\\]cli\.ts$/)
      expect(command).toContain('--conditions=@synod/source')
    } finally {
      if (saved === undefined) delete process.env[DAEMON_BUNDLE_ENV]
      else process.env[DAEMON_BUNDLE_ENV] = saved
    }
  })

  it('holds every protocol package, and asks node_modules for none of them', async () => {
    // Its own copy, one folder below the app as .bundle/ is (so `../package.json` is the app's).
    const out = join(appDir, '.bundle', `check-${process.pid}.mjs`)
    try {
      const { protocols } = await bundleDaemon(out)
      expect(protocols.sort()).toEqual(['@synod/hotstuff', '@synod/paxos', '@synod/pbft', '@synod/raft'])
      // Each protocol's import is answered inside: no import() of a @synod package is left for Node to resolve
      // (from node_modules it would need that package's dist/, absent on a fresh clone).
      const text = readFileSync(out, 'utf8')
      expect(text).toMatch(/useBundledProtocols\(\{ "@synod\/hotstuff": \(\) => Promise\.resolve\(\)\.then/)
      expect(text).not.toMatch(/import\(\s*["']@synod\//)
      const { stdout } = await run(process.execPath, [out, '--version'], { timeout: 60_000 })
      expect(stdout).toMatch(/protocols: hotstuff, paxos, pbft, raft/)
    } finally {
      rmSync(out, { force: true })
    }
  })
})

describe('useBundledProtocols', () => {
  it('answers a protocol package by name from the bundle, before any import()', async () => {
    const fake = { ...(await import('@synod/raft')).raft, name: 'raft' }
    useBundledProtocols({ '@synod/raft': async () => ({ raft: fake }) })
    try {
      expect(await loadProtocol('raft')).toBe(fake)
    } finally {
      useBundledProtocols({})
    }
  })
})
