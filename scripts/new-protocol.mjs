#!/usr/bin/env node
// Scaffold a new protocol package: `pnpm new-protocol NAME [--fault-model crash|byzantine] [--root DIR] [--no-install]`.
// The skeleton builds, type-checks and runs the conformance suite — and fails
// it until the protocol is implemented: a scaffold must not pass by accident.
// It is marked work in progress ("synod": { "workInProgress": true } in its package.json) so
// that `pnpm test` skips its suite until the author flips that flag. The script also registers it
// (ADR 0018): one dependency line in apps/node and apps/conformance, then `pnpm install`.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const USAGE = `usage: pnpm new-protocol NAME [--fault-model crash|byzantine] [--root DIR] [--no-install]

  NAME           lowercase package folder and protocol name: a letter, then letters, digits or single dashes
  --fault-model  'crash' (n = 2f+1, default) or 'byzantine' (n = 3f+1)
  --root         the monorepo root to write into (default: this repository)
  --no-install   do not run 'pnpm install' afterwards (print it instead)
`

/** The apps that run protocols: each finds its protocol packages among its dependencies (ADR 0018). */
export const HOST_APPS = ['apps/node', 'apps/conformance']

/** Folder names that are not protocols (or are reserved for the planned ones' neighbours). */
const RESERVED = new Set(['core', 'crypto', 'storage', 'kv', 'conformance', 'node', 'tsconfig', 'synod', 'test', 'tests', 'src', 'dist'])
// Where the repository lives, for the scaffolded package.json (the same URL as every package's; ADR 0016).
const REPOSITORY = 'https://github.com/synod/synod'

/** Why NAME is not acceptable, or undefined when it is. */
export function invalidName(name, root) {
  if (typeof name !== 'string' || name === '') return 'a protocol name is required'
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) return `'${name}' must be lowercase: a letter, then letters, digits or single dashes (e.g. 'multi-paxos')`
  if (name.length > 40) return `'${name}' is longer than 40 characters`
  if (RESERVED.has(name) || name.startsWith('transport-')) return `'${name}' is reserved for infrastructure packages`
  if (existsSync(join(root, 'packages', name))) return `packages/${name} already exists`
  return undefined
}

/** 'multi-paxos' → 'multiPaxos': the factory's export name. */
export function exportNameOf(name) {
  return name.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase())
}

function titleOf(name) {
  return name
    .split('-')
    .map((part) => part[0].toUpperCase() + part.slice(1))
    .join(' ')
}

/** Every file of the new package, path (relative to the package) → content. */
export function packageFiles(name, faultModel) {
  const exportName = exportNameOf(name)
  const title = titleOf(name)
  const maxFaulty = faultModel === 'crash' ? 'Math.floor((n - 1) / 2)' : 'Math.floor((n - 1) / 3)'
  const packageJson = {
    name: `@synod/${name}`,
    version: '0.0.0',
    description: `${title} as a deterministic sans-I/O protocol for Synod`,
    license: 'Apache-2.0',
    // Publishable like every package (ADR 0016; tooling/publish-check checks these fields).
    repository: { type: 'git', url: `git+${REPOSITORY}.git`, directory: `packages/${name}` },
    homepage: `${REPOSITORY}/tree/main/packages/${name}#readme`,
    bugs: { url: `${REPOSITORY}/issues` },
    type: 'module',
    sideEffects: false,
    exports: {
      '.': {
        '@synod/source': './src/index.ts',
        types: './dist/index.d.ts',
        import: './dist/index.js',
      },
    },
    files: ['dist', 'src', 'examples'],
    engines: { node: '>=20.19' },
    scripts: {
      build: 'tsc -p tsconfig.build.json',
      typecheck: 'tsc -p tsconfig.json',
      test: 'vitest run',
    },
    dependencies: {
      '@synod/core': 'workspace:*',
    },
    devDependencies: {
      '@synod/conformance': 'workspace:*',
      '@synod/tsconfig': 'workspace:*',
      typescript: 'catalog:',
      vitest: 'catalog:',
    },
    publishConfig: { access: 'public' },
    // How the daemon and the conformance runner find it (ADR 0018, docs/contributing-a-protocol.md).
    synod: {
      protocol: name,
      factory: exportName,
      faultModel,
      // Until it passes: `pnpm test` skips its conformance suite, the runner leaves it out of its default list.
      workInProgress: true,
    },
  }
  return {
    'package.json': `${JSON.stringify(packageJson, null, 2)}\n`,
    'tsconfig.json': `${JSON.stringify({ extends: '@synod/tsconfig/library.json', include: ['src', 'test', 'examples'] }, null, 2)}\n`,
    'tsconfig.build.json': `${JSON.stringify({ extends: '@synod/tsconfig/build.json', include: ['src'] }, null, 2)}\n`,
    'vitest.config.ts': `import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@synod/source'] },
  ssr: { resolve: { conditions: ['@synod/source'] } },
  test: { name: '${name}', include: ['test/**/*.test.ts'] },
})
`,
    'src/index.ts': `export { ${exportName} } from './${name}.js'
export type { ${exportNameOf(`${name}-options`).replace(/^./, (c) => c.toUpperCase())} } from './${name}.js'
`,
    [`src/${name}.ts`]: protocolSkeleton(name, exportName, title, faultModel, maxFaulty),
    'test/conformance.test.ts': `// The conformance suite: every shipped ${faultModel} scenario, seeds 1..3 (SYNOD_CONFORMANCE_SEEDS=N for more).
// It fails until the protocol commits client commands: that is the point. While package.json says
// "synod": { "workInProgress": true }, \`pnpm test\` lists the scenarios as skipped (SYNOD_CONFORMANCE_WIP=1
// runs them); set it to false once they pass, and from then on every one must.
import { describeConformance } from '@synod/conformance/vitest'
import manifest from '../package.json' with { type: 'json' }
import { ${exportName} } from '../src/index.js'

describeConformance({ factory: ${exportName}, workInProgress: manifest.synod.workInProgress })
`,
    [`examples/${name}.ts`]: example(name, exportName),
    'README.md': readme(name, exportName, title, faultModel),
  }
}

function protocolSkeleton(name, exportName, title, faultModel, maxFaulty) {
  const optionsType = exportNameOf(`${name}-options`).replace(/^./, (c) => c.toUpperCase())
  const nodeClass = `${exportNameOf(name).replace(/^./, (c) => c.toUpperCase())}Node`
  return `import {
  CONTRACT_VERSION,
  type ClientRef,
  type NodeId,
  type NodeStatus,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
} from '@synod/core'

/** Tunables of ${title}; every field has a default, so options are always partial. */
export interface ${optionsType} {
  /** Example knob: how often a leader would send heartbeats, in (virtual) ms. */
  readonly heartbeatMs: number
}

const DEFAULT_OPTIONS: ${optionsType} = { heartbeatMs: 50 }

/**
 * One ${title} replica: a deterministic state machine. It may touch time,
 * randomness, timers, storage and the network only through \`ctx\`
 * (docs/architecture.md, "The one idea"; lint enforces it).
 *
 * TODO: this skeleton accepts proposals and never decides anything, so every
 * client operation times out and the conformance suite fails (liveness).
 * Implement: persist promises to \`ctx.storage\` before sending, replicate,
 * then \`ctx.commit({ index, command, client })\` in index order, and report
 * leadership with \`ctx.observe({ type: 'leader', leader, term })\`.
 */
class ${nodeClass} implements ProtocolNode {
  private term = 0
  private commitIndex = 0
  private readonly waiting = new Map<number, { readonly command: Uint8Array; readonly client: ClientRef }>()

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly options: ${optionsType},
  ) {}

  start(): void {
    // TODO: read persisted state from this.ctx.storage and arm timers with this.ctx.setTimer.
    void this.options.heartbeatMs
  }

  receive(_from: NodeId, _message: Uint8Array): void {
    // TODO: decode (validating everything: throw InvalidMessageError for malformed input) and react.
  }

  propose(command: Uint8Array, client: ClientRef): void {
    // TODO: order the command. Until then it waits forever, and the client times out.
    this.waiting.set(client.id, { command, client })
  }

  status(): NodeStatus {
    return {
      id: this.ctx.self,
      role: 'follower',
      term: this.term,
      leader: undefined,
      commitIndex: this.commitIndex,
      lastIndex: this.commitIndex,
      membership: this.ctx.membership,
    }
  }

  stop(): void {
    this.waiting.clear()
  }
}

/** The ${title} protocol factory: what the Replica, the daemon and the conformance suite are given. */
export const ${exportName}: ProtocolFactory<${optionsType}> = {
  contract: CONTRACT_VERSION,
  name: '${name}',
  faultModel: '${faultModel}',
  maxFaulty: (n) => ${maxFaulty},
  create: (ctx, options) => new ${nodeClass}(ctx, { ...DEFAULT_OPTIONS, ...options }),
}
`
}

/** The README's example (a real file: tooling/readme-examples runs it and compares its output with the README's). */
function example(name, exportName) {
  return `// One conformance scenario on this protocol, one seed. The skeleton fails it: nothing ever commits.
import { runScenario, scenarioByName } from '@synod/conformance'
import { ${exportName} } from '@synod/${name}'

const result = await runScenario({ factory: ${exportName}, scenario: scenarioByName('leader-crash')!, seed: 1 })
console.log(\`\${result.reproduce}: \${result.verdict}\`)
`
}

function readme(name, exportName, title, faultModel) {
  return `# @synod/${name}

${title} for Synod: a ${faultModel}-fault-tolerant consensus protocol written as a
deterministic, sans-I/O state machine against the \`@synod/core\` contract.

> Status: **skeleton**. It builds and runs the conformance suite, and fails
> it until the protocol is implemented. See
> [docs/contributing-a-protocol.md](../../docs/contributing-a-protocol.md).

## Install

\`\`\`sh
pnpm add @synod/${name}
pnpm add -D @synod/conformance   # the example
\`\`\`

## Example

[\`examples/${name}.ts\`](examples/${name}.ts) (shipped in the package; CI runs it and checks the output shown, \`pnpm readme:examples\`;
after changing the protocol, \`pnpm readme:examples --write\` refreshes the output):

<!-- example: examples/${name}.ts -->
\`\`\`ts
${example(name, exportName)}\`\`\`
<!-- output -->
\`\`\`text
pnpm synod-conformance --protocol ${name} --scenario leader-crash --seed 1: violation
\`\`\`
<!-- /example -->

## API

- \`${exportName}\`: the \`ProtocolFactory\` (\`name: '${name}'\`, \`faultModel: '${faultModel}'\`).

## Testing

\`\`\`sh
pnpm synod-conformance --protocol ${name}                          # every scenario, with a reproduce command per failure
SYNOD_CONFORMANCE_WIP=1 pnpm vitest run --project ${name}          # the conformance suite, seeds 1..3, while work in progress
SYNOD_CONFORMANCE_SEEDS=50 pnpm vitest run --project ${name}       # more seeds
\`\`\`

While \`package.json\` says \`"synod": { "workInProgress": true }\`, \`pnpm test\` skips the conformance
suite and \`synod-conformance\` runs this protocol only when asked by name. Set it to \`false\` once
the suite passes.

## Running it

The daemon and the conformance runner find it through the \`synod\` field of its \`package.json\`
(\`pnpm new-protocol\` added it to both apps' dependencies):

\`\`\`sh
pnpm synod cluster --protocol ${name}     # a throwaway local cluster of real processes
\`\`\`
`
}

/** Write packages/NAME under `root`; returns the created files (absolute paths). */
export async function generateProtocolPackage({ name, root, faultModel = 'crash' }) {
  if (faultModel !== 'crash' && faultModel !== 'byzantine') throw new Error(`--fault-model must be 'crash' or 'byzantine', got '${faultModel}'`)
  const problem = invalidName(name, root)
  if (problem !== undefined) throw new Error(problem)
  if (!existsSync(join(root, 'packages'))) throw new Error(`${root} has no packages/ folder: is it the monorepo root?`)
  const packageDir = join(root, 'packages', name)
  const written = []
  const files = packageFiles(name, faultModel)
  // Every tarball carries the license (the root LICENSE, as in every package).
  if (existsSync(join(root, 'LICENSE'))) files['LICENSE'] = readFileSync(join(root, 'LICENSE'), 'utf8')
  for (const [path, content] of Object.entries(files)) {
    const file = join(packageDir, path)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, content, { flag: 'wx' })
    written.push(file)
  }
  return written
}

/**
 * Add "@synod/NAME": "workspace:*" to the dependencies of every host app under `root` (kept in
 * alphabetical order, as pnpm writes them). Returns the package.json files changed; an app that is
 * not there (a root without apps/) is skipped and reported.
 */
export async function registerInHostApps({ name, root }) {
  const changed = []
  const missing = []
  for (const app of HOST_APPS) {
    const file = join(root, app, 'package.json')
    if (!existsSync(file)) {
      missing.push(relative(root, file))
      continue
    }
    const manifest = JSON.parse(await readFile(file, 'utf8'))
    const dependencies = { ...manifest.dependencies, [`@synod/${name}`]: 'workspace:*' }
    manifest.dependencies = Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => (a < b ? -1 : 1)))
    await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`)
    changed.push(file)
  }
  return { changed, missing }
}

async function cli(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { root: { type: 'string' }, 'fault-model': { type: 'string' }, 'no-install': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (error) {
    process.stderr.write(`new-protocol: ${error.message}\n\n${USAGE}`)
    return 2
  }
  if (parsed.values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (parsed.positionals.length !== 1) {
    process.stderr.write(`new-protocol: expected exactly one NAME, got ${parsed.positionals.length}\n\n${USAGE}`)
    return 2
  }
  const root = resolve(parsed.values.root ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  const name = parsed.positionals[0]
  let files
  let registered
  try {
    files = await generateProtocolPackage({ name, root, faultModel: parsed.values['fault-model'] ?? 'crash' })
    registered = await registerInHostApps({ name, root })
  } catch (error) {
    process.stderr.write(`new-protocol: ${error.message}\n`)
    return 2
  }
  const out = (text) => process.stdout.write(text)
  out(`created packages/${name}:\n${files.map((f) => `  ${relative(root, f)}`).join('\n')}\n`)
  const line = `"@synod/${name}": "workspace:*"`
  for (const file of registered.changed) out(`registered: ${line} in ${relative(root, file)}\n`)
  for (const file of registered.missing) out(`not found: ${file} (add ${line} to its dependencies by hand)\n`)
  // The lockfile must record the new workspace links; without them neither app can import the package.
  let installed = false
  if (parsed.values['no-install'] !== true) {
    out('running pnpm install (links the new package and updates pnpm-lock.yaml) …\n')
    const result = spawnSync('pnpm', ['install'], { cwd: root, stdio: 'inherit' })
    installed = result.status === 0
    if (!installed) out(`pnpm install ${result.error === undefined ? `exited with ${result.status}` : `failed: ${result.error.message}`}\n`)
  }
  const steps = [
    ...(installed ? [] : ['pnpm install                                           (links the new package and updates pnpm-lock.yaml)']),
    `implement packages/${name}/src/${name}.ts                 (docs/contributing-a-protocol.md)`,
    `pnpm synod-conformance --protocol ${name}               (every scenario; a reproduce command per failure)`,
    `SYNOD_CONFORMANCE_WIP=1 pnpm vitest run --project ${name}   (its own conformance test, skipped by pnpm test while work in progress)`,
    `when it passes: "workInProgress": false in packages/${name}/package.json (pnpm test and the runner's default list then include it)`,
    `pnpm build && pnpm synod cluster --protocol ${name}     (a local cluster of real daemons; synod start --protocol ${name} for one node)`,
  ]
  out(`\nnext steps:\n${steps.map((step, i) => `  ${i + 1}. ${step}`).join('\n')}\n`)
  return 0
}

// Run as a script, not when imported (the tests import the functions).
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}

export { cli, USAGE }
