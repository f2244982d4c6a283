import { ConfigError } from '@synod/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createLibp2pTransport, type Libp2pTransport } from '../src/index.js'
import { LOOPBACK, startCluster, testKeyPair, text, utf8, waitFor, type TestCluster } from './support.js'

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length
}

describe('libp2p transport', () => {
  let cluster: TestCluster | undefined
  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('exchanges messages both ways with the authenticated sender as from', async () => {
    cluster = await startCluster(2)
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    expect(a.protocolId).toBe('/synod/test/1.0.0')
    expect(a.listenAddrs()[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.self}$`))
    const atA: Array<[string, string]> = []
    const atB: Array<[string, string]> = []
    a.onMessage((from, m) => atA.push([from, text(m)]))
    b.onMessage((from, m) => atB.push([from, text(m)]))
    a.send(b.self, utf8('hello b'))
    b.send(a.self, utf8('hello a'))
    await waitFor(() => atA.length === 1 && atB.length === 1)
    expect(atB).toEqual([[a.self, 'hello b']])
    expect(atA).toEqual([[b.self, 'hello a']])
    const ab = a.metrics().peers[b.self]!
    expect(ab).toMatchObject({ messagesSent: 1, bytesSent: 7, messagesReceived: 1, bytesReceived: 7, connected: true, reconnects: 0 })
    expect(a.metrics()).toMatchObject({ self: a.self, messagesSent: 1, messagesReceived: 1, drops: {} })
  })

  it('queues sends made before start and delivers them once running', async () => {
    cluster = await startCluster(2)
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    const late = createLibp2pTransport({
      keyPair: cluster.keyPairs[0]!,
      listen: [LOOPBACK],
      peers: [{ id: b.self, addrs: b.listenAddrs() }],
      protocol: 'test',
    })
    await a.stop()
    const got: string[] = []
    b.onMessage((from, m) => got.push(`${from === late.self ? 'late' : from}:${text(m)}`))
    late.send(b.self, utf8('early'))
    expect(late.metrics().peers[b.self]!.queuedMessages).toBe(1)
    await late.start()
    try {
      await waitFor(() => got.includes('late:early'), 5000, 'early message')
    } finally {
      await late.stop()
    }
  })

  it('reconnects with backoff after the peer restarts on the same address', async () => {
    cluster = await startCluster(2, { reconnectInitialDelayMs: 20, reconnectMaxDelayMs: 100 })
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    const got: string[] = []
    b.onMessage((_from, m) => got.push(text(m)))
    a.send(b.self, utf8('first'))
    await waitFor(() => got.includes('first'))
    const addrBefore = b.listenAddrs()
    await b.stop()
    a.send(b.self, utf8('while-down'))
    await waitFor(() => a.metrics().peers[b.self]!.dialFailures >= 2, 5000, 'failed dials while down')
    expect(a.metrics().peers[b.self]!.connected).toBe(false)
    await b.start()
    expect(b.listenAddrs()).toEqual(addrBefore)
    await waitFor(() => got.includes('while-down'), 5000, 'message queued while the peer was down')
    expect(a.metrics().peers[b.self]!.reconnects).toBeGreaterThanOrEqual(1)
    expect(a.metrics().reconnects).toBeGreaterThanOrEqual(1)
  })

  it('a link backing off after failed dials reconnects at once when the peer connects to us (issue 20)', async () => {
    // A 20 s backoff: after one failed dial, a waits 10–20 s before dialing b again. When b comes back and
    // dials a, a's link uses that connection at once. (Before: a's message waited out the backoff — after a
    // partition of the live runner, links stayed down 2.5–5 s into the healed network.)
    cluster = await startCluster(2, { reconnectInitialDelayMs: 20_000, reconnectMaxDelayMs: 20_000 })
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    const atB: string[] = []
    const atA: string[] = []
    b.onMessage((_from, m) => atB.push(text(m)))
    a.onMessage((_from, m) => atA.push(text(m)))
    a.send(b.self, utf8('first'))
    await waitFor(() => atB.includes('first'))
    await b.stop()
    a.send(b.self, utf8('while-down'))
    // a's stream closed; a backs off 10–20 s (the stream was short-lived, or its one redial failed).
    await waitFor(() => !a.metrics().peers[b.self]!.connected, 5000, "a's link down")
    await b.start()
    b.send(a.self, utf8('back'))
    await waitFor(() => atA.includes('back'), 5000, "b's message (b dials a)")
    await waitFor(() => atB.includes('while-down'), 5000, "a's queued message, sent over b's connection before a's backoff ends")
    expect(a.metrics().peers[b.self]!.dialFailures).toBeLessThanOrEqual(1)
  })

  it('setPeers: a removed member is disconnected and refused', async () => {
    cluster = await startCluster(3)
    const [a, b, c] = cluster.transports as [Libp2pTransport, Libp2pTransport, Libp2pTransport]
    const atA: string[] = []
    a.onMessage((from, m) => atA.push(`${from === b.self ? 'b' : 'c'}:${text(m)}`))
    b.onMessage(() => undefined)
    c.onMessage(() => undefined)
    b.send(a.self, utf8('1'))
    c.send(a.self, utf8('1'))
    await waitFor(() => atA.length === 2, 20_000, 'both first messages')
    a.setPeers([
      { id: a.self, addrs: a.listenAddrs() },
      { id: c.self, addrs: c.listenAddrs() },
    ])
    a.send(b.self, utf8('no longer'))
    expect(a.metrics().drops['unknown-peer']).toBe(1)
    expect(a.metrics().peers[b.self]).toBeUndefined()
    await waitFor(() => b.metrics().peers[a.self]!.connected === false, 20_000, 'b disconnected from a')
    b.send(a.self, utf8('2'))
    c.send(a.self, utf8('2'))
    await waitFor(() => atA.includes('c:2'), 20_000, 'c:2 at a')
    await waitFor(() => b.metrics().peers[a.self]!.dialFailures >= 1, 20_000, 'b refused')
    expect(atA).not.toContain('b:2')
    // b's failed dial and a's count of the refusal are two sides of one handshake: on a loaded machine a
    // dial also fails by a handshake timeout (counted as failedHandshake). b keeps redialing for its queued
    // message, so a refusal by membership comes; wait for it rather than assume the order.
    await waitFor(() => a.metrics().connections.rejectedNonMember >= 1, 20_000, 'a refused b as a non-member')
    expect(atA).not.toContain('b:2')
  }, 60_000)

  it('stops cleanly: no TCP handles left, sends after stop are counted drops', async () => {
    const before = tcpHandles()
    const local = await startCluster(3)
    const [a, b, c] = local.transports as [Libp2pTransport, Libp2pTransport, Libp2pTransport]
    let count = 0
    for (const t of [a, b, c]) t.onMessage(() => count++)
    for (const from of [a, b, c]) for (const to of [a, b, c]) if (from !== to) from.send(to.self, utf8('x'))
    await waitFor(() => count === 6)
    expect(tcpHandles()).toBeGreaterThan(before)
    await local.stop()
    await waitFor(() => tcpHandles() <= before, 3000, 'TCP handles released')
    a.send(b.self, utf8('late'))
    expect(a.metrics().drops['not-running']).toBe(1)
    expect(a.listenAddrs()).toEqual([])
    await a.stop() // idempotent
  })

  it('validates its options with ConfigError naming the field', () => {
    const keyPair = testKeyPair()
    const base = { keyPair, listen: [LOOPBACK], peers: [], protocol: 'raft' }
    const fieldOf = (f: () => unknown) => {
      try {
        f()
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError)
        return (error as ConfigError).field
      }
      return undefined
    }
    expect(fieldOf(() => createLibp2pTransport({ ...base, protocol: 'Raft/2' }))).toBe('protocol')
    expect(fieldOf(() => createLibp2pTransport({ ...base, listen: ['not a multiaddr'] }))).toBe('listen')
    expect(fieldOf(() => createLibp2pTransport({ ...base, listen: [] }))).toBe('listen')
    expect(fieldOf(() => createLibp2pTransport({ ...base, peers: [{ id: 'nope', addrs: [] }] }))).toBe('peers')
    expect(fieldOf(() => createLibp2pTransport({ ...base, maxFrameBytes: 0 }))).toBe('maxFrameBytes')
    expect(fieldOf(() => createLibp2pTransport({ ...base, maxFrameBytes: 2048, maxQueuedBytesPerPeer: 1024 }))).toBe('maxQueuedBytesPerPeer')
    const other = testKeyPair()
    const otherId = createLibp2pTransport({ ...base, keyPair: other }).self
    expect(fieldOf(() => createLibp2pTransport({ ...base, peers: [{ id: otherId, addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${createLibp2pTransport(base).self}`] }] }))).toBe('peers')
    expect(createLibp2pTransport({ ...base, protocol: 'pbft' }).protocolId).toBe('/synod/pbft/1.0.0')
  })
})
