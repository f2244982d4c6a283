// membership-churn is opt-in ('reconfigure'), its steps group for shrinking,
// and a protocol without reconfigure still gets judged on the whole run.
import { describe, expect, it } from 'vitest'
import { CHECKER_NAMES } from '../src/checkers/index.js'
import { describeFailures } from '../src/describe-failures.js'
import { faultUnits, reduceScenario } from '../src/reduce.js'
import { runScenario } from '../src/run-scenario.js'
import { scenarioApplies } from '../src/scenario.js'
import { scenarioByName, scenariosFor } from '../src/scenarios/index.js'
import { fixedLeaderToy } from '../src/toys/index.js'

const churn = scenarioByName('membership-churn')!

describe('membership-churn', () => {
  it('applies only to protocols that declare the reconfigure capability', () => {
    expect(churn.requires).toEqual(['reconfigure'])
    expect(scenarioApplies(churn)).toBe(false)
    expect(scenarioApplies(churn, ['reconfigure'])).toBe(true)
    for (const model of ['crash', 'byzantine'] as const) {
      expect(scenariosFor(model).map((s) => s.name)).not.toContain('membership-churn')
      expect(scenariosFor(model, ['reconfigure']).map((s) => s.name)).toContain('membership-churn')
    }
    // Nothing else changes for protocols without it.
    expect(scenariosFor('crash', ['reconfigure'])).toHaveLength(scenariosFor('crash').length + 1)
  })

  it('ends every removal with the node added back, so the steps that name a node shrink together', () => {
    const units = faultUnits(churn.chaos)
    const kinds = units.map((unit) => unit.map((i) => churn.chaos[i]!.kind))
    // link faults, its clearing and the crash/restart pair are units of their own; the two churns each one unit.
    expect(kinds).toContainEqual(['reconfigure', 'reconfigure', 'reconfigure'])
    expect(kinds).toContainEqual(['reconfigure', 'reconfigure', 'reconfigure', 'reconfigure'])
    expect(kinds).toContainEqual(['crash', 'restart'])
    const joint = churn.chaos.findIndex((s) => s.kind === 'reconfigure' && s.change.type === 'joint')
    expect(() => reduceScenario(churn, { faults: [joint + 1] })).toThrow(/joint-a/)
    expect(reduceScenario(churn, { faults: units.find((u) => u.includes(joint))! }).chaos).toHaveLength(4)
  })

  it('a protocol without reconfigure: the refusals are on the timeline and every checker still judges the run', async () => {
    const result = await runScenario({ factory: fixedLeaderToy, scenario: churn, seed: 1 })
    expect(result.verdict, describeFailures(result)).toBe('ok')
    expect(result.checks.map((c) => c.checker)).toEqual([...CHECKER_NAMES])
    const notes = result.record.timeline.filter((e) => e.kind === 'membership').map((e) => e.detail)
    expect(notes.filter((d) => d.endsWith(' requested'))).toHaveLength(7)
    // Removals and learner additions are refused; promoting a node that is still a voter is already in effect.
    expect(notes.filter((d) => d.includes('not supported'))).toHaveLength(5)
    expect(notes.filter((d) => / in effect \(epoch 0\)/.test(d))).toHaveLength(2)
    expect(result.opsCompleted).toBeGreaterThan(100)
  })
})
