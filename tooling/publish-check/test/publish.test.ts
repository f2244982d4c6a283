// The packages as a user gets them: every publishable package goes to a local verdaccio registry with
// `pnpm publish -r`; a fresh project outside the repository installs them with npm and runs code
// against them, and `npm install -g @synod/node` gives a `synod` that inits, starts, writes and reads.
import { type ChildProcess, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, type LocalRegistry, startRegistry } from '../src/registry.js'
import { cleanEnv, describeRun, run } from '../src/run.js'
import { publishable, ROOT, staleBuilds } from '../src/workspace.js'

const tmp = mkdtempSync(join(tmpdir(), 'synod-publish-check-'))
const home = join(tmp, 'home')
const project = join(tmp, 'project')
const globalPrefix = join(tmp, 'global')
const timings: Record<string, number> = {}
let registry: LocalRegistry | undefined
let daemon: ChildProcess | undefined
let env: NodeJS.ProcessEnv = {}
// Both installs start as soon as the packages are published and run side by side (they only read the
// registry and npm's cache); each test awaits its own.
let projectInstall: Promise<unknown> = Promise.resolve()
let globalInstall: Promise<unknown> = Promise.resolve()
const PROJECT_PACKAGES = ['@synod/raft', '@synod/transport-memory', '@synod/kv', '@synod/core', '@synod/storage', '@synod/crypto', '@synod/transport-libp2p']

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs a command that must succeed, recording how long it took. */
async function must(what: string, command: string, args: string[], cwd: string, timeoutMs = 120_000) {
  const result = await run(command, args, { cwd, env, timeoutMs })
  timings[what] = result.ms
  if (result.code !== 0) throw new Error(describeRun(`${what}: ${command} ${args.join(' ')}`, result))
  return result
}

beforeAll(async () => {
  const packages = publishable()
  const stale = staleBuilds(packages)
  if (stale.length > 0) {
    // CI builds before it tests; locally a stale dist would publish old code.
    const build = await run('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], { cwd: ROOT, env: cleanEnv({}), timeoutMs: 600_000 })
    timings['build (stale dist)'] = build.ms
    if (build.code !== 0) throw new Error(describeRun(`pnpm build (stale: ${stale.join(', ')})`, build))
  }
  registry = await startRegistry(join(tmp, 'registry'))
  mkdirSync(home, { recursive: true })
  mkdirSync(project, { recursive: true })
  const host = new URL(registry.url).host
  // Only @synod/* comes from the local registry; the rest from the usual one, through the user's npm cache.
  writeFileSync(join(home, '.npmrc'), [`@synod:registry=${registry.url}`, `//${host}/:_authToken=${registry.token}`, 'fund=false', 'audit=false', 'update-notifier=false', ''].join('\n'))
  env = cleanEnv({
    HOME: home,
    NPM_CONFIG_USERCONFIG: join(home, '.npmrc'),
    npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
    SYNOD_CLIENT_KEY: join(home, 'client.key'),
  })
  await must('pnpm publish -r', 'pnpm', ['publish', '-r', '--no-git-checks', '--registry', registry.url], ROOT, 180_000)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh-project', private: true, type: 'module' }))
  projectInstall = must('npm install (fresh project)', 'npm', ['install', '--no-audit', '--no-fund', ...PROJECT_PACKAGES], project, 240_000)
  globalInstall = must('npm install -g @synod/node', 'npm', ['install', '-g', '--no-audit', '--no-fund', '--prefix', globalPrefix, '@synod/node'], tmp, 240_000)
  // Handled here so that a failure surfaces in the test that awaits it, not as an unhandled rejection.
  projectInstall.catch(() => undefined)
  globalInstall.catch(() => undefined)
}, 900_000)

afterAll(async () => {
  if (daemon !== undefined && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL')
  await Promise.allSettled([projectInstall, globalInstall])
  await registry?.stop()
  rmSync(tmp, { recursive: true, force: true })
  console.log('publish-check timings (ms):', JSON.stringify(timings))
})

describe('published packages, installed from a local registry outside the repository', () => {
  it('publishes every non-private package, the CLI included, with clean manifests', async () => {
    const names = publishable().map((p) => p.name).sort()
    expect(names).toContain('@synod/node')
    for (const name of names) {
      const res = await fetch(`${registry!.url}${name.replace('/', '%2f')}`)
      expect(res.status, `${name} is in the registry`).toBe(200)
      const packument = (await res.json()) as { versions: Record<string, Record<string, unknown>> }
      const manifest = Object.values(packument.versions)[0]!
      const text = JSON.stringify(manifest)
      expect(text, `${name}: no workspace: protocol`).not.toMatch(/"(workspace|catalog):/)
      expect(manifest['devDependencies'], `${name}: no devDependencies (private tooling)`).toBeUndefined()
      expect(manifest['repository'], `${name}: repository`).toBeDefined()
      expect(manifest['engines'], `${name}: engines`).toEqual({ node: '>=20.19' })
      const deps = Object.keys((manifest['dependencies'] ?? {}) as Record<string, string>)
      for (const dep of deps.filter((d) => d.startsWith('@synod/'))) expect(names, `${name} depends on published ${dep}`).toContain(dep)
    }
  })

  it('npm install into a fresh project: the README packages run, and the 40-line libp2p cluster example', async () => {
    await projectInstall
    for (const pkg of ['raft', 'kv', 'core', 'transport-libp2p'])
      expect(existsSync(join(project, 'node_modules/@synod', pkg, 'LICENSE')), `@synod/${pkg} ships LICENSE`).toBe(true)
    // A tiny script against the simulator: 3 Raft nodes, the KV store, a write and a linearizable read.
    writeFileSync(join(project, 'tiny.mjs'), `
import { fromUtf8, membershipOf } from '@synod/core'
import { decodeResult, KvStateMachine, kvCommands } from '@synod/kv'
import { raft } from '@synod/raft'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
const sim = new Simulation({ seed: 7 })
const ids = ['a', 'b', 'c']
const nodes = ids.map((id) => sim.addNode({ id, factory: raft, membership: membershipOf(ids), storage: memoryStorage(), createStateMachine: () => new KvStateMachine() }))
for (const node of nodes) await node.start()
await sim.runUntil(() => nodes.some((n) => n.replica?.status().role === 'leader'), 5000)
const leader = nodes.find((n) => n.replica?.status().role === 'leader').replica
const put = leader.propose(kvCommands.put('k', 'v1'))
await sim.runFor(100)
await put
const read = leader.read(kvCommands.get('k'))
await sim.runFor(100)
console.log('simulated read:', fromUtf8(decodeResult((await read).result).value))
`)
    const tiny = await must('tiny simulator script', process.execPath, ['tiny.mjs'], project, 60_000)
    expect(tiny.stdout).toContain('simulated read: v1')

    const example = join(ROOT, 'examples/raft-libp2p.mjs')
    expect(readFileSync(example, 'utf8').trimEnd().split('\n').length).toBeLessThanOrEqual(40)
    copyFileSync(example, join(project, 'raft-libp2p.mjs'))
    const cluster = await must('examples/raft-libp2p.mjs', process.execPath, ['raft-libp2p.mjs'], project, 90_000)
    expect(cluster.stdout).toMatch(/leader elected; term \d+/)
    expect(cluster.stdout).toContain('read back: hello from raft over libp2p')
  }, 420_000)

  it('npm install -g @synod/node: synod --version, init, start, kv put/get', async () => {
    await globalInstall
    const synod = join(globalPrefix, 'bin', 'synod')
    const version = await must('synod --version', synod, ['--version'], tmp)
    const expected = JSON.parse(readFileSync(join(ROOT, 'apps/node/package.json'), 'utf8')) as { version: string }
    expect(version.stdout).toMatch(new RegExp(`^synod ${expected.version.replaceAll('.', '\\.')} .*protocols: .*raft`))

    const [p2p, http] = [await freePort(), await freePort()]
    const dataDir = join(tmp, 'node1')
    await must('synod init', synod, ['init', '--data-dir', dataDir, '--protocol', 'raft', '--listen', `/ip4/127.0.0.1/tcp/${p2p}`, '--http', `127.0.0.1:${http}`], tmp)
    daemon = spawn(synod, ['start', '--config', join(dataDir, 'synod.json'), '--log-level', 'warn'], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let daemonOutput = ''
    daemon.stdout!.on('data', (chunk) => (daemonOutput += String(chunk)))
    daemon.stderr!.on('data', (chunk) => (daemonOutput += String(chunk)))
    const endpoint = ['--endpoint', `127.0.0.1:${http}`]
    // Bounded: the node needs a moment to listen and elect itself (up to 60 tries).
    const started = performance.now()
    let put = await run(synod, ['kv', 'put', 'greeting', 'hello-from-npm', ...endpoint], { cwd: tmp, env, timeoutMs: 20_000 })
    for (let i = 0; i < 60 && put.code !== 0 && daemon.exitCode === null; i++) {
      await sleep(250)
      put = await run(synod, ['kv', 'put', 'greeting', 'hello-from-npm', ...endpoint], { cwd: tmp, env, timeoutMs: 20_000 })
    }
    timings['synod start → first put'] = Math.round(performance.now() - started)
    expect(put.code, `${describeRun('synod kv put', put)}\n--- daemon\n${daemonOutput}`).toBe(0)
    const get = await must('synod kv get', synod, ['kv', 'get', 'greeting', ...endpoint], tmp)
    expect(get.stdout.trim()).toBe('hello-from-npm')

    const exited = new Promise((resolve) => daemon!.once('exit', (code, signal) => resolve(code ?? signal)))
    daemon.kill('SIGTERM')
    const outcome = await Promise.race([exited, sleep(15_000).then(() => 'timeout')])
    expect(outcome, daemonOutput).not.toBe('timeout')
  }, 420_000)
})
