import { fixedLeaderToy, scenarioByName, type ProtocolAdversary } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { planMatrix, runMatrix } from '../src/matrix.js'
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
    const plan = planMatrix([toy], scenarios, [1], () => ({ capabilities: ['reconfigure'] }))
    expect(plan.runs.map((r) => r.scenario.name)).toEqual(['steady-state', 'membership-churn'])
  })

  it("the registry declares reconfigure for raft and paxos (each in both of its read modes), from their package.json 'synod' fields", () => {
    expect([...protocolCapabilities]).toEqual([
      ['paxos', ['reconfigure']],
      ['paxos-lease', ['reconfigure']],
      ['raft', ['reconfigure']],
      ['raft-lease', ['reconfigure']],
    ])
  })

  it("plans a 'protocol' adversary scenario as skipped runs (with the reason) when the protocol supplies no adversary", async () => {
    const byzantine = { ...toy, name: 'toy-byzantine', faultModel: 'byzantine' as const }
    const scenario = scenarioByName('byzantine-protocol-adversary')!
    const plan = planMatrix([byzantine], [scenario], [1, 2])
    expect(plan.runs.map((r) => r.skip)).toEqual([expect.stringMatching(/registers none/), expect.stringMatching(/registers none/)])
    const results = await runMatrix(plan)
    expect(results.map((r) => r.verdict)).toEqual(['skipped', 'skipped'])
    const adversary: ProtocolAdversary<unknown> = ({ factory }) => factory
    const armed = planMatrix([byzantine], [scenario], [1], () => ({ adversary }))
    expect(armed.runs).toEqual([{ factory: byzantine, scenario, seed: 1, adversary }])
  })
})
