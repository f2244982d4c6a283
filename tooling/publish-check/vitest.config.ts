import { defineProject } from 'vitest/config'

// Real processes, npm installs and a registry on a busy machine: generous timeouts (the steps have their own bounds).
export default defineProject({
  test: { name: 'publish-check', include: ['test/**/*.test.ts'], testTimeout: 420_000, hookTimeout: 900_000 },
})
