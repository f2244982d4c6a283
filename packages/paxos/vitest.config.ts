import { defineProject } from 'vitest/config'

export default defineProject({
  resolve: { conditions: ['@synod/source'] },
  ssr: { resolve: { conditions: ['@synod/source'] } },
  test: { name: 'paxos', include: ['test/**/*.test.ts'] },
})
