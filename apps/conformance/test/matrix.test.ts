import { fixedLeaderToy, scenarioByName } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { planMatrix } from '../src/matrix.js'
import { protocolCapabilities } from '../src/registry.js'

describe('planMatrix and capabilities', () => {
  const toy = fixedLeaderToy as ProtocolFactory<unknown>
  const scenarios = [scenarioByName('steady-state')!, scenarioByName('membership-churn')!]

  it('leaves out a scenario that requires a capability the protocol lacks, with the reason', () => {
    const plan = planMatrix([toy], scenarios, [1, 2])
    expect(plan.runs.map((r) => r.scenario.name)).toEqual(['steady-state', 'steady-state'])
    expect(plan.skipped).toEqual([{ protocol: 'toy-fixed-leader', scenario: 'membership-churn', reason: 'requires reconfigure' }])
  })

  it('runs it for a protocol that declares the capability', () => {
    const plan = planMatrix([toy], scenarios, [1], () => ['reconfigure'])
    expect(plan.runs.map((r) => r.scenario.name)).toEqual(['steady-state', 'membership-churn'])
  })

  it('the registry declares reconfigure for raft only', () => {
    expect([...protocolCapabilities]).toEqual([['raft', ['reconfigure']]])
  })
})
