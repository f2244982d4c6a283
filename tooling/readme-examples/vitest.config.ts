import { defineProject } from 'vitest/config'

// Each README example runs as its own node process (tsx startup included): generous timeouts for a busy machine.
export default defineProject({
  test: { name: 'readme-examples', include: ['test/**/*.test.ts'], testTimeout: 180_000 },
})
