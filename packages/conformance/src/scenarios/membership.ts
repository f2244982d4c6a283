import type { Scenario } from '../scenario.js'

/**
 * Scenarios that change the membership during the chaos phase, for
 * protocols with the 'reconfigure' capability. Each ends with the original
 * membership restored, so every node converges and the usual checkers apply.
 */
export const membershipScenarios: readonly Scenario[] = [
  {
    name: 'membership-churn',
    description:
      'Under message loss and a follower crash, a follower is removed, added back as a learner and promoted; then two followers are removed by one joint change, re-added as learners and promoted together by another: the original membership is restored.',
    faultModel: 'any',
    nodes: 3,
    requires: ['reconfigure'],
    chaos: [
      { at: 200, kind: 'link-faults', faults: { dropRate: 0.05 } },
      { at: 300, kind: 'reconfigure', change: { type: 'remove', target: 'follower', as: 'removed' } },
      { at: 700, kind: 'reconfigure', change: { type: 'add-learner', target: { ref: 'removed' } } },
      { at: 900, kind: 'reconfigure', change: { type: 'add-voter', target: { ref: 'removed' } } },
      { at: 1200, kind: 'crash', target: 'follower', as: 'crashed' },
      { at: 1500, kind: 'restart', target: { ref: 'crashed' } },
      {
        at: 1800,
        kind: 'reconfigure',
        change: {
          type: 'joint',
          changes: [
            { type: 'remove', target: 'follower', as: 'joint-a' },
            { type: 'remove', target: 'follower', as: 'joint-b' },
          ],
        },
      },
      { at: 2100, kind: 'reconfigure', change: { type: 'add-learner', target: { ref: 'joint-a' } } },
      { at: 2200, kind: 'reconfigure', change: { type: 'add-learner', target: { ref: 'joint-b' } } },
      {
        at: 2400,
        kind: 'reconfigure',
        change: {
          type: 'joint',
          changes: [
            { type: 'add-voter', target: { ref: 'joint-a' } },
            { type: 'add-voter', target: { ref: 'joint-b' } },
          ],
        },
      },
      { at: 2800, kind: 'clear-link-faults' },
    ],
    chaosMs: 3000,
    healMs: 3000,
  },
]
