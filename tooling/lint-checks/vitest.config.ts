import { defineProject } from 'vitest/config'

export default defineProject({
  test: { name: 'lint-checks', include: ['test/**/*.test.ts'], testTimeout: 60_000 },
})
