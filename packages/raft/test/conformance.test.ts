import { checkAll, executeScenario, scenarioByName } from '@synod/conformance'
import type { ProtocolContext } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { describeConformance } from '@synod/conformance/vitest'
import { followerReadTesting } from '../src/follower-reads.js'
import { raft, type RaftNode } from '../src/index.js'

describeConformance({ factory: raft, capabilities: ['reconfigure'] })

// The same suite with aggressive compaction, so lagging and restarted nodes
// take the snapshot path (InstallSnapshot in chunks, restore from a stored snapshot):
// no trailing log, so a follower only a little behind is sent a snapshot too.
describeConformance({
  factory: raft,
  protocolOptions: { snapshotThreshold: 16, snapshotCatchUpEntries: 0, snapshotChunkBytes: 512 },
  scenarios: ['slow-node-catches-up', 'rolling-crash-restart', 'crash-all-and-restart', 'lossy-network'],
})

// Apply pacing at 2 entries per batch (the applied index trails the commit index most of the time)
// and a trailing log of 8 entries behind compaction every 16: catch-up from the window, snapshots
// beyond it, restarts and membership changes while applies are spread over batches.
describeConformance({
  factory: raft,
  capabilities: ['reconfigure'],
  protocolOptions: { maxApplyEntriesPerBatch: 2, snapshotThreshold: 16, snapshotCatchUpEntries: 8 },
  scenarios: ['leader-crash', 'rolling-crash-restart', 'slow-node-catches-up', 'lossy-network', 'membership-churn', 'crash-all-and-restart'],
})

// Lease reads (§6.4.1) against the scenarios where a leader is cut off, paused, restarted or its clock
// drifts: the linearizability checker sees any stale read. (The old lease failed paused-leader in 9 of 10 seeds.)
describeConformance({
  factory: raft,
  protocolOptions: { readMode: 'lease' },
  scenarios: [
    'leader-isolated-then-healed',
    'minority-partition',
    'flapping-partitions',
    'rolling-crash-restart',
    'clock-skew',
    'clock-drift-isolated-leader',
    'paused-leader',
  ],
})

describe('the snapshot scenarios really take the snapshot path', () => {
  it('a lagging node installs a snapshot from the leader in slow-node-catches-up', async () => {
    const scenario = scenarioByName('slow-node-catches-up')!
    const { record } = await executeScenario({ factory: raft, protocolOptions: { snapshotThreshold: 16, snapshotCatchUpEntries: 0, snapshotChunkBytes: 512 }, scenario, seed: 1 })
    const installs = record.timeline.filter((e) => e.detail.startsWith('snapshot-installed'))
    expect(installs.length).toBeGreaterThan(0)
  })
})

describe('membership-churn really changes the membership', () => {
  it('every change takes effect, epochs advance and the run ends in the original membership', async () => {
    const { record } = await executeScenario({ factory: raft, scenario: scenarioByName('membership-churn')!, seed: 1 })
    const requests = record.timeline.filter((e) => e.kind === 'membership' && e.node === undefined)
    const asked = requests.filter((e) => e.detail.endsWith(' requested'))
    const done = requests.filter((e) => / (committed at index|in effect) /.test(e.detail))
    expect(asked.map((e) => e.detail.split(' ')[1])).toEqual(['remove', 'add-learner', 'add-voter', 'joint(remove', 'add-learner', 'add-learner', 'joint(add-voter'])
    expect(done).toHaveLength(asked.length)
    for (const node of record.nodes) {
      const seen = record.timeline.filter((e) => e.kind === 'membership' && e.node === node).map((e) => e.detail)
      // Epochs only grow within one incarnation (a restarted node replays its configurations from its log).
      let previous = -1
      for (const e of record.timeline.filter((e) => e.node === node && (e.kind === 'membership' || e.kind === 'restart'))) {
        const epoch = e.kind === 'restart' ? -1 : Number(/^epoch (\d+)/.exec(e.detail)![1])
        if (e.kind === 'membership') expect(epoch).toBeGreaterThan(previous)
        previous = epoch
      }
      expect(Number(/^epoch (\d+)/.exec(seen.at(-1)!)![1])).toBeGreaterThanOrEqual(7)
      const last = seen.at(-1)!
      expect(last).toMatch(/ learners -$/)
      expect(/voters (\S+)/.exec(last)![1]!.split(',').sort()).toEqual(['n1', 'n2', 'n3'])
    }
    expect(seenJoint(record.timeline)).toBe(true)
    // The checkers judge the whole history, changes included: every node converged on one log.
    const finalIndexes = record.nodes.map((node) => Math.max(...record.commits.filter((c) => c.node === node).map((c) => c.index)))
    expect(new Set(finalIndexes).size).toBe(1)
  })
})

function seenJoint(timeline: ReadonlyArray<{ kind: string; detail: string }>): boolean {
  return timeline.some((e) => e.kind === 'membership' && e.detail.includes(' outgoing '))
}

// Follower reads (issue 16 item 7): a quarter of the workload's reads go to a random node, so
// followers serve linearizable reads in these runs and the linearizability checker judges them.
describe('the conformance workload exercises follower reads', () => {
  /** raft, counting reads served (ctx.serveRead) while the serving node is not the leader. */
  function countingFollowerReads(): { factory: typeof raft; served: () => number } {
    let served = 0
    const factory: typeof raft = {
      ...raft,
      create(ctx, options) {
        const wrapped: ProtocolContext = Object.create(ctx) as ProtocolContext
        // Called only once the node runs, after `node` is set.
        wrapped.serveRead = (client) => {
          if (node.status().role === 'follower') served++
          ctx.serveRead(client)
        }
        const node: RaftNode = raft.create(wrapped, options)
        return node
      },
    }
    return { factory, served: () => served }
  }

  for (const name of ['minority-partition', 'leader-isolated-then-healed']) {
    it(`followers serve reads in ${name} and every check holds`, async () => {
      const counting = countingFollowerReads()
      const { record } = await executeScenario({ factory: counting.factory, scenario: scenarioByName(name)!, seed: 1 })
      expect(counting.served()).toBeGreaterThan(0)
      expect(checkAll(record).filter((r) => r.verdict === 'violation')).toEqual([])
    }, 60_000)
  }

  // Without CheckQuorum an old leader cut off on the minority side keeps leading it: followers there
  // ask it for read indexes. Only its quorum round keeps their reads fresh.
  it('minority-partition without CheckQuorum: linearizable with the quorum round, a stale read without it (test switch)', async () => {
    const scenario = scenarioByName('minority-partition')!
    const counting = countingFollowerReads()
    // Seed 2: with the parallel leader append (ADR 0017) the naive read at seed 1 happens not to be stale; seeds 2 and 4-8 are.
    const real = await executeScenario({ factory: counting.factory, protocolOptions: { checkQuorum: false }, scenario, seed: 2 })
    expect(counting.served()).toBeGreaterThan(0)
    expect(checkAll(real.record).filter((r) => r.verdict === 'violation')).toEqual([])
    followerReadTesting.skipLeaderConfirmation = true
    try {
      const naive = await executeScenario({ factory: raft, protocolOptions: { checkQuorum: false }, scenario, seed: 2 })
      expect(checkAll(naive.record).find((r) => r.checker === 'linearizability')?.verdict).toBe('violation')
    } finally {
      followerReadTesting.skipLeaderConfirmation = false
    }
  }, 60_000)
})
