// The shared Transport compliance suite against three libp2p transports in
// one process on 127.0.0.1, plus an outsider that knows the members' addresses
// but is not in their membership.
import { describeTransportCompliance } from '@synod/conformance/vitest'
import { createLibp2pTransport } from '../src/index.js'
import { LOOPBACK, startCluster, testKeyPair } from './support.js'

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024

describeTransportCompliance('libp2p (tcp, noise, yamux), 3 nodes on 127.0.0.1', async () => {
  const cluster = await startCluster(3, { maxFrameBytes: MAX_MESSAGE_BYTES })
  const outsider = createLibp2pTransport({
    keyPair: testKeyPair(),
    listen: [LOOPBACK],
    peers: cluster.transports.map((t) => ({ id: t.self, addrs: t.listenAddrs() })),
    protocol: 'test',
    reconnectInitialDelayMs: 20,
    reconnectMaxDelayMs: 100,
  })
  await outsider.start()
  return {
    transports: cluster.transports,
    outsider,
    maxMessageBytes: MAX_MESSAGE_BYTES,
    teardown: async () => {
      await outsider.stop()
      await cluster.stop()
    },
  }
})
