import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@synod/source'] },
  ssr: { resolve: { conditions: ['@synod/source'] } },
  test: { name: 'hotstuff', include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 180_000 },
})
