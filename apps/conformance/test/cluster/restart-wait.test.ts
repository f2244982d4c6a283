// The nemesis schedule after a kill-all: the next window waits until every node
// answers again, so each full restart runs a cluster the checkers can measure.
// A stand-in cluster whose restarted nodes come up after a set delay (real
// timers, short: the waits are what is measured, with generous margins).
import { describe, expect, it } from 'vitest'
import { ClusterHistory } from '../../src/cluster/history.js'
import { type FaultWindow, killsAll, NemesisRunner } from '../../src/cluster/nemesis.js'
import type { LiveCluster } from '../../src/cluster/processes.js'

type State = 'up' | 'killed' | 'starting' | 'paused'

/** Kills and restarts as LiveCluster does; a restarted node answers `upAfterMs` later (never when undefined). */
function standIn(n: number, upAfterMs: number | undefined, history: ClusterHistory) {
  const state: State[] = Array.from({ length: n }, () => 'up')
  const kills: number[] = []
  const cluster = {
    nodes: Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}` })),
    state,
    size: n,
    onUp: undefined as (() => void) | undefined,
    network: { isBlocked: () => false, heal: async () => {} },
    kill: async (i: number) => {
      state[i] = 'killed'
      kills.push(history.now())
    },
    healAll: async () => {
      const touched: Array<{ node: number; action: 'restarted' }> = []
      state.forEach((s, i) => {
        if (s !== 'killed') return
        state[i] = 'starting'
        touched.push({ node: i, action: 'restarted' })
        if (upAfterMs !== undefined)
          setTimeout(() => {
            if (state[i] === 'starting') state[i] = 'up'
          }, upAfterMs)
      })
      return touched
    },
  }
  return { cluster: cluster as unknown as LiveCluster, kills }
}

describe('NemesisRunner: a kill-all heal waits for every node', () => {
  const windows: FaultWindow[] = [
    { at: 50, healAt: 100, fault: { kind: 'kill-all' } },
    { at: 200, healAt: 250, fault: { kind: 'kill', target: { node: 0 } } },
  ]

  it('moves the windows after it by the time the restarted nodes took to answer', async () => {
    const history = new ClusterHistory()
    const { cluster, kills } = standIn(3, 600, history)
    const lines: string[] = []
    const runner = new NemesisRunner(cluster, history, (l) => lines.push(l))
    const startedAt = history.now()
    await runner.run(windows, startedAt, () => history.now() - startedAt > 10_000)
    expect(runner.restartWaits).toHaveLength(1)
    expect(runner.restartWaits[0]).toBeGreaterThanOrEqual(590)
    expect(runner.restartWaits[0]).toBeLessThan(5_000)
    // Three kills at the kill-all, then the single kill: planned 100 ms after the heal, run after the wait too.
    expect(kills).toHaveLength(4)
    expect(kills[3]! - kills[0]!).toBeGreaterThanOrEqual(150 + runner.restartWaits[0]! - 5)
    expect(lines.some((l) => /every node answers again, \d+ ms after the restart/.test(l))).toBe(true)
  })

  it('is bounded: nodes that never answer hold the schedule for restartWaitMs only', async () => {
    const history = new ClusterHistory()
    const { cluster, kills } = standIn(3, undefined, history)
    const lines: string[] = []
    const runner = new NemesisRunner(cluster, history, (l) => lines.push(l))
    const startedAt = history.now()
    await runner.run(windows, startedAt, () => history.now() - startedAt > 10_000, 300)
    expect(runner.restartWaits[0]).toBeGreaterThanOrEqual(295)
    expect(runner.restartWaits[0]).toBeLessThan(5_000)
    expect(lines.some((l) => l.includes('not every node answers'))).toBe(true)
    // The single kill still ran (node1 was 'starting', which LiveCluster.kill also ends).
    expect(kills).toHaveLength(4)
  })

  it('other faults keep their planned times', async () => {
    const history = new ClusterHistory()
    const { cluster, kills } = standIn(3, 600, history)
    const runner = new NemesisRunner(cluster, history, () => {})
    const startedAt = history.now()
    await runner.run([windows[1]!, { at: 300, healAt: 350, fault: { kind: 'kill', target: { node: 1 } } }], startedAt, () => history.now() - startedAt > 10_000)
    expect(runner.restartWaits).toEqual([])
    expect(kills[1]! - kills[0]!).toBeLessThan(500)
  })

  it('killsAll: kill-all alone or inside a combined fault', () => {
    expect(killsAll({ kind: 'kill-all' })).toBe(true)
    expect(killsAll({ kind: 'together', faults: [{ kind: 'disk-stall', target: { leader: true } }, { kind: 'kill-all' }] })).toBe(true)
    expect(killsAll({ kind: 'kill', target: { leader: true } })).toBe(false)
  })
})
