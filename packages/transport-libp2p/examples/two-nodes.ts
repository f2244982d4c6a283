// Two Synod transports on 127.0.0.1 exchanging a message.
// Run: node --conditions=@synod/source --import tsx examples/two-nodes.ts
import { randomBytes } from 'node:crypto'
import { createLibp2pTransport, ed25519PublicKeyFromSeed, peerIdFromPublicKey } from '@synod/transport-libp2p'

// In the daemon the key pair comes from @synod/crypto (generateKeyPair()); any 32-byte seed works.
function keyPair() {
  const secretKey = new Uint8Array(randomBytes(32))
  return { secretKey, publicKey: ed25519PublicKeyFromSeed(secretKey) }
}
const aliceKey = keyPair()
const bobKey = keyPair()
const alice = peerIdFromPublicKey(aliceKey.publicKey) // the NodeId is the libp2p PeerId
const bob = peerIdFromPublicKey(bobKey.publicKey)

const a = createLibp2pTransport({
  keyPair: aliceKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  peers: [{ id: bob, addrs: [] }], // a member we cannot dial yet: it will dial us
  protocol: 'raft', // wire protocol id /synod/raft/1.0.0
})
await a.start()

const b = createLibp2pTransport({
  keyPair: bobKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  peers: [{ id: alice, addrs: a.listenAddrs() }],
  protocol: 'raft',
})
await b.start()

const received = new Promise<string>((resolve) => {
  a.onMessage((from, message) => resolve(`${from === bob ? 'bob' : from} says ${new TextDecoder().decode(message)}`))
})
b.send(alice, new TextEncoder().encode('hello'))
console.log(await received)
const { messagesSent, bytesSent } = b.metrics().peers[alice]!
console.log({ messagesSent, bytesSent })

await b.stop()
await a.stop()
