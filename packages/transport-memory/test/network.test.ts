import { describe, expect, it } from 'vitest'
import { bridgePairs, majorityMinorityGroups, ringPairs, Simulation, type SimulatedTransport } from '../src/index.js'

const nodes = ['n1', 'n2', 'n3', 'n4', 'n5']

function setup(seed = 1) {
  const sim = new Simulation({ seed })
  const received: Array<{ at: number; to: string; from: string; text: string }> = []
  const endpoints = new Map<string, SimulatedTransport>()
  for (const id of nodes) {
    const endpoint = sim.network.endpoint(id)
    endpoint.onMessage((from, message) => received.push({ at: sim.now(), to: id, from, text: new TextDecoder().decode(message) }))
    endpoints.set(id, endpoint)
  }
  const send = (from: string, to: string, text: string) => endpoints.get(from)!.send(to, new TextEncoder().encode(text))
  return { sim, received, endpoints, send }
}

describe('SimulatedNetwork as a Transport', () => {
  it('delivers bytes with the sender’s identity, after a delay, in FIFO order per link', async () => {
    const { sim, received, send } = setup()
    for (let i = 0; i < 20; i++) send('n1', 'n2', `m${i}`)
    expect(received).toEqual([])
    await sim.runFor(10)
    expect(received.map((r) => r.text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`))
    expect(received.every((r) => r.from === 'n1' && r.to === 'n2' && r.at >= 1 && r.at <= 3)).toBe(true)
  })

  it('tells a delivery observer each delivered message with its link, send and delivery times, and nothing lost', async () => {
    const { sim, send } = setup()
    const seen: Array<{ from: string; to: string; text: string; sentAt: number; deliveredAt: number }> = []
    sim.network.observeDeliveries(({ from, to, message, sentAt, deliveredAt }) =>
      seen.push({ from, to, text: new TextDecoder().decode(message), sentAt, deliveredAt }),
    )
    sim.network.setLinkFaults('n1', 'n3', { delay: { kind: 'uniform', minMs: 40, maxMs: 40 } })
    sim.network.block('n1', 'n4')
    await sim.runFor(5)
    send('n1', 'n2', 'fast')
    send('n1', 'n3', 'slow')
    send('n1', 'n4', 'blocked')
    await sim.runFor(100)
    expect(seen.map(({ from, to, text }) => `${from}>${to}:${text}`)).toEqual(['n1>n2:fast', 'n1>n3:slow'])
    expect(seen.every((d) => d.sentAt === 5)).toBe(true)
    expect(seen[0]!.deliveredAt).toBeLessThanOrEqual(8)
    expect(seen[1]!.deliveredAt).toBe(45)
    sim.network.observeDeliveries(undefined)
    send('n1', 'n2', 'unobserved')
    await sim.runFor(10)
    expect(seen).toHaveLength(2)
  })

  it('copies messages so a sender reusing its buffer cannot change them in flight', async () => {
    const { sim, endpoints } = setup()
    const got: number[] = []
    endpoints.get('n2')!.onMessage((_, m) => got.push(m[0]!))
    const buffer = Uint8Array.of(1)
    endpoints.get('n1')!.send('n2', buffer)
    buffer[0] = 2
    await sim.runFor(10)
    expect(got).toEqual([1])
  })

  it('a stopped endpoint neither sends nor receives', async () => {
    const { sim, received, endpoints, send } = setup()
    send('n1', 'n2', 'in flight')
    await endpoints.get('n2')!.stop()
    send('n2', 'n1', 'from stopped')
    await sim.runFor(10)
    expect(received).toEqual([])
    expect(sim.network.stats.undeliverable).toBe(1)
  })
})

describe('link faults', () => {
  it('drops close to the configured rate', async () => {
    const { sim, received, send } = setup()
    sim.network.setDefaultFaults({ dropRate: 0.3 })
    for (let i = 0; i < 10_000; i++) send('n1', 'n2', 'x')
    await sim.runFor(10)
    expect(received.length / 10_000).toBeGreaterThan(0.67)
    expect(received.length / 10_000).toBeLessThan(0.73)
    expect(sim.network.stats.dropped).toBe(10_000 - received.length)
  })

  it('duplicates close to the configured rate', async () => {
    const { sim, received, send } = setup()
    sim.network.setLinkFaults('n1', 'n2', { duplicateRate: 0.2 })
    for (let i = 0; i < 5000; i++) send('n1', 'n2', 'x')
    for (let i = 0; i < 100; i++) send('n2', 'n1', 'y')
    await sim.runFor(10)
    const toN2 = received.filter((r) => r.to === 'n2').length
    expect(toN2 / 5000).toBeGreaterThan(1.17)
    expect(toN2 / 5000).toBeLessThan(1.23)
    expect(received.filter((r) => r.to === 'n1').length).toBe(100) // only the configured direction
  })

  it('reorders only when asked to', async () => {
    const { sim, received, send } = setup()
    sim.network.setDefaultFaults({ reorderRate: 0.5, reorderMaxMs: 30 })
    for (let i = 0; i < 200; i++) send('n1', 'n2', String(i))
    await sim.runFor(100)
    const order = received.map((r) => Number(r.text))
    expect(order).toHaveLength(200)
    expect(order).not.toEqual([...order].sort((a, b) => a - b))
  })

  it('samples exponential delays above the minimum', async () => {
    const { sim, received, send } = setup()
    sim.network.setDefaultFaults({ delay: { kind: 'exponential', minMs: 5, meanMs: 10 }, reorderRate: 1, reorderMaxMs: 0 })
    for (let i = 0; i < 2000; i++) send('n1', 'n2', 'x')
    await sim.runFor(1000)
    const mean = received.reduce((sum, r) => sum + r.at, 0) / received.length
    expect(Math.min(...received.map((r) => r.at))).toBeGreaterThanOrEqual(5)
    expect(mean).toBeGreaterThan(14)
    expect(mean).toBeLessThan(16)
  })
})

describe('partitions', () => {
  it('symmetric partitions block both ways until healed', async () => {
    const { sim, received, send } = setup()
    sim.network.partition([
      ['n1', 'n2'],
      ['n3', 'n4', 'n5'],
    ])
    send('n1', 'n2', 'same side')
    send('n1', 'n3', 'across')
    send('n4', 'n2', 'across back')
    await sim.runFor(10)
    expect(received.map((r) => r.text)).toEqual(['same side'])
    sim.network.heal()
    send('n1', 'n3', 'after heal')
    await sim.runFor(10)
    expect(received.map((r) => r.text)).toEqual(['same side', 'after heal'])
  })

  it('asymmetric blocks cut one direction only', async () => {
    const { sim, received, send } = setup()
    sim.network.block('n1', 'n2')
    send('n1', 'n2', 'blocked')
    send('n2', 'n1', 'passes')
    await sim.runFor(10)
    expect(received.map((r) => r.text)).toEqual(['passes'])
    expect(sim.network.stats.blocked).toBe(1)
  })

  it('isolate cuts one node off from all others', async () => {
    const { sim, received, send } = setup()
    sim.network.isolate('n3')
    for (const other of nodes.filter((n) => n !== 'n3')) {
      send('n3', other, 'out')
      send(other, 'n3', 'in')
    }
    send('n1', 'n2', 'others fine')
    await sim.runFor(10)
    expect(received.map((r) => r.text)).toEqual(['others fine'])
  })

  it('shape helpers: majority/minority, ring, bridge', () => {
    expect(majorityMinorityGroups(nodes)).toEqual([
      ['n1', 'n2'],
      ['n3', 'n4', 'n5'],
    ])
    const ring = new Set(ringPairs(nodes).map(([a, b]) => `${a}>${b}`))
    expect(ring.has('n1>n2')).toBe(false)
    expect(ring.has('n1>n5')).toBe(false)
    expect(ring.has('n1>n3')).toBe(true)
    const bridge = new Set(bridgePairs(nodes).map(([a, b]) => `${a}>${b}`))
    expect(bridge.has('n1>n4')).toBe(true)
    expect(bridge.has('n1>n3')).toBe(false) // n3 is the bridge
    expect(bridge.has('n3>n5')).toBe(false)
  })
})

describe('outbound filters and twins', () => {
  it('a filter can drop, rewrite and multiply what an address sends', async () => {
    const { sim, received, send } = setup()
    sim.network.setOutboundFilter('n1', (out) =>
      out.to === 'n2' ? [] : [out, { to: 'n4', message: new TextEncoder().encode('extra') }],
    )
    send('n1', 'n2', 'dropped')
    send('n1', 'n3', 'kept')
    await sim.runFor(10)
    expect(received.map((r) => `${r.to}:${r.text}`).sort()).toEqual(['n3:kept', 'n4:extra'])
  })

  it('two addresses with one NodeId both receive its messages and both send as it', async () => {
    const { sim, received, send } = setup()
    const twin = sim.network.endpoint('n1', 'n1~twin')
    twin.onMessage((from, m) => received.push({ at: sim.now(), to: 'n1~twin', from, text: new TextDecoder().decode(m) }))
    send('n2', 'n1', 'to both')
    twin.send('n3', new TextEncoder().encode('from twin'))
    await sim.runFor(10)
    expect(received.map((r) => `${r.to}<${r.from}:${r.text}`).sort()).toEqual([
      'n1~twin<n2:to both',
      'n1<n2:to both',
      'n3<n1:from twin',
    ].sort())
  })
})
