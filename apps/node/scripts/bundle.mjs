#!/usr/bin/env node
// The daemon in one file (docs/adr/0031). A daemon start from the TypeScript sources through tsx cost ≈ 2.5 s
// of CPU, and from the tsc output (622 ES modules, most of them libp2p's) ≈ 0.8 s, nearly all of it module
// resolution; one file starts in ≈ 0.3 s. The protocol packages apps/node depends on are compiled in: their
// dynamic import by name (src/protocols.ts, ADR 0018) is answered from the bundle (`useBundledProtocols`),
// any other name still by `import()`. pino and pino-pretty stay outside: pino's transports start a worker
// that resolves its target by name. Two forms:
//
// - for the test suites and the live runner: compiled from the sources (the `@synod/source` condition), so it
//   needs no `pnpm build`; everything inside but pino.
//     node apps/node/scripts/bundle.mjs [--out FILE] [--quiet]    (default apps/node/.bundle/synod.mjs)
//     import { bundleDaemon } from './bundle.mjs'                   (the test suites' global setup)
// - `--published`: the `synod` bin of the package, from the built packages, into dist/synod.mjs (`pnpm build`
//   runs it after tsc). @synod/core and @synod/crypto stay outside too: a protocol package installed beside
//   @synod/node imports them from node_modules, and it must share their classes and registries with the daemon.
//
// The output sits one folder below apps/node, as src/ and dist/ do, so `../package.json` is the app's.
import { build } from 'esbuild'
import { chmodSync, mkdirSync, readFileSync, renameSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const app = resolve(dirname(fileURLToPath(import.meta.url)), '..')
/** Where the bundle goes unless told otherwise (git ignores it). */
export const DEFAULT_BUNDLE = join(app, '.bundle', 'synod.mjs')

/** apps/node's dependencies that declare a protocol (a `synod` field), as src/protocols.ts finds them. */
function protocolPackages(appDir = app) {
  const manifest = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8'))
  return Object.keys(manifest.dependencies ?? {}).filter((name) => {
    try {
      const pkg = JSON.parse(readFileSync(join(appDir, 'node_modules', name, 'package.json'), 'utf8'))
      return pkg.synod !== null && typeof pkg.synod === 'object'
    } catch {
      return false // not installed where the app resolves it: no protocol of ours
    }
  })
}

/** The published bin (`--published`). */
export const PUBLISHED_BUNDLE = join(app, 'dist', 'synod.mjs')
/** Shared with protocol packages installed beside the daemon: never compiled into the published bin. */
const SHARED = ['@synod/core', '@synod/core/*', '@synod/crypto', '@synod/crypto/*']

/** Writes the one-file daemon to `out` (atomically); returns how long it took, in ms. */
export async function bundleDaemon(out = DEFAULT_BUNDLE, { published = false } = {}) {
  const src = published ? 'dist' : 'src'
  const ext = published ? 'js' : 'ts'
  const started = performance.now()
  const protocols = protocolPackages()
  const entry = [
    // Evaluated before src/cli.ts (import order), which may run main() as it is evaluated.
    `import { useBundledProtocols } from './${src}/protocols.${ext}'`,
    `useBundledProtocols({ ${protocols.map((name) => `${JSON.stringify(name)}: () => import(${JSON.stringify(name)})`).join(', ')} })`,
  ].join('\n')
  mkdirSync(dirname(out), { recursive: true })
  const partial = `${out}.${process.pid}.tmp`
  await build({
    stdin: { contents: `import 'synod:bundled-protocols'\nimport './${src}/cli.${ext}'\n`, resolveDir: app, sourcefile: 'bundle-entry.js', loader: 'js' },
    plugins: [
      {
        name: 'bundled-protocols',
        setup(b) {
          b.onResolve({ filter: /^synod:bundled-protocols$/ }, () => ({ path: 'bundled-protocols', namespace: 'synod' }))
          b.onLoad({ filter: /.*/, namespace: 'synod' }, () => ({ contents: entry, resolveDir: app, loader: 'ts' }))
        },
      },
    ],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: published ? [] : ['@synod/source'],
    external: ['pino', 'pino-pretty', ...(published ? SHARED : [])],
    // CommonJS dependencies inside an ES module still call require() for Node's built-ins.
    // A bin: the shebang first (esbuild drops cli.ts's own, which is not the entry's).
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __synodCreateRequire } from 'node:module'; const require = __synodCreateRequire(import.meta.url);" },
    outfile: partial,
    logLevel: 'warning',
  })
  chmodSync(partial, 0o755)
  // Atomic: test projects that build it at the same time never start a half-written file.
  renameSync(partial, out)
  return { protocols, ms: performance.now() - started }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2)
  const at = argv.indexOf('--out')
  const published = argv.includes('--published')
  const out = at >= 0 && argv[at + 1] !== undefined ? resolve(argv[at + 1]) : published ? PUBLISHED_BUNDLE : DEFAULT_BUNDLE
  const { protocols, ms } = await bundleDaemon(out, { published })
  if (!argv.includes('--quiet')) console.log(`bundled the daemon with ${protocols.join(', ')} into ${out} in ${Math.round(ms)} ms`)
}
