import { defineProject } from 'vitest/config'

/**
 * Test files that run alone, after every other project's files have finished (the `apps-node-alone`
 * project, sequence.groupOrder 1, one worker). Only claims about the cluster under its own load belong
 * here: `overload.test.ts` asserts that 64 clients do not depose the Raft leader, and a second test file's
 * daemons starving the same two cores is a different fault (CPU starvation, the conformance harness's
 * CPU-hog nemesis), under which any leader-based system holds elections. Measured: on CI the overload
 * test saw terms 1 → 2 beside another worker's cluster; alone, under `stress-ng --cpu 3`, it kept term 1.
 */
export const aloneTests = ['test/overload.test.ts']

export default defineProject({
  resolve: { conditions: ['@synod/source'] },
  ssr: { resolve: { conditions: ['@synod/source'] } },
  test: { name: 'apps-node', include: ['test/**/*.test.ts'], exclude: aloneTests, globalSetup: ['./test/daemon-bundle.setup.ts'], testTimeout: 120_000, hookTimeout: 180_000 },
})
