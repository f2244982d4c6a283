// Dogfood the vitest entry point as a protocol package would.
import { describe, expect, it } from 'vitest'
import { scenarioByName } from '../src/scenarios/index.js'
import { commitsWithoutQuorumToy, fixedLeaderToy } from '../src/toys/index.js'
import { conformanceFailures, conformanceSkipReason, describeConformance, shrinkRunsFromEnvironment } from '../src/vitest.js'

describeConformance({
  factory: fixedLeaderToy,
  seeds: [7],
  scenarios: ['steady-state', 'lossy-network', 'crash-all-and-restart'],
})

// What a failing describeConformance test reports, without registering a failing test.

describe('conformanceFailures (the body of each describeConformance test)', () => {
  it('is empty when every seed passes, without shrinking anything', async () => {
    const failures = await conformanceFailures({ factory: fixedLeaderToy }, scenarioByName('steady-state')!, [1, 2], { shrinkRuns: 30 })
    expect(failures).toEqual([])
  })

  it('describes every failing seed and shrinks only the first one', { timeout: 30_000 }, async () => {
    const failures = await conformanceFailures({ factory: commitsWithoutQuorumToy }, scenarioByName('leader-isolated-then-healed')!, [1, 2], {
      shrinkRuns: 30,
    })
    expect(failures).toHaveLength(2)
    expect(failures[0]).toContain('reproduce: pnpm synod-conformance --protocol toy-commits-without-quorum --scenario leader-isolated-then-healed --seed 1')
    expect(failures[0]).toMatch(/reproduce shrunk: pnpm synod-conformance .* --seed 1 .*--max-ops \d+/)
    expect(failures[0]).toContain('✗ [agreement]')
    expect(failures[1]).toContain('--seed 2')
    expect(failures[1]).not.toContain('shrunk')
  })

  it('does not shrink when told not to', async () => {
    const failures = await conformanceFailures({ factory: commitsWithoutQuorumToy }, scenarioByName('leader-isolated-then-healed')!, [1], { shrinkRuns: 0 })
    expect(failures).toHaveLength(1)
    expect(failures[0]).not.toContain('shrunk')
  })

  it('reads the shrink budget from SYNOD_CONFORMANCE_SHRINK', () => {
    const saved = process.env['SYNOD_CONFORMANCE_SHRINK']
    try {
      delete process.env['SYNOD_CONFORMANCE_SHRINK']
      expect(shrinkRunsFromEnvironment()).toBe(30)
      process.env['SYNOD_CONFORMANCE_SHRINK'] = '0'
      expect(shrinkRunsFromEnvironment()).toBe(0)
      process.env['SYNOD_CONFORMANCE_SHRINK'] = '12'
      expect(shrinkRunsFromEnvironment()).toBe(12)
      process.env['SYNOD_CONFORMANCE_SHRINK'] = 'lots'
      expect(() => shrinkRunsFromEnvironment()).toThrow(/SYNOD_CONFORMANCE_SHRINK/)
    } finally {
      if (saved === undefined) delete process.env['SYNOD_CONFORMANCE_SHRINK']
      else process.env['SYNOD_CONFORMANCE_SHRINK'] = saved
    }
  })
})

describe('work in progress (a scaffold that still fails everything must not break pnpm test)', () => {
  const steady = scenarioByName('steady-state')!
  it('skips every scenario of a work-in-progress protocol, unless SYNOD_CONFORMANCE_WIP=1', () => {
    const saved = process.env['SYNOD_CONFORMANCE_WIP']
    try {
      delete process.env['SYNOD_CONFORMANCE_WIP']
      expect(conformanceSkipReason({ factory: commitsWithoutQuorumToy, workInProgress: true }, steady)).toMatch(/^work in progress/)
      expect(conformanceSkipReason({ factory: commitsWithoutQuorumToy, workInProgress: false }, steady)).toBeUndefined()
      expect(conformanceSkipReason({ factory: commitsWithoutQuorumToy }, steady)).toBeUndefined()
      process.env['SYNOD_CONFORMANCE_WIP'] = '1'
      expect(conformanceSkipReason({ factory: commitsWithoutQuorumToy, workInProgress: true }, steady)).toBeUndefined()
    } finally {
      if (saved === undefined) delete process.env['SYNOD_CONFORMANCE_WIP']
      else process.env['SYNOD_CONFORMANCE_WIP'] = saved
    }
  })

  it('keeps the other reasons first: a skip by name, a missing capability', () => {
    const churn = scenarioByName('membership-churn')!
    expect(conformanceSkipReason({ factory: fixedLeaderToy, workInProgress: true, skip: { 'steady-state': 'why' } }, steady)).toBe('why')
    expect(conformanceSkipReason({ factory: fixedLeaderToy, workInProgress: true }, churn)).toMatch(/requires reconfigure/)
  })
})
