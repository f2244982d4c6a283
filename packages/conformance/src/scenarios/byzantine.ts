import type { Scenario } from '../scenario.js'

/**
 * Scenarios for byzantine protocols: at most f adversaries (the harness
 * refuses more). Adversaries are never counted as correct nodes, so the
 * safety checkers judge only the others.
 */
export const byzantineScenarios: readonly Scenario[] = [
  {
    name: 'byzantine-silent',
    description: 'One replica (the initial primary) says nothing at all; the rest must make progress without it.',
    faultModel: 'byzantine',
    adversaries: [{ index: 0, behaviour: 'silent' }],
    chaos: [],
    chaosMs: 2000,
    healMs: 2500,
  },
  {
    name: 'byzantine-replay',
    description: 'One replica re-sends its own old messages to random peers.',
    faultModel: 'byzantine',
    adversaries: [{ index: 1, behaviour: 'replay' }],
    chaos: [],
    chaosMs: 2000,
    healMs: 2000,
  },
  {
    name: 'byzantine-corrupt',
    description: 'The primary flips bytes in what it sends: forged signatures and wrong digests must be rejected.',
    faultModel: 'byzantine',
    adversaries: [{ index: 0, behaviour: 'corrupt' }],
    chaos: [],
    chaosMs: 2000,
    healMs: 2500,
  },
  {
    name: 'byzantine-twins',
    description: 'Twins: a second replica runs with the same key and NodeId as the primary; both send and both receive.',
    faultModel: 'byzantine',
    adversaries: [{ index: 0, behaviour: 'twin' }],
    chaos: [],
    chaosMs: 2000,
    healMs: 2000,
  },
  {
    name: 'byzantine-protocol-adversary',
    description: 'The protocol package’s own adversary (equivocation, double votes, inflated views) runs on one replica.',
    faultModel: 'byzantine',
    adversaries: [{ index: 0, behaviour: 'protocol' }],
    chaos: [],
    chaosMs: 2000,
    healMs: 2500,
  },
  {
    name: 'byzantine-with-crash',
    description: 'A replaying adversary while a correct replica crashes and restarts: f faults in total, so still live once it is back.',
    faultModel: 'byzantine',
    adversaries: [{ index: 3, behaviour: 'replay' }],
    chaos: [
      { at: 600, kind: 'crash', target: { index: 1 } },
      { at: 1200, kind: 'restart', target: { index: 1 } },
    ],
    chaosMs: 2000,
    healMs: 2500,
    nodes: 7,
  },
]
