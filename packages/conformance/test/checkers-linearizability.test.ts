// The linearizability checker must reject what is not linearizable, accept
// what is, and say 'unknown' (quickly) rather than hang or guess.
import { describe, expect, it } from 'vitest'
import { checkLinearizability, type LinearizabilityFailure } from '../src/checkers/index.js'
import type { Operation, RunRecord } from '../src/types.js'

type Span = readonly [number, number | undefined]
type Draft = Omit<Operation, 'id' | 'key'> & { key?: string }

const write = (client: number, value: string, [invokedAt, completedAt]: Span, outcome: Operation['outcome'] = 'ok'): Draft => ({
  client,
  kind: 'write',
  input: { value },
  invokedAt,
  completedAt: outcome === 'info' ? undefined : completedAt,
  outcome,
})
const read = (client: number, value: string | null, [invokedAt, completedAt]: Span, outcome: Operation['outcome'] = 'ok'): Draft => ({
  client,
  kind: 'read',
  input: {},
  invokedAt,
  completedAt: outcome === 'info' ? undefined : completedAt,
  outcome,
  ...(outcome === 'ok' ? { output: { value } } : {}),
})
const cas = (
  client: number,
  expected: string | null,
  value: string,
  applied: boolean | undefined,
  [invokedAt, completedAt]: Span,
  outcome: Operation['outcome'] = 'ok',
): Draft => ({
  client,
  kind: 'cas',
  input: { expected, value },
  invokedAt,
  completedAt: outcome === 'info' ? undefined : completedAt,
  outcome,
  ...(outcome === 'ok' && applied !== undefined ? { output: { applied } } : {}),
})
const onKey = (key: string, draft: Draft): Draft => ({ ...draft, key })

function recordOf(drafts: readonly Draft[]): RunRecord {
  const history: Operation[] = drafts.map((d, id) => ({ ...d, id, key: d.key ?? 'x' }))
  const end = Math.max(0, ...history.map((op) => op.completedAt ?? op.invokedAt)) + 10
  return {
    nodes: ['a', 'b', 'c'],
    correctNodes: ['a', 'b', 'c'],
    history,
    commits: [],
    leaders: [],
    timeline: [],
    healedAt: 0,
    endedAt: end,
    acknowledgedCommands: new Map(),
    livenessBudgetMs: 1000,
  }
}

const verdictOf = (drafts: readonly Draft[]) => checkLinearizability(recordOf(drafts)).verdict

describe('checkLinearizability rejects non-linearizable histories', () => {
  it('a stale read after a completed write', () => {
    const result = checkLinearizability(recordOf([write(0, 'a', [0, 10]), write(0, 'b', [20, 30]), read(1, 'a', [40, 50])]))
    expect(result.verdict).toBe('violation')
    const failure = result.violations[0]!.detail as LinearizabilityFailure
    expect(failure.key).toBe('x')
    expect(failure.stuck.id).toBe(2)
    expect(failure.stateBefore).toBe('b')
    expect(result.violations[0]!.message).toContain('read → "a"')
  })

  it('a read of absent after a completed write', () => {
    expect(verdictOf([write(0, 'a', [0, 10]), read(1, null, [20, 30])])).toBe('violation')
  })

  it('two reads that see two concurrent writes in opposite orders', () => {
    // Both writes overlap everything, but reader 2 sees a then b while reader 3 sees b then a.
    const history = [
      write(0, 'a', [0, 100]),
      write(1, 'b', [0, 100]),
      read(2, 'a', [10, 20]),
      read(2, 'b', [30, 40]),
      read(3, 'b', [10, 20]),
      read(3, 'a', [30, 40]),
    ]
    expect(verdictOf(history)).toBe('violation')
  })

  it('a read of a value never written, with the plain explanation', () => {
    const result = checkLinearizability(recordOf([write(0, 'a', [0, 10]), read(1, 'zzz', [20, 30])]))
    expect(result.verdict).toBe('violation')
    expect(result.violations[0]!.message).toMatch(/saw a value no operation wrote/)
    expect((result.violations[0]!.detail as LinearizabilityFailure).reason).toBe('unwritten-value')
  })

  it('a read of the value of a failed write', () => {
    expect(verdictOf([write(0, 'a', [0, 10], 'fail'), read(1, 'a', [20, 30])])).toBe('violation')
  })

  it('a cas that applied against a wrong value', () => {
    expect(verdictOf([write(0, 'a', [0, 10]), cas(1, 'b', 'c', true, [20, 30]), read(2, 'c', [40, 50])])).toBe('violation')
    // Even without a later read: the register held 'a', so cas b → c cannot have applied.
    expect(verdictOf([write(0, 'a', [0, 10]), cas(1, 'b', 'c', true, [20, 30])])).toBe('violation')
  })

  it('a cas that did not apply although the value matched', () => {
    expect(verdictOf([write(0, 'a', [0, 10]), cas(1, 'a', 'c', false, [20, 30])])).toBe('violation')
  })

  it('a write lost at the end: the final read sees the older value', () => {
    const history = [write(0, 'a', [0, 10]), read(1, 'a', [15, 20]), write(2, 'b', [30, 40]), read(1, 'a', [100, 110])]
    const result = checkLinearizability(recordOf(history))
    expect(result.verdict).toBe('violation')
    expect((result.violations[0]!.detail as LinearizabilityFailure).stuck.id).toBe(3)
  })

  it('reports each broken key, and only those', () => {
    const history = [
      onKey('good', write(0, 'a', [0, 10])),
      onKey('good', read(1, 'a', [20, 30])),
      onKey('bad', write(2, 'a', [0, 10])),
      onKey('bad', write(2, 'b', [20, 30])),
      onKey('bad', read(3, 'a', [40, 50])),
    ]
    const result = checkLinearizability(recordOf(history))
    expect(result.violations.map((v) => (v.detail as LinearizabilityFailure).key)).toEqual(['bad'])
    expect(result.violations[0]!.message).toMatch(/^key bad:/)
  })
})

describe('checkLinearizability accepts linearizable histories', () => {
  it('the empty history and a read of the initial absent value', () => {
    expect(verdictOf([])).toBe('ok')
    expect(verdictOf([read(0, null, [0, 5])])).toBe('ok')
  })

  it('concurrent overlapping write and read, in either order', () => {
    expect(verdictOf([write(0, 'a', [0, 10]), write(1, 'b', [20, 50]), read(2, 'a', [25, 30])])).toBe('ok')
    expect(verdictOf([write(0, 'a', [0, 10]), write(1, 'b', [20, 50]), read(2, 'b', [25, 30])])).toBe('ok')
  })

  it('two concurrent writes seen in the same order by every reader', () => {
    const history = [
      write(0, 'a', [0, 100]),
      write(1, 'b', [0, 100]),
      read(2, 'b', [10, 20]),
      read(2, 'a', [30, 40]),
      read(3, 'b', [10, 20]),
      read(3, 'a', [30, 40]),
    ]
    expect(verdictOf(history)).toBe('ok')
  })

  it('an info write that takes effect late, long after its invocation', () => {
    const history = [write(0, 'a', [0, undefined], 'info'), read(1, null, [100, 110]), read(1, null, [200, 210]), read(1, 'a', [500, 510])]
    expect(verdictOf(history)).toBe('ok')
  })

  it('an info write that never takes effect', () => {
    const history = [write(0, 'a', [0, 10]), write(1, 'b', [20, undefined], 'info'), read(2, 'a', [100, 110]), read(2, 'a', [300, 310])]
    expect(verdictOf(history)).toBe('ok')
  })

  it('an info write cannot take effect before its invocation', () => {
    expect(verdictOf([read(1, 'a', [0, 10]), write(0, 'a', [20, undefined], 'info')])).toBe('violation')
  })

  it('a failed write is never used', () => {
    expect(verdictOf([write(0, 'a', [0, 10]), write(1, 'b', [20, 30], 'fail'), read(2, 'a', [40, 50])])).toBe('ok')
  })

  it('cas applied and not applied, and an info cas that applied', () => {
    const history = [
      write(0, 'a', [0, 10]),
      cas(1, 'a', 'b', true, [20, 30]),
      cas(2, 'a', 'c', false, [40, 50]),
      read(3, 'b', [60, 70]),
      cas(1, 'b', 'd', undefined, [80, undefined], 'info'),
      read(3, 'd', [200, 210]),
    ]
    expect(verdictOf(history)).toBe('ok')
  })

  it('a cas on the absent initial value', () => {
    expect(verdictOf([cas(0, null, 'a', true, [0, 10]), read(1, 'a', [20, 30])])).toBe('ok')
  })

  it('touching operations (one completes as the next is invoked) count as concurrent', () => {
    expect(verdictOf([write(0, 'a', [0, 10]), read(1, null, [10, 20])])).toBe('ok')
  })
})

/** A deterministic PRNG (mulberry32) so generated histories are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A realistic history from a simulated linearizable register: each client
 * runs one operation at a time; each operation takes effect at a random
 * instant inside its interval, applied in time order.
 */
function simulatedHistory(random: () => number, clients: number, keys: number, operations: number): Draft[] {
  type Pending = { draft: Draft; effectAt: number; key: string }
  const pending: Pending[] = []
  const freeAt = new Array<number>(clients).fill(0)
  for (let i = 0; i < operations; i++) {
    const client = i % clients
    const start = freeAt[client]! + Math.floor(random() * 20)
    const end = start + 1 + Math.floor(random() * 60)
    freeAt[client] = end + 1
    const key = `k${Math.floor(random() * keys)}`
    const roll = random()
    const kind: Operation['kind'] = roll < 0.4 ? 'read' : roll < 0.6 ? 'cas' : 'write'
    pending.push({ draft: { client, key, kind, input: {}, invokedAt: start, completedAt: end, outcome: 'ok' }, effectAt: start + random() * (end - start), key })
  }
  const registers = new Map<string, string | null>()
  let counter = 0
  for (const p of [...pending].sort((a, b) => a.effectAt - b.effectAt)) {
    const current = registers.get(p.key) ?? null
    if (p.draft.kind === 'read') p.draft = { ...p.draft, output: { value: current } }
    else if (p.draft.kind === 'write') {
      const value = `v${counter++}`
      registers.set(p.key, value)
      p.draft = { ...p.draft, input: { value } }
    } else {
      const value = `v${counter++}`
      const expected = random() < 0.6 ? current : 'stale'
      const applied = expected === current
      if (applied) registers.set(p.key, value)
      p.draft = { ...p.draft, input: { expected, value }, output: { applied } }
    }
  }
  return pending.map((p) => p.draft)
}

describe('checkLinearizability is bounded and fast', () => {
  it('gives up with verdict unknown on a pathological history and a tiny budget, quickly', () => {
    // 14 writes all concurrent with each other and with 30 reads that each see one of them:
    // the search has to consider many interleavings.
    const history: Draft[] = []
    for (let c = 0; c < 14; c++) history.push(write(c, `w${c}`, [0, 1000]))
    for (let r = 0; r < 30; r++) history.push(read(100 + r, `w${(r * 5) % 14}`, [10 + r * 30, 20 + r * 30]))
    const started = performance.now()
    const result = checkLinearizability(recordOf(history), { stepBudget: 500 })
    expect(performance.now() - started).toBeLessThan(200)
    expect(result.verdict).toBe('unknown')
    expect(result.violations).toEqual([])
    expect(result.note).toMatch(/budget of 500 steps/)
    expect(result.note).toContain('x')
  })

  it('a violation on another key still wins over unknown', () => {
    const history: Draft[] = [onKey('bad', write(0, 'a', [0, 10])), onKey('bad', write(0, 'b', [20, 30])), onKey('bad', read(1, 'a', [40, 50]))]
    for (let c = 0; c < 14; c++) history.push(write(10 + c, `w${c}`, [0, 1000]))
    for (let r = 0; r < 30; r++) history.push(read(100 + r, `w${(r * 5) % 14}`, [10 + r * 30, 20 + r * 30]))
    const result = checkLinearizability(recordOf(history), { stepBudget: 500 })
    expect(result.verdict).toBe('violation')
    expect(result.note).toMatch(/undecided/)
  })

  it('checks a realistic history (300 ops, 3 keys, 5 clients) in well under a second', () => {
    const random = prng(42)
    for (let round = 0; round < 3; round++) {
      const history = simulatedHistory(random, 5, 3, 300)
      const started = performance.now()
      const result = checkLinearizability(recordOf(history))
      const elapsed = performance.now() - started
      expect(result.verdict).toBe('ok')
      expect(elapsed).toBeLessThan(500)
    }
  })

  it('finds a single corrupted read in a realistic history', () => {
    const history = simulatedHistory(prng(7), 5, 3, 300)
    // Make the last read of some key return the value of that key's first write: stale by then.
    const firstWrite = history.find((d) => d.kind === 'write')!
    const lastIndex = history.findLastIndex((d) => d.kind === 'read' && d.key === firstWrite.key && d.output?.value !== firstWrite.input.value)
    const writesBefore = history.filter((d, i) => i < lastIndex && d.key === firstWrite.key && d.kind !== 'read' && d.completedAt! < history[lastIndex]!.invokedAt)
    expect(writesBefore.length).toBeGreaterThan(1)
    history[lastIndex] = { ...history[lastIndex]!, output: { value: firstWrite.input.value! } }
    const result = checkLinearizability(recordOf(history))
    expect(result.verdict).toBe('violation')
    expect((result.violations[0]!.detail as LinearizabilityFailure).key).toBe(firstWrite.key)
  })
})
