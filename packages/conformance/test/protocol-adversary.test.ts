// A scenario with a 'protocol' adversary never runs (and so never passes) without one.
import type { ProtocolFactory } from '@synod/core'
import { describe, expect, it } from 'vitest'
import type { AdversaryContext } from '../src/cluster.js'
import { MissingAdversaryError } from '../src/execute-scenario.js'
import { runScenario } from '../src/run-scenario.js'
import { needsProtocolAdversary, scenarioSkipReason } from '../src/scenario.js'
import { scenarioByName, scenarios } from '../src/scenarios/index.js'
import { fixedLeaderToy } from '../src/toys/index.js'
import { conformanceFailures } from '../src/vitest.js'

// The correct toy, declared byzantine so that byzantine scenarios apply to it (it gets keys, n = 4).
const byzantineToy: ProtocolFactory = { ...fixedLeaderToy, name: 'toy-byzantine', faultModel: 'byzantine' }
const scenario = scenarioByName('byzantine-protocol-adversary')!

describe("scenarios with a 'protocol' adversary", () => {
  it('are recognised, and only those', () => {
    expect(scenarios.filter(needsProtocolAdversary).map((s) => s.name)).toEqual(['byzantine-protocol-adversary'])
  })

  it('are skipped with the reason when the protocol gives no adversary, and run when it does', () => {
    expect(scenarioSkipReason(scenario, { hasAdversary: false })).toMatch(/needs the protocol's own adversary.*fault-free/)
    expect(scenarioSkipReason(scenario, { hasAdversary: true })).toBeUndefined()
    expect(scenarioSkipReason(scenarioByName('byzantine-silent')!, { hasAdversary: false })).toBeUndefined()
    expect(scenarioSkipReason(scenarioByName('membership-churn')!, { hasAdversary: true })).toMatch(/requires reconfigure/)
  })

  it('runScenario refuses to run one without the adversary instead of running it fault-free', async () => {
    await expect(runScenario({ factory: byzantineToy, scenario, seed: 1 })).rejects.toThrow(MissingAdversaryError)
    // ... and so does the body of a describeConformance test: it fails, never passes.
    await expect(conformanceFailures({ factory: byzantineToy }, scenario, [1], { shrinkRuns: 0 })).rejects.toThrow(/needs toy-byzantine's own adversary/)
  })

  it('hands the adversary the node, a seeded random stream and the attack named by the scenario', async () => {
    const calls: Array<Omit<AdversaryContext, 'factory' | 'random'>> = []
    const withAttack = { ...scenario, adversaries: [{ index: 2, behaviour: 'protocol' as const, attack: 'equivocate' }], chaosMs: 300, healMs: 600 }
    const result = await runScenario({
      factory: byzantineToy,
      scenario: withAttack,
      seed: 1,
      adversary: ({ factory, node, attack }) => {
        calls.push({ node, attack })
        return factory
      },
    })
    expect(calls).toEqual([{ node: 'n3', attack: 'equivocate' }])
    expect(result.record.correctNodes).toEqual(['n1', 'n2', 'n4'])
  })
})
