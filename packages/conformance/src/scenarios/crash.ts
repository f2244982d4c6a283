import { flapping, type Scenario } from '../scenario.js'

/** Scenarios for every protocol: crash faults, partitions, lossy links, clock skew. */
export const crashScenarios: readonly Scenario[] = [
  {
    name: 'steady-state',
    description: 'No faults: every operation completes and every node agrees.',
    faultModel: 'any',
    chaos: [],
    chaosMs: 1500,
    healMs: 1500,
  },
  {
    name: 'leader-crash',
    description: 'The leader crashes mid-workload and restarts 600 ms later; the others must take over.',
    faultModel: 'any',
    chaos: [
      { at: 600, kind: 'crash', target: 'leader', as: 'old-leader' },
      { at: 1200, kind: 'restart', target: { ref: 'old-leader' } },
    ],
    chaosMs: 2000,
    healMs: 2000,
  },
  {
    name: 'leader-isolated-then-healed',
    description: 'The leader is cut off from everyone for a second, then the network heals; it must step down without losing or forking committed entries.',
    faultModel: 'any',
    chaos: [
      { at: 500, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
      { at: 1500, kind: 'heal' },
    ],
    chaosMs: 2000,
    healMs: 2000,
  },
  {
    name: 'minority-partition',
    description: 'A minority that holds the leader is split off; the majority elects a new leader and makes progress.',
    faultModel: 'any',
    nodes: 5,
    chaos: [{ at: 500, kind: 'partition', shape: { kind: 'minority', leaderSide: 'minority' } }],
    chaosMs: 2000,
    healMs: 2000,
  },
  {
    name: 'majority-partition',
    description: 'No side holds a quorum: no progress is expected during the partition, progress must resume after it heals.',
    faultModel: 'any',
    nodes: 5,
    chaos: [{ at: 400, kind: 'partition', shape: { kind: 'no-quorum' } }],
    chaosMs: 1600,
    healMs: 2500,
  },
  {
    name: 'flapping-partitions',
    description: 'Partitions of changing shapes (isolated leader, minority, ring, bridge) come and go every 250 ms.',
    faultModel: 'any',
    nodes: 5,
    chaos: flapping(
      [
        { kind: 'isolate', target: 'leader' },
        { kind: 'minority', leaderSide: 'majority' },
        { kind: 'ring' },
        { kind: 'bridge' },
        { kind: 'minority', leaderSide: 'minority' },
      ],
      300,
      2700,
      250,
    ),
    chaosMs: 2800,
    healMs: 2500,
  },
  {
    name: 'lossy-network',
    description: '15% loss, 5% duplication, 20% reordering and long-tailed delays on every link.',
    faultModel: 'any',
    chaos: [
      {
        at: 200,
        kind: 'link-faults',
        faults: {
          dropRate: 0.15,
          duplicateRate: 0.05,
          reorderRate: 0.2,
          reorderMaxMs: 40,
          delay: { kind: 'exponential', minMs: 1, meanMs: 8 },
        },
      },
    ],
    chaosMs: 2500,
    healMs: 2500,
  },
  {
    name: 'rolling-crash-restart',
    description: 'Every node in turn crashes (losing unsynced writes) and restarts 300 ms later.',
    faultModel: 'any',
    chaos: [0, 1, 2].flatMap((index) => [
      { at: 400 + index * 700, kind: 'crash' as const, target: { index } },
      { at: 700 + index * 700, kind: 'restart' as const, target: { index } },
    ]),
    chaosMs: 2500,
    healMs: 2000,
  },
  {
    name: 'crash-all-and-restart',
    description: 'The whole cluster crashes at once mid-workload and restarts: acknowledged writes must survive.',
    faultModel: 'any',
    chaos: [
      { at: 900, kind: 'crash-all' },
      { at: 1100, kind: 'restart-all' },
    ],
    chaosMs: 1600,
    healMs: 2000,
  },
  {
    name: 'slow-node-catches-up',
    description:
      'A follower is isolated while the others commit enough to compact their logs, then healed: it must catch up (the snapshot path). Give the protocol a low compaction threshold in protocolOptions.',
    faultModel: 'any',
    chaos: [{ at: 200, kind: 'partition', shape: { kind: 'isolate', target: 'follower' } }],
    chaosMs: 2200,
    healMs: 2500,
    workload: { clients: 6, thinkMs: [1, 10], maxOps: 400, readRatio: 0.2, casRatio: 0.1 },
  },
  {
    name: 'clock-skew',
    description: 'One node’s clock runs 1.5× fast after a jump, another 0.7× slow; timeouts must not break safety.',
    faultModel: 'any',
    chaos: [
      { at: 100, kind: 'clock-skew', target: 'leader', rate: 1.5, jumpMs: 5000 },
      { at: 100, kind: 'clock-skew', target: 'follower', rate: 0.7 },
      { at: 1200, kind: 'crash', target: 'leader', as: 'victim' },
      { at: 1500, kind: 'restart', target: { ref: 'victim' } },
    ],
    chaosMs: 2200,
    healMs: 2000,
  },
  {
    name: 'clock-drift-isolated-leader',
    description:
      'Clocks drift by 4% (the leader slow, a follower fast: the worst direction for a leader lease), then the leader is cut off twice; a lease read must never be stale.',
    // Only crash protocols (Raft) trust clocks for reads; the byzantine ones never run it.
    faultModel: 'crash',
    chaos: [
      { at: 100, kind: 'clock-skew', target: 'leader', rate: 0.96 },
      { at: 100, kind: 'clock-skew', target: 'follower', rate: 1.04 },
      { at: 600, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
      { at: 1300, kind: 'heal' },
      { at: 1600, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
      { at: 2300, kind: 'heal' },
    ],
    chaosMs: 2600,
    healMs: 2000,
  },
  {
    name: 'paused-leader',
    description: 'The leader freezes (a GC pause) for 800 ms while the others move on, then resumes with stale beliefs.',
    faultModel: 'any',
    chaos: [
      { at: 500, kind: 'pause', target: 'leader', as: 'frozen' },
      { at: 1300, kind: 'resume', target: { ref: 'frozen' } },
    ],
    chaosMs: 2000,
    healMs: 2000,
  },
]
