#!/usr/bin/env node
// `pnpm demo [flags]`: build the daemon and its packages, then `synod cluster --load [flags]`.
//
// One Node process rather than `turbo … && node …` in the script line: with a compound command pnpm runs a
// shell, and on Ctrl-C pnpm reported that shell as failed (exit 130) even when the demo stopped its nodes,
// removed its data and exited 0. Here the demo (the child) owns Ctrl-C: the terminal sends SIGINT to the
// whole process group, this launcher ignores it, and exits with the demo's own code.
//   SYNOD_DEMO_NO_BUILD=1  skip the build (tests; the build already ran)
//   SYNOD_DEMO_SOURCE=1    run the CLI from source through tsx instead of apps/node/dist (tests)
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
if (process.env.SYNOD_DEMO_NO_BUILD !== '1') {
  const build = spawnSync('turbo', ['run', 'build', '--filter=@synod/node...', '--output-logs=errors-only'], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (build.status !== 0) process.exit(build.status ?? 1)
}
const cli =
  process.env.SYNOD_DEMO_SOURCE === '1'
    ? ['--conditions=@synod/source', '--import', pathToFileURL(createRequire(join(root, 'apps/node/package.json')).resolve('tsx')).href, join(root, 'apps/node/src/cli.ts')]
    : [join(root, 'apps/node/dist/synod.mjs')]
const child = spawn(process.execPath, [...cli, 'cluster', '--load', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
// Ctrl-C and termination are the demo's to handle (it stops its nodes and removes its data first).
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal === 'SIGINT' ? 'SIGINT' : signal))
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)))
