// Issue 18's "done when": `pnpm new-protocol echo`, then only edits inside packages/echo, gets
// echo into synod-conformance and `synod start --protocol echo` (ADR 0018). Here: the real script
// runs on a temporary root holding copies of both apps' package.json; the links `pnpm install`
// would make are made by hand; then the daemon's and the runner's own registry code, pointed at
// those copies, list echo, load its factory, and the runner's printed reproduce command works.
import { execFile } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findPackageDir, installedProtocols, type ImportModule } from '@synod/core/node'
import { daemonProtocols } from '@synod/node/protocols'
import { main } from '../src/main.js'
import { runnerProtocols } from '../src/registry.js'

const repoRoot = resolve(import.meta.dirname, '../../..')
const script = join(repoRoot, 'scripts/new-protocol.mjs')
const APPS = ['apps/node', 'apps/conformance']

let root: string
let stdout: string
const originals = new Map<string, Record<string, unknown>>()

/** Node's lookup from `dir`, then the package's source entry (the `@synod/source` condition the workspace runs with). */
function importFrom(dir: string): ImportModule {
  return async (specifier) => {
    const [scope, base, ...rest] = specifier.split('/')
    const name = `${scope}/${base}`
    const packageDir = findPackageDir(name, dir)
    if (packageDir === undefined) throw new Error(`cannot find ${name} from ${dir}`)
    const manifest = JSON.parse(await readFile(join(packageDir, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> }
    const entry = manifest.exports[rest.length === 0 ? '.' : `./${rest.join('/')}`]?.['@synod/source']
    if (entry === undefined) throw new Error(`${specifier} is not exported`)
    return (await import(pathToFileURL(join(packageDir, entry)).href)) as unknown
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synod-registration-'))
  await mkdir(join(root, 'packages'))
  await writeFile(join(root, 'LICENSE'), 'the root license\n')
  for (const app of APPS) {
    await mkdir(join(root, app), { recursive: true })
    await copyFile(join(repoRoot, app, 'package.json'), join(root, app, 'package.json'))
    originals.set(app, JSON.parse(await readFile(join(root, app, 'package.json'), 'utf8')) as Record<string, unknown>)
  }
  stdout = (await promisify(execFile)('node', [script, 'echo', '--root', root, '--no-install'])).stdout
  // What `pnpm install` does for the workspace: each app's node_modules links its @synod dependencies
  // (the real ones, and now packages/echo); the new package gets core, conformance and tsconfig.
  for (const app of APPS) {
    const scope = join(root, app, 'node_modules', '@synod')
    await mkdir(scope, { recursive: true })
    for (const entry of await readdir(join(repoRoot, app, 'node_modules', '@synod')))
      await symlink(join(repoRoot, app, 'node_modules', '@synod', entry), join(scope, entry), 'dir')
    await symlink(join(root, 'packages', 'echo'), join(scope, 'echo'), 'dir')
  }
  await symlink(join(repoRoot, 'apps', 'conformance', 'node_modules'), join(root, 'packages', 'echo', 'node_modules'), 'dir')
}, 60_000)

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('pnpm new-protocol echo registers the protocol with both hosts', () => {
  it('adds exactly one dependency line to each app and says what to run', async () => {
    for (const app of APPS) {
      const manifest = JSON.parse(await readFile(join(root, app, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
      const original = originals.get(app) as { dependencies: Record<string, string> }
      expect(manifest).toEqual({ ...original, dependencies: { ...original.dependencies, '@synod/echo': 'workspace:*' } })
      const names = Object.keys(manifest.dependencies)
      expect(names).toEqual([...names].sort())
      expect(stdout).toContain(`registered: "@synod/echo": "workspace:*" in ${app}/package.json`)
    }
    expect(stdout).toMatch(/1\. pnpm install +\(links the new package and updates pnpm-lock\.yaml\)/)
  })

  it('the daemon lists echo next to the shipped protocols and loads its factory', async () => {
    const protocols = daemonProtocols(join(root, 'apps/node/package.json'), importFrom(join(root, 'apps/node')))
    expect(protocols.names()).toEqual(['echo', 'hotstuff', 'paxos', 'pbft', 'raft'])
    expect(protocols.faultModelOf('echo')).toBe('crash')
    expect(await protocols.load('echo')).toMatchObject({ name: 'echo', faultModel: 'crash', contract: 'synod-protocol/v1' })
    expect(protocols.options('echo', { heartbeatMs: 20 })).toEqual({ heartbeatMs: 20 })
  }, 30_000)

  it('the runner knows echo, runs it by name, and leaves it out of the defaults while it is work in progress', async () => {
    const manifestFile = join(root, 'apps/conformance/package.json')
    const runner = runnerProtocols(installedProtocols(manifestFile), importFrom(join(root, 'apps/conformance')))
    expect(runner.registry.has('echo')).toBe(true)
    expect(runner.defaultProtocols).toEqual(['hotstuff', 'paxos', 'paxos-lease', 'pbft', 'raft', 'raft-lease'])
    expect((await runner.registry.get('echo')!()).name).toBe('echo')

    // The one flag an author flips once the suite passes (edited inside packages/echo only).
    const echoManifest = join(root, 'packages/echo/package.json')
    const original = await readFile(echoManifest, 'utf8')
    try {
      const manifest = JSON.parse(original) as { synod: { workInProgress: boolean } }
      manifest.synod.workInProgress = false
      await writeFile(echoManifest, JSON.stringify(manifest))
      expect(runnerProtocols(installedProtocols(manifestFile), importFrom(root)).defaultProtocols).toContain('echo')
    } finally {
      await writeFile(echoManifest, original)
    }
  }, 30_000)

  it("the printed reproduce command of a failing run of the scaffold runs it again", async () => {
    const runner = runnerProtocols(installedProtocols(join(root, 'apps/conformance/package.json')), importFrom(join(root, 'apps/conformance')))
    const environment = (out: string[]) => ({
      registry: runner.registry,
      defaultProtocols: runner.defaultProtocols,
      capabilities: runner.capabilities,
      extras: runner.extras,
      stdout: { write: (chunk: string) => out.push(chunk) },
      stderr: { write: () => true, isTTY: false },
    })
    const first: string[] = []
    expect(await main(['--protocol', 'echo', '--scenario', 'leader-crash', '--seed', '1', '--shrink-runs', '0'], environment(first))).toBe(1)
    const command = /reproduce: pnpm synod-conformance (.*)$/m.exec(first.join(''))?.[1]
    expect(command).toBe('--protocol echo --scenario leader-crash --seed 1')
    const again: string[] = []
    expect(await main([...command!.split(' '), '--shrink-runs', '0'], environment(again))).toBe(1)
    expect(again.join('')).toContain('reproduce: pnpm synod-conformance --protocol echo --scenario leader-crash --seed 1')
  }, 30_000)
})
