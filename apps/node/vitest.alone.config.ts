import { defineProject } from 'vitest/config'
import { aloneTests } from './vitest.config.js'

// The files of `aloneTests` (see vitest.config.ts): one at a time, after every other project has finished.
export default defineProject({
  resolve: { conditions: ['@synod/source'] },
  ssr: { resolve: { conditions: ['@synod/source'] } },
  test: {
    name: 'apps-node-alone',
    include: aloneTests,
    globalSetup: ['./test/daemon-bundle.setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    maxWorkers: 1,
    sequence: { groupOrder: 1 },
  },
})
