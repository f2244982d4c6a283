// scripts/new-protocol.mjs: validates names, writes a package that type-checks,
// runs the conformance suite — and fails it, as an unimplemented protocol must.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runScenario, scenarioByName } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'

const repoRoot = resolve(import.meta.dirname, '../../..')
const script = join(repoRoot, 'scripts/new-protocol.mjs')
const run = promisify(execFile)

interface Generator {
  invalidName(name: string, root: string): string | undefined
  exportNameOf(name: string): string
  generateProtocolPackage(options: { name: string; root: string; faultModel?: string }): Promise<string[]>
}
const generator = (await import(script)) as Generator

// A throwaway monorepo root in the system temp folder. Its node_modules links to the real root's
// (hoisted tools and @types/node), and the generated package gets this app's node_modules
// (@synod/core, @synod/conformance, @synod/tsconfig): the layout `pnpm install` would give it.
let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'synod-new-protocol-'))
  await mkdir(join(root, 'packages', 'raft'), { recursive: true })
  await writeFile(join(root, 'LICENSE'), 'the root license\n')
  await symlink(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir')
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('new-protocol name validation', () => {
  it.each([
    ['', /required/],
    ['Paxos', /must be lowercase/],
    ['multi_paxos', /must be lowercase/],
    ['-paxos', /must be lowercase/],
    ['paxos-', /must be lowercase/],
    ['multi--paxos', /must be lowercase/],
    ['9lives', /must be lowercase/],
    ['core', /reserved/],
    ['transport-quic', /reserved/],
    ['raft', /packages\/raft already exists/],
    ['a'.repeat(41), /longer than 40/],
  ])('rejects %j', (name, message) => {
    expect(generator.invalidName(name, root)).toMatch(message)
  })

  it('accepts lowercase names with digits and single dashes', () => {
    for (const name of ['mencius', 'multi-paxos', 'hotstuff2', 'epaxos-v2']) expect(generator.invalidName(name, root)).toBeUndefined()
    expect(generator.exportNameOf('multi-paxos')).toBe('multiPaxos')
  })
})

describe('new-protocol CLI', () => {
  it('refuses a bad name, a collision and a bad fault model with exit 2', async () => {
    for (const args of [['Bad'], ['raft'], ['ok-name', '--fault-model', 'sometimes'], [], ['a', 'b'], ['--nope', 'x']]) {
      const failure = await run('node', [script, ...args, '--root', root]).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      )
      expect(failure?.code, `args ${args.join(' ')}`).toBe(2)
      expect(failure?.stderr).toMatch(/^new-protocol: /)
    }
    expect(existsSync(join(root, 'packages', 'ok-name'))).toBe(false)
  })

  it('writes the package and prints the next steps', async () => {
    const { stdout } = await run('node', [script, 'demo-bft', '--fault-model', 'byzantine', '--root', root, '--no-install'])
    expect(stdout).toContain('created packages/demo-bft:')
    expect(stdout).toContain('SYNOD_CONFORMANCE_WIP=1 pnpm vitest run --project demo-bft')
    expect(stdout).toContain('pnpm synod-conformance --protocol demo-bft')
    // This root has no apps/: the script says which dependency line to add by hand (new-protocol-registration.test.ts covers the apps).
    expect(stdout).toContain('not found: apps/node/package.json (add "@synod/demo-bft": "workspace:*" to its dependencies by hand)')
    for (const file of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'vitest.config.ts', 'src/index.ts', 'src/demo-bft.ts', 'test/conformance.test.ts', 'examples/demo-bft.ts', 'README.md'])
      expect(existsSync(join(root, 'packages', 'demo-bft', file)), file).toBe(true)
    const manifest = JSON.parse(await readFile(join(root, 'packages', 'demo-bft', 'package.json'), 'utf8'))
    expect(manifest.name).toBe('@synod/demo-bft')
    expect(manifest.dependencies).toEqual({ '@synod/core': 'workspace:*' })
    // Publishable like every package: tooling/publish-check would fail on a scaffold without these.
    expect(manifest.repository).toMatchObject({ type: 'git', directory: 'packages/demo-bft' })
    expect(manifest.homepage).toMatch(/packages\/demo-bft#readme$/)
    expect(manifest.engines).toEqual({ node: '>=20.19' })
    expect(manifest.publishConfig).toEqual({ access: 'public' })
    // How the daemon and the runner find it, marked work in progress until its author flips the flag (ADR 0018).
    expect(manifest.synod).toEqual({ protocol: 'demo-bft', factory: 'demoBft', faultModel: 'byzantine', workInProgress: true })
    expect(await readFile(join(root, 'packages', 'demo-bft', 'LICENSE'), 'utf8')).toBe('the root license\n')
    expect(await readFile(join(root, 'packages', 'demo-bft', 'test', 'conformance.test.ts'), 'utf8')).toContain('describeConformance({ factory: demoBft, workInProgress: manifest.synod.workInProgress })')
    // Running it again must not overwrite anything.
    await expect(run('node', [script, 'demo-bft', '--root', root])).rejects.toMatchObject({ code: 2 })
  })
})

describe('the generated skeleton', () => {
  let packageDir: string
  beforeAll(async () => {
    await generator.generateProtocolPackage({ name: 'skeleton', root })
    packageDir = join(root, 'packages', 'skeleton')
    await symlink(join(import.meta.dirname, '..', 'node_modules'), join(packageDir, 'node_modules'), 'dir')
  })

  it('type-checks under the repository settings', async () => {
    const tsc = join(repoRoot, 'node_modules', '.bin', 'tsc')
    const result = await run(tsc, ['-p', join(packageDir, 'tsconfig.json')]).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => error,
    )
    expect(result.stdout).toBe('')
    expect(result.code).toBe(0)
  }, 180_000) // a tsc process: took over 30 s on a busy 2-core machine

  it('implements the contract, runs a scenario, and honestly fails it', async () => {
    const module = (await import(join(packageDir, 'src', 'index.ts'))) as { skeleton: ProtocolFactory<unknown> }
    expect(module.skeleton).toMatchObject({ contract: 'synod-protocol/v1', name: 'skeleton', faultModel: 'crash' })
    expect(module.skeleton.maxFaulty(5)).toBe(2)
    const result = await runScenario({ factory: module.skeleton, scenario: scenarioByName('steady-state')!, seed: 1 })
    expect(result.verdict).toBe('violation')
    expect(result.opsCompleted).toBe(0)
    expect(result.checks.find((c) => c.checker === 'liveness')!.verdict).toBe('violation')
  }, 30_000)

  it("ships a README example that passes the README checker as generated (the file verbatim, its real output)", async () => {
    const cli = join(repoRoot, 'tooling/readme-examples/src/cli.ts')
    const { stdout } = await run('node', ['--import', 'tsx', cli, join(packageDir, 'README.md')], { cwd: repoRoot })
    expect(stdout).toContain('examples/skeleton.ts')
  }, 180_000) // a tsx process running a conformance scenario: slow on a busy machine
})
