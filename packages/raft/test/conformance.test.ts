import { executeScenario, scenarioByName } from '@synod/conformance'
import { describe, expect, it } from 'vitest'
import { describeConformance } from '@synod/conformance/vitest'
import { raft } from '../src/index.js'

describeConformance({ factory: raft })

// The same suite with aggressive compaction, so lagging and restarted nodes
// take the snapshot path (InstallSnapshot in chunks, restore from a stored snapshot).
describeConformance({
  factory: raft,
  protocolOptions: { snapshotThreshold: 16, snapshotChunkBytes: 512 },
  scenarios: ['slow-node-catches-up', 'rolling-crash-restart', 'crash-all-and-restart', 'lossy-network'],
})

describe('the snapshot scenarios really take the snapshot path', () => {
  it('a lagging node installs a snapshot from the leader in slow-node-catches-up', async () => {
    const scenario = scenarioByName('slow-node-catches-up')!
    const { record } = await executeScenario({ factory: raft, protocolOptions: { snapshotThreshold: 16, snapshotChunkBytes: 512 }, scenario, seed: 1 })
    const installs = record.timeline.filter((e) => e.detail.startsWith('snapshot-installed'))
    expect(installs.length).toBeGreaterThan(0)
  })
})
