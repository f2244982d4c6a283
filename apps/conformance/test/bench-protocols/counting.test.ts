import { describe, expect, it } from 'vitest'
import { BenchCluster } from '../../src/bench-protocols/driver.js'
import { measureSteady, type Workload } from '../../src/bench-protocols/measure.js'
import { ACK_BYTES, APPEND_BYTES, countingToy, HEARTBEAT_BYTES, HEARTBEAT_MS } from './counting-toys.js'

// The figures the table prints, checked against traffic computed by hand for toys whose every message is known.
const workload: Workload = { lowLoadOps: 30, loadOps: 120, loadClients: 8, idleMs: 400, warmupOps: 3, wallClients: 1, wallWarmupMs: 0, wallMeasureMs: 0 }

describe('bench:protocols counts what the protocols send', () => {
  for (const n of [3, 4, 5, 7]) {
    it(`a star (leader → followers → leader): exactly 2(n−1) messages and (n−1)(append + ack) bytes per decision, n = ${n}`, async () => {
      const figures = await measureSteady({ factory: countingToy('star'), nodes: n, workload })
      expect(figures.idlePerSecond).toEqual({ messages: 0, bytes: 0 })
      expect(figures.perDecision).toEqual({ messages: 2 * (n - 1), bytes: (n - 1) * (APPEND_BYTES + ACK_BYTES) })
      expect(figures.lowLoadDecisionsPerCommand).toBe(1)
      // No batching in the toy: the same per command under load.
      expect(figures.loaded.perCommand).toEqual({ messages: 2 * (n - 1), bytes: (n - 1) * (APPEND_BYTES + ACK_BYTES) })
      // Send, ack: two message delays, every time.
      expect(figures.latency).toEqual({ p50: 2, p99: 2 })
    })
  }

  for (const n of [4, 7]) {
    it(`an all-to-all echo: exactly n(n−1) messages per decision, quadratic in n, n = ${n}`, async () => {
      const figures = await measureSteady({ factory: countingToy('echo'), nodes: n, workload })
      expect(figures.perDecision).toEqual({ messages: n * (n - 1), bytes: (n - 1) * APPEND_BYTES + (n - 1) ** 2 * ACK_BYTES })
      expect(figures.loaded.perCommand.messages).toBe(n * (n - 1))
    })
  }

  it('subtracts the background (heartbeats) an idle cluster sends, measured at its exact rate', async () => {
    const n = 4
    const figures = await measureSteady({ factory: countingToy('star', true), nodes: n, workload })
    // A ping and a pong per follower every HEARTBEAT_MS.
    expect(figures.idlePerSecond.messages).toBeCloseTo((2 * (n - 1) * 1000) / HEARTBEAT_MS, 6)
    expect(figures.idlePerSecond.bytes).toBeCloseTo((2 * (n - 1) * HEARTBEAT_BYTES * 1000) / HEARTBEAT_MS, 6)
    // The heartbeats in the measured window are at most one round off the idle rate × its length.
    expect(Math.abs(figures.perDecision.messages - 2 * (n - 1))).toBeLessThanOrEqual((2 * (n - 1)) / workload.lowLoadOps)
  })

  it('the meter sees every message the network was handed: its total equals the network’s own count', async () => {
    const bench = new BenchCluster(countingToy('echo', true), 5, 7, { linkMs: 1 })
    await bench.start()
    await bench.runWrites(3, 25)
    await bench.sim.runFor(100)
    expect(bench.meter.total().messages).toBe(bench.sim.network.stats.sent)
    expect(bench.meter.total().messages).toBeGreaterThan(25 * 20)
    // Per link: the leader sent one append per decision to each follower, plus a ping per heartbeat.
    expect(bench.meter.link('n1', 'n2').messages).toBe(25 + Math.floor(bench.sim.now() / HEARTBEAT_MS) + 1)
    await bench.stop()
  })
})
