// Each commit-log checker against records it must reject and records it must accept.
import { describe, expect, it } from 'vitest'
import { checkAgreement, checkAll, checkMonotonicCommit, checkOneLeaderPerTerm, checkStability, CHECKER_NAMES, MAX_REPORTED_VIOLATIONS } from '../src/checkers/index.js'
import type { CommitRecord, LeaderRecord, RunRecord } from '../src/types.js'

let clock = 0
/** node, incarnation, index, digest; times increase in the order written. */
const c = (node: string, incarnation: number, index: number, digest: string): CommitRecord => ({ node, incarnation, index, digest, at: ++clock })
const leader = (node: string, term: number): LeaderRecord => ({ node, term, at: ++clock })

function recordOf(parts: { commits?: CommitRecord[]; leaders?: LeaderRecord[]; correctNodes?: string[] }): RunRecord {
  return {
    nodes: ['a', 'b', 'c', 'd'],
    correctNodes: parts.correctNodes ?? ['a', 'b', 'c', 'd'],
    history: [],
    commits: parts.commits ?? [],
    leaders: parts.leaders ?? [],
    timeline: [],
    healedAt: 0,
    endedAt: 100,
    acknowledgedCommands: new Map(),
    livenessBudgetMs: 100,
  }
}

/** Three nodes committing the same log 1..3; b restarted (incarnation 1) from a snapshot covering 1..2. */
const cleanLog = () => [
  c('a', 0, 1, 'd1'),
  c('b', 0, 1, 'd1'),
  c('a', 0, 2, 'd2'),
  c('c', 0, 1, 'd1'),
  c('b', 1, 3, 'd3'),
  c('a', 0, 3, 'd3'),
  c('c', 0, 2, 'd2'),
  c('c', 0, 3, 'd3'),
]

describe('checkAgreement', () => {
  it('accepts nodes that commit the same digests, at their own pace and across restarts', () => {
    expect(checkAgreement(recordOf({ commits: cleanLog() })).verdict).toBe('ok')
  })

  it('rejects two correct nodes committing different digests at one index, once per index', () => {
    const result = checkAgreement(recordOf({ commits: [...cleanLog(), c('d', 0, 2, 'evil'), c('d', 0, 3, 'evil3'), c('b', 1, 2, 'evil')] }))
    expect(result.verdict).toBe('violation')
    expect(result.violations.map((v) => (v.detail as { index: number }).index)).toEqual([2, 3])
    expect(result.violations[0]!.message).toMatch(/index 2: a#0 committed d2 .* but d#0 committed evil/)
  })

  it('catches a disagreement that only shows across incarnations', () => {
    // a committed x at 5, b too; then a (restarted) commits y at 5 — a now disagrees with b.
    const result = checkAgreement(recordOf({ commits: [c('a', 0, 5, 'x'), c('b', 0, 5, 'x'), c('a', 1, 5, 'y')] }))
    expect(result.verdict).toBe('violation')
  })

  it('ignores byzantine nodes and a node disagreeing only with itself', () => {
    expect(checkAgreement(recordOf({ commits: [c('a', 0, 1, 'x'), c('d', 0, 1, 'y')], correctNodes: ['a', 'b', 'c'] })).verdict).toBe('ok')
    expect(checkAgreement(recordOf({ commits: [c('a', 0, 1, 'x'), c('a', 1, 1, 'y')] })).verdict).toBe('ok')
  })

  it('keeps the first violations and counts the rest', () => {
    const commits = Array.from({ length: 30 }, (_, i) => [c('a', 0, i + 1, `a${i}`), c('b', 0, i + 1, `b${i}`)]).flat()
    const result = checkAgreement(recordOf({ commits }))
    expect(result.violations).toHaveLength(MAX_REPORTED_VIOLATIONS)
    expect(result.note).toBe(`30 violations, the first ${MAX_REPORTED_VIOLATIONS} shown`)
  })
})

describe('checkStability', () => {
  it('accepts re-commits of the same digest after a restart', () => {
    const commits = [...cleanLog(), c('a', 1, 1, 'd1'), c('a', 1, 2, 'd2'), c('a', 1, 3, 'd3')]
    expect(checkStability(recordOf({ commits })).verdict).toBe('ok')
  })

  it('rejects a node that commits a different digest at an index after a restart', () => {
    const result = checkStability(recordOf({ commits: [...cleanLog(), c('a', 1, 2, 'forgotten'), c('a', 2, 2, 'again')] }))
    expect(result.verdict).toBe('violation')
    expect(result.violations).toHaveLength(1)
    expect(result.violations[0]!.message).toMatch(/^a changed index 2: a#0 committed d2 .*, later a#1 committed forgotten/)
  })

  it('rejects a change within one incarnation, and ignores byzantine nodes', () => {
    expect(checkStability(recordOf({ commits: [c('a', 0, 1, 'x'), c('a', 0, 1, 'y')] })).verdict).toBe('violation')
    expect(checkStability(recordOf({ commits: [c('d', 0, 1, 'x'), c('d', 0, 1, 'y')], correctNodes: ['a'] })).verdict).toBe('ok')
  })
})

describe('checkMonotonicCommit', () => {
  it('accepts strictly increasing indexes per incarnation, with gaps and a restart going back', () => {
    const commits = [c('a', 0, 1, 'x'), c('a', 0, 2, 'y'), c('a', 0, 7, 'z'), c('a', 1, 1, 'x'), c('a', 1, 2, 'y'), c('b', 0, 1, 'x')]
    expect(checkMonotonicCommit(recordOf({ commits })).verdict).toBe('ok')
  })

  it('rejects an index that goes back or repeats within one incarnation', () => {
    const back = checkMonotonicCommit(recordOf({ commits: [c('a', 0, 1, 'x'), c('a', 0, 3, 'z'), c('a', 0, 2, 'y')] }))
    expect(back.verdict).toBe('violation')
    expect(back.violations[0]!.message).toMatch(/^a#0 committed index 2 .* after index 3/)
    expect(checkMonotonicCommit(recordOf({ commits: [c('b', 2, 4, 'x'), c('b', 2, 4, 'x')] })).verdict).toBe('violation')
  })
})

describe('checkOneLeaderPerTerm', () => {
  it('accepts one leader per term, announced repeatedly', () => {
    const leaders = [leader('a', 1), leader('a', 1), leader('b', 2), leader('c', 3), leader('b', 2)]
    expect(checkOneLeaderPerTerm(recordOf({ leaders })).verdict).toBe('ok')
  })

  it('rejects two correct nodes leading the same term, once per term', () => {
    const result = checkOneLeaderPerTerm(recordOf({ leaders: [leader('a', 1), leader('b', 1), leader('c', 1), leader('c', 2)] }))
    expect(result.verdict).toBe('violation')
    expect(result.violations).toHaveLength(1)
    expect(result.violations[0]!.message).toMatch(/^term 1 has two leaders: a .* and b/)
  })

  it('ignores claims by byzantine nodes', () => {
    expect(checkOneLeaderPerTerm(recordOf({ leaders: [leader('a', 1), leader('d', 1)], correctNodes: ['a', 'b', 'c'] })).verdict).toBe('ok')
  })
})

describe('checkAll', () => {
  it('runs every checker in CHECKER_NAMES order', () => {
    const results = checkAll(recordOf({ commits: cleanLog() }))
    expect(results.map((r) => r.checker)).toEqual([...CHECKER_NAMES])
  })
})
