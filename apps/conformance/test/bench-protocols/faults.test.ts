import { describe, expect, it } from 'vitest'
import { FaultNotObservedError, measureLeaderCrash, measureSlowLink, SLOW_LINK_FACTOR, type Workload } from '../../src/bench-protocols/measure.js'
import { protocolRegistry } from '../../src/registry.js'

const workload: Workload = { lowLoadOps: 20, loadOps: 60, loadClients: 4, idleMs: 200, warmupOps: 3, wallClients: 1, wallWarmupMs: 0, wallMeasureMs: 0 }

// A fault run whose fault did not happen would print fault-free figures under the fault's name. Each run
// checks its fault left evidence in the network and refuses to report otherwise; these tests turn the
// fault into a no-op to show the check fires.
describe('bench:protocols fault runs had their fault', () => {
  it('leader crash: the leader is down, messages to it were lost, another node took over, and recovery took an election', async () => {
    const factory = await protocolRegistry.get('raft')!()
    const figures = await measureLeaderCrash({ factory, nodes: 3, workload })
    expect(figures.lostToCrashed).toBeGreaterThan(0)
    expect(figures.newLeader).toBeDefined()
    expect(figures.newLeader).not.toBe(figures.crashed)
    // Raft's election timeout is 150–300 ms: nowhere near the 2 message delays of a write.
    expect(figures.recoveryDelays).toBeGreaterThanOrEqual(150)
  })

  it('leader crash with the crash removed: refused, not reported', async () => {
    const factory = await protocolRegistry.get('raft')!()
    await expect(measureLeaderCrash({ factory, nodes: 3, workload }, { crash: false })).rejects.toThrow(FaultNotObservedError)
  })

  it('slow link: messages on it took the slowed delay both ways', async () => {
    const factory = await protocolRegistry.get('paxos')!()
    const figures = await measureSlowLink({ factory, nodes: 3, workload })
    expect(figures.slowestDelivery).toBeGreaterThanOrEqual(SLOW_LINK_FACTOR)
    expect(figures.link[0]).not.toBe(figures.link[1])
  })

  it('slow link with the slowness removed: refused, not reported', async () => {
    const factory = await protocolRegistry.get('paxos')!()
    await expect(measureSlowLink({ factory, nodes: 3, workload }, { slowLink: false })).rejects.toThrow(FaultNotObservedError)
  })
})
