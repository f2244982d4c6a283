// The cluster runner's one-way partitions and bridges (schedule, proxies on
// real sockets) and the progress checker (longest stall while a quorum was
// connected), without a cluster.
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseClusterArguments } from '../../src/cluster/args.js'
import type { HistoryEvent } from '../../src/cluster/history.js'
import { LinkProxies } from '../../src/cluster/link-proxies.js'
import { describeFault, planFaults } from '../../src/cluster/nemesis.js'
import { acknowledgedWrites, longestStall, progressResult, quorumConnected, quorumSize } from '../../src/cluster/progress.js'

describe('planFaults: partition-one-way and bridge', () => {
  it('one-way faults hit the leader or a node, in both directions over a run', () => {
    const plan = planFaults(5, ['partition-one-way'], 4, 120_000)
    expect(plan.length).toBeGreaterThan(10)
    expect(planFaults(5, ['partition-one-way'], 4, 120_000)).toEqual(plan)
    const directions = new Set<string>()
    for (const { fault } of plan) {
      expect(fault.kind).toBe('partition-one-way')
      if (fault.kind !== 'partition-one-way') continue
      directions.add(fault.direction)
      expect(describeFault(fault)).toMatch(/^(nobody hears (the leader|node\d) \(it hears them\)|(the leader|node\d) hears nobody \(they hear it\))$/)
    }
    expect(directions).toEqual(new Set(['outbound', 'inbound']))
  })

  it('a bridge splits the other nodes in two halves, both connected to the bridge node', () => {
    for (const nodes of [3, 4, 5, 7]) {
      const plan = planFaults(nodes, ['bridge'], nodes, 60_000)
      expect(plan.length).toBeGreaterThan(5)
      const bridges = new Set<number>()
      for (const { fault } of plan) {
        if (fault.kind !== 'bridge') throw new Error(`unexpected ${fault.kind}`)
        bridges.add(fault.bridge)
        expect(fault.left.length).toBe(Math.floor((nodes - 1) / 2))
        expect([...fault.left, fault.bridge, ...fault.right].sort()).toEqual(Array.from({ length: nodes }, (_, i) => i))
        expect(describeFault(fault)).toMatch(/^bridge node\d(,node\d)* \| node\d \| node\d(,node\d)*$/)
      }
      expect(bridges.size).toBeGreaterThan(1) // seeded, not always the same node
    }
    expect(parseClusterArguments(['--cluster', '--nemesis', 'partition-one-way,bridge']).nemeses).toEqual(['partition-one-way', 'bridge'])
  })
})

describe('progress: the longest stall while a quorum was connected', () => {
  it('quorum sizes: a majority, or n − f for byzantine protocols', () => {
    expect([quorumSize('raft', 3), quorumSize('raft', 5), quorumSize('pbft', 4), quorumSize('pbft', 7), quorumSize('hotstuff', 4)]).toEqual([2, 3, 3, 5, 3])
  })

  it('a connected quorum needs its members up and hearing each other both ways', () => {
    const none = () => false
    expect(quorumConnected(4, new Set(), none, 3)).toBe(true)
    expect(quorumConnected(4, new Set([0]), none, 3)).toBe(true)
    expect(quorumConnected(4, new Set([0, 1]), none, 3)).toBe(false)
    const split = (a: number, b: number) => a < 2 !== b < 2
    expect(quorumConnected(4, new Set(), split, 3)).toBe(false) // 2 | 2: no side has 3
    expect(quorumConnected(5, new Set(), split, 3)).toBe(true) // 2 | 3
    // one way: nobody hears node 0 — the other three still form a quorum; with node 3 down, nobody does
    const deaf = (a: number) => a === 0
    expect(quorumConnected(4, new Set(), deaf, 3)).toBe(true)
    expect(quorumConnected(4, new Set([3]), deaf, 3)).toBe(false)
    // bridge {0} | 1 | {2, 3}: {1, 2, 3} is connected; bridge {0, 1} | 2 | {3, 4} (n = 5, majority 3): {0, 1, 2}
    const bridge = (left: number[], right: number[]) => (a: number, b: number) => (left.includes(a) && right.includes(b)) || (right.includes(a) && left.includes(b))
    expect(quorumConnected(4, new Set(), bridge([0], [2, 3]), 3)).toBe(true)
    expect(quorumConnected(5, new Set(), bridge([0, 1], [3, 4]), 3)).toBe(true)
    expect(quorumConnected(7, new Set(), bridge([0, 1, 2], [4, 5, 6]), 5)).toBe(false)
  })

  it('counts the gaps between acknowledged writes, leaving out the time without a connected quorum', () => {
    const acks = [1000, 2000, 9000]
    expect(longestStall(acks, 0, 10_000, [])).toEqual({ ms: 7000, from: 2000, to: 9000 })
    expect(longestStall(acks, 0, 10_000, [[3000, 7000]])).toEqual({ ms: 3000, from: 2000, to: 9000 })
    // no write at all: the whole phase is one stall
    expect(longestStall([], 0, 60_000, [[10_000, 12_000]]).ms).toBe(58_000)
    // the ends count: a cluster that stops for good after its last write
    expect(longestStall([500], 0, 30_000, [])).toEqual({ ms: 29_500, from: 500, to: 30_000 })
    const bad = progressResult({ ms: 29_500, from: 500, to: 30_000 }, 10_000, 1, 0)
    expect(bad.verdict).toBe('violation')
    expect(bad.violations[0]!.message).toMatch(/no write was acknowledged for 29500 ms \(500–30000 ms\)/)
    expect(progressResult({ ms: 9000, from: 0, to: 9000 }, 10_000, 40, 0).verdict).toBe('ok')
  })

  it('an acknowledged write is an ok write or an applied cas (a cas mismatch, a read or an info is not)', () => {
    const ev = (index: number, time: number, e: Omit<HistoryEvent, 'index' | 'time'>): HistoryEvent => ({ index, time, ...e })
    const events = [
      ev(0, 1, { process: 0, type: 'invoke', f: 'write', key: 'k', value: 'a' }),
      ev(1, 5, { process: 0, type: 'ok', f: 'write', key: 'k', value: 'a' }),
      ev(2, 6, { process: 1, type: 'invoke', f: 'cas', key: 'k', value: ['x', 'b'] }),
      ev(3, 7, { process: 1, type: 'fail', f: 'cas', key: 'k', value: ['x', 'b'], error: 'cas-mismatch', current: 'a' }),
      ev(4, 8, { process: 1, type: 'invoke', f: 'read', key: 'k', value: null }),
      ev(5, 9, { process: 1, type: 'ok', f: 'read', key: 'k', value: 'a' }),
      ev(6, 10, { process: 2, type: 'invoke', f: 'cas', key: 'k', value: ['a', 'c'] }),
      ev(7, 11, { process: 2, type: 'ok', f: 'cas', key: 'k', value: ['a', 'c'] }),
      ev(8, 12, { process: 3, type: 'invoke', f: 'write', key: 'k', value: 'd' }),
      ev(9, 13, { process: 3, type: 'info', f: 'write', key: 'k', value: 'd', error: 'timeout after 2000 ms' }),
    ]
    expect(acknowledgedWrites(events)).toEqual([5, 11])
  })
})

describe('LinkProxies: one way and bridge, on real sockets', () => {
  const servers: Server[] = []
  const clients: Socket[] = []
  let proxies: LinkProxies | undefined
  let dir: string | undefined
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy()
    await proxies?.close()
    for (const s of servers.splice(0)) s.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  /** n echo servers (each records what it received) behind the proxies; `via(from, to)` is the proxy port node `from` dials. */
  async function setUp(n: number) {
    dir = mkdtempSync(join(tmpdir(), 'synod-proxies-'))
    const received: string[] = []
    const ports: number[] = []
    for (let i = 0; i < n; i++) {
      received.push('')
      const server = createServer((s) =>
        s.on('data', (d: Buffer) => {
          received[i] += d.toString()
          s.write(d)
        }),
      )
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      servers.push(server)
      ports.push((server.address() as { port: number }).port)
    }
    const nodes = ports.map((port, i) => {
      const configFile = join(dir!, `n${i}.json`)
      writeFileSync(configFile, JSON.stringify({ listen: [`/ip4/127.0.0.1/tcp/${port}`], members: ports.map((p, j) => ({ id: `id${j}`, addrs: [`/ip4/127.0.0.1/tcp/${p}`] })) }))
      return { id: `id${i}`, configFile }
    })
    proxies = await LinkProxies.install(nodes)
    const config = (i: number) => JSON.parse(readFileSync(nodes[i]!.configFile, 'utf8')) as { members: Array<{ id: string; addrs: string[] }> }
    const via = (from: number, to: number) => Number(/tcp\/(\d+)/.exec(config(from).members.find((m) => m.id === `id${to}`)!.addrs[0]!)![1])
    return { received, via }
  }

  /** An open connection with what it got back and whether it closed. */
  async function dial(port: number) {
    const socket = connect(port, '127.0.0.1')
    clients.push(socket)
    const state = { got: '', closed: false, socket }
    socket.on('data', (d: Buffer) => (state.got += d.toString()))
    socket.on('error', () => undefined)
    socket.on('close', () => (state.closed = true))
    await once(socket, 'connect')
    return state
  }

  /** Bounded wait for a condition (no fixed sleeps). */
  async function until(condition: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10))
    if (!condition()) throw new Error(`timed out waiting for ${what}`)
  }

  it('one way: bytes from 0 to 1 vanish on both proxied links, 1 to 0 still flows; the heal resets the corrupted connections', async () => {
    const { received, via } = await setUp(3)
    proxies!.oneWay([0], [1])
    expect(proxies!.isBlocked(0, 1)).toBe(true)
    expect(proxies!.isBlocked(1, 0)).toBe(false)
    // 0 dials 1: its bytes are dropped at the proxy (counted), node 1 receives nothing
    const a = await dial(via(0, 1))
    a.socket.write('from-0')
    await until(() => proxies!.dropped(0, 1) >= 6, 'the dropped bytes')
    expect(received[1]).toBe('')
    // 1 dials 0: node 0 receives, its echo (0 → 1) is dropped
    const b = await dial(via(1, 0))
    b.socket.write('from-1')
    await until(() => received[0] === 'from-1', 'node 0 to receive')
    await until(() => proxies!.dropped(0, 1) >= 12, 'the echo to be dropped')
    expect(b.got).toBe('')
    // other links are untouched
    const c = await dial(via(2, 1))
    c.socket.write('from-2')
    await until(() => c.got === 'from-2', 'the echo on a healthy link')
    // the heal resets the two connections that lost bytes, keeps the healthy one
    proxies!.heal()
    await until(() => a.closed && b.closed, 'the corrupted connections to close')
    expect(c.closed).toBe(false)
    const d = await dial(via(0, 1))
    d.socket.write('again')
    await until(() => d.got === 'again', 'a fresh connection after the heal')
  })

  it('bridge: the halves cannot reach each other, both reach the bridge node', async () => {
    const { via } = await setUp(4)
    proxies!.bridge([0], 1, [2, 3])
    const refused = await dial(via(0, 2)).catch(() => undefined)
    if (refused !== undefined) await until(() => refused.closed, 'a refused connection across the bridge')
    for (const [from, to] of [[0, 1], [1, 0], [2, 1], [1, 3], [2, 3]] as const) {
      const s = await dial(via(from, to))
      s.socket.write(`${from}${to}`)
      await until(() => s.got === `${from}${to}`, `the echo ${from} → ${to}`)
    }
    expect(proxies!.isBlocked(3, 0)).toBe(true)
    expect(() => proxies!.bridge([0, 1], 1, [2])).toThrow(/neither half/)
  })
})
