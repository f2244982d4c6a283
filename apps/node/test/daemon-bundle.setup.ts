// Global setup of the test projects that start daemons: compiles the daemon from the sources into one
// file (apps/node/scripts/bundle.mjs) and names it in SYNOD_DAEMON_BUNDLE, which the workers inherit, so
// `synodCommand()` starts children from it — ≈ 0.3 s of CPU per start, against ≈ 2.5 s through tsx
// (docs/adr/0031). Every run compiles it afresh (≈ 1 s): it is never older than the sources.
// SYNOD_DAEMON_BUNDLE=off keeps the tsx start (to compare, or to debug with source maps).
import { DEFAULT_BUNDLE, bundleDaemon } from '../scripts/bundle.mjs'

export async function setup(): Promise<void> {
  if (process.env['SYNOD_DAEMON_BUNDLE'] === 'off') return
  // Each project that starts daemons runs this setup, all in vitest's main process: compile once per run.
  const done = globalThis as { synodDaemonBundle?: Promise<unknown> }
  done.synodDaemonBundle ??= bundleDaemon(DEFAULT_BUNDLE)
  await done.synodDaemonBundle
  process.env['SYNOD_DAEMON_BUNDLE'] = DEFAULT_BUNDLE
}
