import { availableParallelism } from 'node:os'
import { defineConfig } from 'vitest/config'

// One vitest process for the whole monorepo: each package is a project that
// resolves sibling @synod/* packages from source (no build needed to test).
export default defineConfig({
  test: {
    // Every core, not vitest's default of cores − 1 (which is one worker on a 2-core machine): much of the suite
    // waits on child processes and disks. Measured on a fresh clone, 2 cores, other work on the machine: 1,190 s of
    // tests with one worker, 754 s with two, all passing. The tests are built for a busy machine (virtual time,
    // conditions instead of sleeps), which a second worker is.
    maxWorkers: Math.max(2, availableParallelism()),
    // apps/node/vitest.alone.config.ts: the few files that run alone after all the others (groupOrder 1).
    projects: ['packages/*/vitest.config.ts', 'apps/*/vitest.config.ts', 'tooling/*/vitest.config.ts', 'apps/node/vitest.alone.config.ts'],
    reporters: process.env.CI ? ['default', ['json', { outputFile: 'reports/vitest.json' }]] : ['default'],
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
      reporter: ['text-summary', 'json-summary', 'html'],
      reportsDirectory: 'reports/coverage',
    },
  },
})
