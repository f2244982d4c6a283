// The checkers must bite: every deliberately broken toy protocol is caught
// in a scenario where its bug shows, and the correct toy passes.
import { describe, expect, it } from 'vitest'
import { describeFailures } from '../src/describe-failures.js'
import { runScenario } from '../src/run-scenario.js'
import { scenarioByName } from '../src/scenarios/index.js'
import {
  acksBeforePersistingToy,
  commitsWithoutQuorumToy,
  divergentCommitToy,
  fixedLeaderToy,
  forgetsOnRestartToy,
  staleReadsToy,
} from '../src/toys/index.js'

const scenario = (name: string) => scenarioByName(name)!

describe('the correct toy passes the scenarios it supports', () => {
  it.each(['steady-state', 'lossy-network', 'leader-crash', 'crash-all-and-restart', 'minority-partition', 'rolling-crash-restart'])(
    '%s',
    async (name) => {
      for (const seed of [1, 2]) {
        const result = await runScenario({ factory: fixedLeaderToy, scenario: scenario(name), seed })
        expect(result.verdict, describeFailures(result)).toBe('ok')
        expect(result.reproduce).toBe(`pnpm synod-conformance --protocol toy-fixed-leader --scenario ${name} --seed ${seed}`)
      }
    },
  )
})

describe('broken toys are caught', () => {
  it.each([
    [commitsWithoutQuorumToy, 'leader-isolated-then-healed', ['agreement', 'stability']],
    [divergentCommitToy, 'steady-state', ['agreement', 'one-leader-per-term']],
    [forgetsOnRestartToy, 'leader-crash', ['stability', 'agreement', 'durability']],
    [acksBeforePersistingToy, 'crash-all-and-restart', ['durability', 'stability', 'linearizability']],
    [staleReadsToy, 'minority-partition', ['linearizability']],
  ] as const)('%s under %s', async (factory, name, expectedCheckers) => {
    const result = await runScenario({ factory, scenario: scenario(name), seed: 1 })
    expect(result.verdict).toBe('violation')
    const violated = result.checks.filter((c) => c.verdict === 'violation').map((c) => c.checker)
    expect(violated.some((checker) => (expectedCheckers as readonly string[]).includes(checker)), `violated: ${violated.join(', ')}`).toBe(
      true,
    )
    expect(describeFailures(result)).toContain(`reproduce: pnpm synod-conformance --protocol ${factory.name} --scenario ${name} --seed 1`)
  })
})
