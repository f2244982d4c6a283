import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Libp2p, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { createLibp2pTransport, type Libp2pTransport } from '../src/index.js'
import { peerIdFromPublicKey } from '../src/identity.js'
import { frame, LOOPBACK, startCluster, startRawPeer, testKeyPair, text, utf8, waitFor, type TestCluster } from './support.js'

/** Host and port of the first listen address. */
function tcpTarget(t: Libp2pTransport): { host: string; port: number } {
  const parts = multiaddr(t.listenAddrs()[0]!).getComponents()
  return { host: parts[0]!.value!, port: Number(parts[1]!.value) }
}

/** Resolves when the server closes the socket; fails after `timeoutMs`. */
function closedByServer(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`server kept the socket open for ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** A and B still talk: a round of messages both ways arrives. */
async function stillExchanging(a: Libp2pTransport, b: Libp2pTransport, tag: string): Promise<void> {
  const seen = new Set<string>()
  a.onMessage((from, m) => seen.add(`a<-${from === b.self ? 'b' : from}:${text(m)}`))
  b.onMessage((from, m) => seen.add(`b<-${from === a.self ? 'a' : from}:${text(m)}`))
  a.send(b.self, utf8(tag))
  b.send(a.self, utf8(tag))
  await waitFor(() => seen.has(`a<-b:${tag}`) && seen.has(`b<-a:${tag}`), 5000, `exchange ${tag}`)
}

describe('bad input at the wire', () => {
  let cluster: TestCluster | undefined
  const extra: Array<{ stop(): unknown }> = []
  afterEach(async () => {
    for (const thing of extra.splice(0)) await thing.stop()
    await cluster?.stop()
    cluster = undefined
  })

  it('closes a raw TCP client that sends garbage, counts it, and members keep talking', async () => {
    cluster = await startCluster(2)
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    await stillExchanging(a, b, 'before')
    const { host, port } = tcpTarget(a)
    const socket = connect(port, host)
    const closed = closedByServer(socket, 5000)
    socket.on('connect', () => socket.write(randomBytes(4096)))
    await closed
    await waitFor(() => a.metrics().connections.failedHandshake >= 1, 2000, 'failedHandshake counted')
    await stillExchanging(a, b, 'after')
  })

  it('closes a raw TCP client that never completes the handshake', async () => {
    cluster = await startCluster(2, { handshakeTimeoutMs: 300 })
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    const { host, port } = tcpTarget(a)
    const socket = connect(port, host)
    await closedByServer(socket, 5000)
    await waitFor(() => a.metrics().connections.failedHandshake >= 1, 2000, 'failedHandshake counted')
    await stillExchanging(a, b, 'after-stall')
  })

  it('rejects an authenticated libp2p peer outside the membership, both ways', async () => {
    cluster = await startCluster(2)
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    // The outsider knows the members and their addresses; they do not know it.
    const outsider = createLibp2pTransport({
      keyPair: testKeyPair(),
      listen: [LOOPBACK],
      peers: [
        { id: a.self, addrs: a.listenAddrs() },
        { id: b.self, addrs: b.listenAddrs() },
      ],
      protocol: 'test',
      reconnectInitialDelayMs: 20,
      reconnectMaxDelayMs: 100,
    })
    extra.push(outsider)
    await outsider.start()
    const delivered: string[] = []
    a.onMessage((from) => delivered.push(from))
    outsider.send(a.self, utf8('let me in'))
    await waitFor(() => a.metrics().connections.rejectedNonMember >= 1, 5000, 'rejection at a')
    await waitFor(() => outsider.metrics().dialFailures >= 1, 5000, 'outsider dial failure')
    expect(delivered).not.toContain(outsider.self)
    // And members never dial it.
    a.send(outsider.self, utf8('hi'))
    expect(a.metrics().drops['unknown-peer']).toBe(1)
    await stillExchanging(a, b, 'members')
    expect(a.metrics().peers[outsider.self]).toBeUndefined()
  })

  describe('a member that misbehaves on the stream', () => {
    let raw: Libp2p | undefined
    afterEach(async () => {
      await raw?.stop()
      raw = undefined
    })

    async function clusterWithRawMember(maxFrameBytes = 64 * 1024) {
      const rawKey = testKeyPair()
      const rawId = peerIdFromPublicKey(rawKey.publicKey)
      cluster = await startCluster(2, { maxFrameBytes, maxQueuedBytesPerPeer: 4 * maxFrameBytes }, [rawId])
      raw = await startRawPeer(rawKey)
      const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
      a.setPeers([
        { id: a.self, addrs: a.listenAddrs() },
        { id: b.self, addrs: b.listenAddrs() },
        { id: rawId, addrs: raw.getMultiaddrs().map(String) },
      ])
      return { a, b, rawId, raw }
    }

    it('aborts the stream on a frame header over maxFrameBytes, counts it, and accepts a new stream', async () => {
      const { a, b, rawId, raw } = await clusterWithRawMember(1024)
      const received: string[] = []
      a.onMessage((from, m) => {
        if (from === rawId) received.push(text(m))
      })
      const stream = await raw.dialProtocol(multiaddr(a.listenAddrs()[0]!), a.protocolId)
      const closed = new Promise<void>((resolve) => stream.addEventListener('close', () => resolve()))
      stream.send(frame(utf8('ok-1')))
      stream.send(frame(new Uint8Array(16), 1025))
      await closed
      await waitFor(() => a.metrics().drops['oversized-inbound'] === 1, 2000, 'oversized-inbound counted')
      expect(a.metrics().peers[rawId]!.drops['oversized-inbound']).toBe(1)
      const again = await raw.dialProtocol(multiaddr(a.listenAddrs()[0]!), a.protocolId)
      again.send(frame(utf8('ok-2')))
      await waitFor(() => received.includes('ok-2'), 2000, 'second stream delivers')
      expect(received).toEqual(['ok-1', 'ok-2'])
      await again.close()
      await stillExchanging(a, b, 'after-oversized')
    })

    it('counts a stream that ends in the middle of a frame', async () => {
      const { a, raw } = await clusterWithRawMember()
      const stream = await raw.dialProtocol(multiaddr(a.listenAddrs()[0]!), a.protocolId)
      stream.send(frame(utf8('0123456789')).subarray(0, 8))
      await stream.close()
      await waitFor(() => a.metrics().drops['truncated-inbound'] === 1, 3000, 'truncated-inbound counted')
    })

    it('refuses an unknown protocol id without disturbing the transport', async () => {
      const { a, b, raw } = await clusterWithRawMember()
      await expect(raw.dialProtocol(multiaddr(a.listenAddrs()[0]!), '/synod/other/1.0.0')).rejects.toThrow()
      await expect(raw.dialProtocol(multiaddr(a.listenAddrs()[0]!), '/synod/test/2.0.0')).rejects.toThrow()
      await stillExchanging(a, b, 'after-unknown-protocol')
    })

    it('bounds memory for a peer that stalls: oldest messages dropped and counted, others unaffected', async () => {
      const { a, b, rawId, raw } = await clusterWithRawMember(8 * 1024)
      const stalled: Stream[] = []
      await raw.handle(a.protocolId, (stream) => {
        // Never read: yamux then stops granting window and the sender's buffer fills.
        stream.pause()
        stalled.push(stream)
      })
      const message = new Uint8Array(1024)
      for (let round = 0; round < 40; round++) {
        for (let i = 0; i < 256; i++) a.send(rawId, message)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      await waitFor(() => (a.metrics().drops['queue-full'] ?? 0) > 0, 5000, 'queue-full drops')
      const peer = a.metrics().peers[rawId]!
      expect(peer.queuedBytes).toBeLessThanOrEqual(4 * 8 * 1024)
      expect(peer.drops['queue-full']).toBeGreaterThan(0)
      expect(stalled.length).toBe(1)
      await stillExchanging(a, b, 'while-stalled')
    })
  })
})

describe('sending side rules', () => {
  let cluster: TestCluster | undefined
  afterEach(async () => {
    await cluster?.stop()
    cluster = undefined
  })

  it('keeps a saturated connection alive while the connection monitor pings it', async () => {
    // Pings every 200 ms while 64 KiB messages saturate the link for ~2.5 s.
    cluster = await startCluster(2, { connectionMonitor: { pingInterval: 200 } })
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    let received = 0
    b.onMessage(() => received++)
    const message = new Uint8Array(64 * 1024)
    let sent = 0
    const until = performance.now() + 2500
    while (performance.now() < until) {
      if (a.metrics().peers[b.self]!.queuedMessages < 64) for (let k = 0; k < 16; k++, sent++) a.send(b.self, message)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await waitFor(() => received === sent, 10_000, 'every flooded message')
    expect(sent).toBeGreaterThan(100)
    expect(a.metrics().peers[b.self]).toMatchObject({ reconnects: 0, dialFailures: 0, drops: {}, connected: true })
  }, 20_000)

  it('refuses an oversized outbound message with a counted drop', async () => {
    cluster = await startCluster(2, { maxFrameBytes: 1024, maxQueuedBytesPerPeer: 4096 })
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    a.send(b.self, new Uint8Array(1025))
    expect(a.metrics().drops['oversized-outbound']).toBe(1)
    expect(a.metrics().peers[b.self]!.drops['oversized-outbound']).toBe(1)
    await stillExchanging(a, b, 'after')
  })

  it('keeps delivering when the handler throws, counting the failure', async () => {
    const errors: unknown[] = []
    cluster = await startCluster(2, { onError: (e) => errors.push(e) })
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    const got: string[] = []
    b.onMessage((_from, m) => {
      const s = text(m)
      if (s === 'boom') throw new Error('handler bug')
      got.push(s)
    })
    a.send(b.self, utf8('boom'))
    a.send(b.self, utf8('fine'))
    await waitFor(() => got.includes('fine'))
    expect(b.metrics().drops['handler-error']).toBe(1)
    expect(errors).toHaveLength(1)
  })

  it('delivers a message to self asynchronously', async () => {
    cluster = await startCluster(1)
    const [a] = cluster.transports as [Libp2pTransport]
    const got: Array<[string, string]> = []
    a.onMessage((from, m) => got.push([from, text(m)]))
    a.send(a.self, utf8('me'))
    expect(got).toEqual([])
    await waitFor(() => got.length === 1)
    expect(got).toEqual([[a.self, 'me']])
  })

  it('sends to a member with no address once it connects to us', async () => {
    cluster = await startCluster(2)
    const [a, b] = cluster.transports as [Libp2pTransport, Libp2pTransport]
    // a forgets b's address; b still knows a's.
    a.setPeers([
      { id: a.self, addrs: [] },
      { id: b.self, addrs: [] },
    ])
    const atB: string[] = []
    b.onMessage((_f, m) => atB.push(text(m)))
    a.onMessage(() => undefined)
    a.send(b.self, utf8('waiting'))
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(atB).toEqual([])
    b.send(a.self, utf8('here I am'))
    await waitFor(() => atB.includes('waiting'), 5000, 'queued message after inbound connection')
  })
})
