// The conformance suite: every shipped crash scenario, seeds 1..3 (SYNOD_CONFORMANCE_SEEDS=N for more),
// membership-churn included (paxos has the 'reconfigure' capability: ADR 0014).
import { executeScenario, scenarioByName } from '@synod/conformance'
import { describeConformance } from '@synod/conformance/vitest'
import { describe, expect, it } from 'vitest'
import { paxos } from '../src/index.js'

describeConformance({ factory: paxos, capabilities: ['reconfigure'] })

// Aggressive truncation and small chunks, and no trailing log, so lagging and restarted replicas take the
// chunked snapshot path.
describeConformance({
  factory: paxos,
  protocolOptions: { snapshotEvery: 16, snapshotCatchUpSlots: 0, snapshotChunkBytes: 512 },
  scenarios: ['slow-node-catches-up', 'rolling-crash-restart', 'crash-all-and-restart', 'lossy-network'],
})

// The same truncation with the default trailing log (5000 slots): the lagging and restarted replicas of
// these scenarios learn the truncated slots from the window instead (no snapshot installed: below).
describeConformance({
  factory: paxos,
  protocolOptions: { snapshotEvery: 16, snapshotChunkBytes: 512 },
  scenarios: ['slow-node-catches-up', 'rolling-crash-restart'],
})

// Leader leases against scenarios where a leader is cut off, paused or its clock drifts:
// the linearizability checker sees any stale read.
describeConformance({
  factory: paxos,
  protocolOptions: { readMode: 'lease' },
  seeds: [1],
  // (three scenarios, one seed, to keep CI cheap; the runner's paxos-lease covers them all: docs/conformance)
  scenarios: ['leader-isolated-then-healed', 'clock-drift-isolated-leader', 'paused-leader'],
})

describe('the snapshot scenario really takes the snapshot path', () => {
  it('a lagging replica installs a snapshot in slow-node-catches-up', async () => {
    const { record } = await executeScenario({ factory: paxos, protocolOptions: { snapshotEvery: 16, snapshotCatchUpSlots: 0, snapshotChunkBytes: 512 }, scenario: scenarioByName('slow-node-catches-up')!, seed: 1 })
    expect(record.timeline.filter((e) => e.detail.startsWith('snapshot-installed')).length).toBeGreaterThan(0)
  })

  it('with the trailing log the same replica learns the truncated slots and installs no snapshot', async () => {
    const { record } = await executeScenario({ factory: paxos, protocolOptions: { snapshotEvery: 16, snapshotChunkBytes: 512 }, scenario: scenarioByName('slow-node-catches-up')!, seed: 1 })
    expect(record.timeline.filter((e) => e.detail.startsWith('snapshot-installed')).length).toBe(0)
  })
})
