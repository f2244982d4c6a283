import { describe, expect, it } from 'vitest'
import { checkLinearizability } from '../src/checkers/index.js'
import { HistoryRecorder } from '../src/history.js'
import type { RunRecord } from '../src/types.js'

describe('HistoryRecorder', () => {
  it('records invocations and completions; unfinished operations become info', () => {
    const recorder = new HistoryRecorder()
    const w = recorder.invoke(0, 'k', 'write', { value: 'a' }, 10)
    const r = recorder.invoke(1, 'k', 'read', {}, 12)
    const lost = recorder.invoke(2, 'k', 'write', { value: 'b' }, 13)
    recorder.complete(w, 'ok', undefined, 20)
    recorder.complete(r, 'ok', { value: 'a' }, 25)
    expect(recorder.openCount).toBe(1)
    const ops = recorder.toOperations()
    expect(ops).toEqual([
      { id: w, client: 0, key: 'k', kind: 'write', input: { value: 'a' }, invokedAt: 10, completedAt: 20, outcome: 'ok' },
      { id: r, client: 1, key: 'k', kind: 'read', input: {}, invokedAt: 12, completedAt: 25, outcome: 'ok', output: { value: 'a' } },
      { id: lost, client: 2, key: 'k', kind: 'write', input: { value: 'b' }, invokedAt: 13, completedAt: undefined, outcome: 'info' },
    ])
    // The snapshot is a copy: later completions do not change it.
    recorder.complete(lost, 'fail', undefined, 40)
    expect(ops[2]!.outcome).toBe('info')
    expect(recorder.toOperations()[2]).toMatchObject({ outcome: 'fail', completedAt: 40 })
  })

  it('an info completion frees the client but leaves the operation open', () => {
    const recorder = new HistoryRecorder()
    const id = recorder.invoke(0, 'k', 'cas', { expected: null, value: 'a' }, 0)
    recorder.complete(id, 'info', undefined, 100)
    expect(recorder.toOperations()[0]).toMatchObject({ outcome: 'info', completedAt: undefined })
    expect(() => recorder.invoke(0, 'k', 'read', {}, 110)).not.toThrow()
  })

  it('refuses misuse', () => {
    const recorder = new HistoryRecorder()
    const id = recorder.invoke(0, 'k', 'read', {}, 5)
    expect(() => recorder.invoke(0, 'k', 'read', {}, 6)).toThrow(/still open/)
    expect(() => recorder.complete(id, 'ok', { value: null }, 4)).toThrow(/before its invocation/)
    recorder.complete(id, 'ok', { value: null }, 7)
    expect(() => recorder.complete(id, 'ok', { value: null }, 8)).toThrow(/already completed/)
    expect(() => recorder.complete(99, 'ok', undefined, 8)).toThrow(/no operation 99/)
  })

  it('feeds the linearizability checker', () => {
    const recorder = new HistoryRecorder()
    recorder.complete(recorder.invoke(0, 'k', 'write', { value: 'a' }, 0), 'ok', undefined, 10)
    recorder.complete(recorder.invoke(0, 'k', 'write', { value: 'b' }, 20), 'ok', undefined, 30)
    recorder.complete(recorder.invoke(1, 'k', 'read', {}, 40), 'ok', { value: 'a' }, 50)
    const record: RunRecord = {
      nodes: [],
      correctNodes: [],
      history: recorder.toOperations(),
      commits: [],
      leaders: [],
      timeline: [],
      healedAt: 0,
      endedAt: 60,
      acknowledgedCommands: new Map(),
      livenessBudgetMs: 100,
    }
    expect(checkLinearizability(record).verdict).toBe('violation')
  })
})
