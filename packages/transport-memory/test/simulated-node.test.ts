import { membershipOf, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { Simulation, type SimulatedNode } from '../src/index.js'
import { CountingStateMachine, pingProtocol, TestStorage } from './support.js'

const ids = ['n1', 'n2', 'n3']

function cluster(seed: number, options: { syncLatencyMs?: number; dropRate?: number } = {}) {
  const sim = new Simulation({ seed })
  if (options.dropRate !== undefined) sim.network.setDefaultFaults({ dropRate: options.dropRate, reorderRate: 0.1, duplicateRate: 0.05 })
  const machines: CountingStateMachine[] = []
  const nodes = new Map<string, SimulatedNode<{ intervalMs: number }>>()
  for (const id of ids) {
    nodes.set(
      id,
      sim.addNode({
        id,
        factory: pingProtocol,
        membership: membershipOf(ids),
        storage: new TestStorage(),
        createStateMachine: () => {
          const machine = new CountingStateMachine()
          machines.push(machine)
          return machine
        },
        syncLatencyMs: options.syncLatencyMs ?? 0,
      }),
    )
  }
  return { sim, nodes, machines }
}

async function runTraced(seed: number): Promise<string> {
  const { sim, nodes } = cluster(seed, { dropRate: 0.1, syncLatencyMs: 1 })
  for (const node of nodes.values()) await node.start()
  const workload = sim.random('workload')
  for (let i = 0; i < 30; i++) {
    sim.schedule(workload.int(0, 200), () => {
      void nodes.get(workload.pick(ids))!.replica?.propose(utf8(`c${i}`)).catch(() => {})
    })
  }
  sim.schedule(100, () => nodes.get('n2')!.crash())
  sim.schedule(150, () => void nodes.get('n2')!.start())
  await sim.runFor(300)
  return sim.traceHash()
}

describe('SimulatedNode', () => {
  it('hosts a Replica that talks over the simulated network', async () => {
    const { sim, nodes } = cluster(1)
    for (const node of nodes.values()) await node.start()
    await sim.runFor(100)
    const pongs = nodes.get('n1')!.replica!.status().detail!['pongs'] as number
    expect(pongs).toBeGreaterThan(10)
    expect(sim.network.stats.delivered).toBeGreaterThan(30)
  })

  it('answers a proposal only after the storage sync, which takes virtual time', async () => {
    const { sim, nodes } = cluster(1, { syncLatencyMs: 5 })
    const n1 = nodes.get('n1')!
    await n1.start()
    let answeredAt: number | undefined
    void n1.replica!.propose(utf8('x')).then(() => (answeredAt = sim.now()))
    await sim.runFor(4)
    expect(answeredAt).toBeUndefined()
    await sim.runFor(10)
    expect(answeredAt).toBe(5)
  })

  it('crash loses unsynced writes; restart replays what was durable on a fresh state machine', async () => {
    const { sim, nodes, machines } = cluster(1, { syncLatencyMs: 10 })
    const n1 = nodes.get('n1')!
    await n1.start()
    const first = n1.replica!.propose(utf8('durable'))
    await sim.runFor(20)
    await expect(first).resolves.toMatchObject({ index: 1 })
    const second = n1.replica!.propose(utf8('lost'))
    await sim.runFor(5) // written, sync still in flight
    expect(n1.storage.lastIndex()).toBe(2)
    n1.crash()
    await expect(second).rejects.toMatchObject({ code: 'STOPPED' })
    expect(n1.storage.lastIndex()).toBe(1)
    expect(n1.running).toBe(false)
    await n1.start()
    expect(n1.incarnation).toBe(1)
    expect(machines).toHaveLength(2)
    await sim.runFor(20)
    const third = n1.replica!.propose(utf8('after restart'))
    await sim.runFor(20)
    await expect(third).resolves.toMatchObject({ index: 2 })
  })

  it('a crashed node’s timers stop and messages to it are lost', async () => {
    const { sim, nodes } = cluster(1)
    for (const node of nodes.values()) await node.start()
    await sim.runFor(50)
    nodes.get('n3')!.crash()
    const before = sim.network.stats.undeliverable
    await sim.runFor(100)
    expect(sim.clock('n3').pendingTimers).toBe(0)
    expect(sim.network.stats.undeliverable).toBeGreaterThan(before)
  })

  it('a paused node receives nothing and fires no timers until resumed', async () => {
    const { sim, nodes } = cluster(1)
    for (const node of nodes.values()) await node.start()
    await sim.runFor(50)
    const n2 = nodes.get('n2')!.replica!
    const pongsBefore = n2.status().detail!['pongs'] as number
    const receivedBefore = n2.counters.get('messages.received')
    sim.pause('n2')
    await sim.runFor(200)
    expect(n2.counters.get('messages.received')).toBe(receivedBefore)
    expect(n2.status().detail!['pongs']).toBe(pongsBefore)
    sim.resume('n2')
    await sim.runFor(1)
    expect(n2.counters.get('messages.received')).toBeGreaterThan(receivedBefore + 10)
  })

  it('the same seed gives the same trace hash; another seed a different one', async () => {
    const a = await runTraced(17)
    const b = await runTraced(17)
    const c = await runTraced(18)
    expect(a).toBe(b)
    expect(c).not.toBe(a)
  })
})
