import { byzantineScenarios, crashScenarios, type Scenario } from '@synod/conformance'
import { describeConformance } from '@synod/conformance/vitest'
import { describe } from 'vitest'
import { hotstuff } from '../src/index.js'
import { hotstuffAdversary, hotstuffAdversaryScenarios } from '../src/adversaries/index.js'

const timing = { viewTimeoutMs: 300, retransmitMs: 150 }
const seeds = process.env['SYNOD_CONFORMANCE_SEEDS'] === undefined ? { seeds: [1] } : {}

// The shared suite (crash and byzantine scenarios, KV linearizability) at n = 4, with HotStuff's own
// adversary (equivocating leader, invalid QCs, double and far-future votes, forking leader) in
// byzantine-protocol-adversary.
describeConformance({ factory: hotstuff, nodes: 4, protocolOptions: timing, adversary: hotstuffAdversary, ...seeds, timeoutMs: 120_000 })

// HotStuff's own scenario: the forking leader alone, with leader isolations that bring about the TC-entered views it needs.
describe('hotstuff scenarios', () => {
  describeConformance({
    factory: hotstuff,
    nodes: 4,
    protocolOptions: timing,
    adversary: hotstuffAdversary,
    scenarios: [...hotstuffAdversaryScenarios],
    ...seeds,
    timeoutMs: 120_000,
  })
})

/** n = 7 tolerates f = 2: each byzantine scenario gets a second adversary (as PBFT's suite does). */
const secondAdversary: Record<string, NonNullable<Scenario['adversaries']>> = {
  // Two silent replicas with adjacent leader turns.
  'byzantine-silent': [{ index: 1, behaviour: 'silent' }],
  'byzantine-replay': [{ index: 4, behaviour: 'replay' }],
  'byzantine-corrupt': [{ index: 3, behaviour: 'corrupt' }],
  'byzantine-twins': [{ index: 1, behaviour: 'twin' }],
  'byzantine-protocol-adversary': [{ index: 5, behaviour: 'protocol' }],
}
const byzantineF2: Scenario[] = byzantineScenarios.map((s) => {
  const extra = secondAdversary[s.name]
  return extra === undefined ? s : { ...s, name: `${s.name}-f2`, adversaries: [...(s.adversaries ?? []), ...extra] }
})
const crashAtSeven = ['leader-crash', 'minority-partition', 'rolling-crash-restart', 'slow-node-catches-up']

describe('n = 7 (f = 2)', () => {
  describeConformance({
    factory: hotstuff,
    nodes: 7,
    protocolOptions: timing,
    adversary: hotstuffAdversary,
    scenarios: [...crashScenarios.filter((s) => crashAtSeven.includes(s.name)), ...byzantineF2],
    ...seeds,
    timeoutMs: 180_000,
  })
})
