import { defineProject } from 'vitest/config'

export default defineProject({
  test: { name: 'browser-check', include: ['test/**/*.test.ts'], testTimeout: 180_000 },
})
