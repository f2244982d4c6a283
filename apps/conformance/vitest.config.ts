import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@synod/source'] },
  ssr: { resolve: { conditions: ['@synod/source'] } },
  test: { name: 'apps-conformance', include: ['test/**/*.test.ts'], globalSetup: ['../node/test/daemon-bundle.setup.ts'], testTimeout: 120_000, hookTimeout: 180_000 },
})
