// Durability and liveness against records they must reject and records they must accept.
import { describe, expect, it } from 'vitest'
import { checkDurability, checkLiveness } from '../src/checkers/index.js'
import type { CommitRecord, Operation, RunRecord } from '../src/types.js'

const c = (node: string, incarnation: number, index: number, digest: string, at = index * 10): CommitRecord => ({ node, incarnation, index, digest, at })

function op(id: number, invokedAt: number, completedAt: number | undefined, outcome: Operation['outcome'] = 'ok'): Operation {
  return { id, client: id % 3, key: 'k', kind: 'write', input: { value: `v${id}` }, invokedAt, completedAt, outcome }
}

function recordOf(parts: Partial<RunRecord>): RunRecord {
  return {
    nodes: ['a', 'b', 'c'],
    correctNodes: ['a', 'b', 'c'],
    history: [],
    commits: [],
    leaders: [],
    timeline: [],
    healedAt: 1000,
    endedAt: 3000,
    acknowledgedCommands: new Map(),
    livenessBudgetMs: 500,
    ...parts,
  }
}

describe('checkDurability', () => {
  const history = [op(0, 0, 20), op(1, 10, 40)]
  const acknowledged = new Map([
    [0, 'w0'],
    [1, 'w1'],
  ])

  it('accepts acknowledged writes committed by every node that reached their index, snapshots and laggards included', () => {
    const commits = [
      c('a', 0, 1, 'w0'),
      c('a', 0, 2, 'w1'),
      c('b', 0, 1, 'w0'),
      // b crashed and restarted from a snapshot covering 1..2: it never re-commits them.
      c('b', 1, 3, 'other'),
      c('a', 0, 3, 'other'),
      // c lags: it only reached index 1.
      c('c', 0, 1, 'w0'),
    ]
    expect(checkDurability(recordOf({ history, commits, acknowledgedCommands: acknowledged })).verdict).toBe('ok')
  })

  it('rejects an acknowledged write no correct node committed (lost)', () => {
    const commits = [c('a', 0, 1, 'w0'), c('b', 0, 1, 'w0')]
    const result = checkDurability(recordOf({ history, commits, acknowledgedCommands: acknowledged }))
    expect(result.verdict).toBe('violation')
    expect(result.violations).toHaveLength(1)
    expect(result.violations[0]!.message).toMatch(/^write 1 of client 1 on k .* was lost/)
  })

  it('rejects an acknowledged write replaced at its index after a crash', () => {
    const commits = [c('a', 0, 1, 'w0'), c('a', 0, 2, 'w1'), c('b', 0, 1, 'w0'), c('b', 1, 1, 'w0'), c('b', 1, 2, 'intruder')]
    const result = checkDurability(recordOf({ history, commits, acknowledgedCommands: acknowledged }))
    expect(result.verdict).toBe('violation')
    expect(result.violations[0]!.message).toMatch(/^write 1 .* was replaced at index 2: b#1 committed intruder/)
  })

  it('only trusts correct nodes', () => {
    // The only commit of w1 is by a byzantine node: lost as far as the correct nodes know.
    const commits = [c('a', 0, 1, 'w0'), c('c', 0, 2, 'w1')]
    const result = checkDurability(recordOf({ history, commits, acknowledgedCommands: acknowledged, correctNodes: ['a', 'b'] }))
    expect(result.violations.map((v) => (v.detail as { operation: number }).operation)).toEqual([1])
  })
})

describe('checkLiveness', () => {
  it('accepts operations after the heal that complete within the budget', () => {
    const history = [op(0, 100, undefined, 'info'), op(1, 900, 1200), op(2, 1000, 1400), op(3, 1100, 1500, 'fail')]
    expect(checkLiveness(recordOf({ history })).verdict).toBe('ok')
  })

  it('rejects an operation invoked after the heal that its client gave up on', () => {
    // Client 1 (op 1) got no answer and moved on to op 4.
    const history = [op(0, 1000, 1100), op(1, 1200, undefined, 'info'), op(4, 2800, 2810)]
    const result = checkLiveness(recordOf({ history }))
    expect(result.verdict).toBe('violation')
    expect(result.violations).toHaveLength(1)
    expect(result.violations[0]!.message).toMatch(/^write 1 .* got no answer before its client gave up/)
  })

  it('rejects an operation still open a whole budget after its invocation', () => {
    const result = checkLiveness(recordOf({ history: [op(0, 1000, 1100), op(1, 1200, undefined, 'info')], endedAt: 1700 }))
    expect(result.violations[0]!.message).toMatch(/^write 1 .* was still open 500 ms later/)
  })

  it('does not judge an operation the end of the run cut short, but says so', () => {
    const result = checkLiveness(recordOf({ history: [op(0, 1000, 1100), op(1, 1200, undefined, 'info')], endedAt: 1650 }))
    expect(result.verdict).toBe('ok')
    expect(result.note).toMatch(/1 operation\(s\) still open when the run ended/)
  })

  it('rejects an operation that completes too late, counting from the heal for older ones', () => {
    const late = checkLiveness(recordOf({ history: [op(0, 1100, 1700)] }))
    expect(late.violations[0]!.message).toMatch(/took 600 ms after its invocation \(budget 500 ms\)/)
    const pendingAtHeal = checkLiveness(recordOf({ history: [op(0, 100, 1501), op(1, 1100, 1200)] }))
    expect(pendingAtHeal.violations[0]!.message).toMatch(/took 501 ms after the heal/)
  })

  it('rejects a run with no successful operation after the heal', () => {
    const result = checkLiveness(recordOf({ history: [op(0, 100, 900), op(1, 1100, 1200, 'fail')] }))
    expect(result.verdict).toBe('violation')
    expect(result.violations[0]!.message).toMatch(/no operation completed successfully after the heal/)
  })
})
