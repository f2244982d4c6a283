// A 3-node Raft cluster over libp2p (TCP, noise, yamux) on 127.0.0.1, each node with durable storage and the KV
// store: elect a leader, write a key, read it back linearizably, exit. Run: node raft-libp2p.mjs
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLibp2pTransport, peerIdFromPublicKey } from '@synod/transport-libp2p' // first: Node 20's shim
import { fromUtf8, membershipOf, Replica, systemClock, systemRandom } from '@synod/core'
import { generateKeyPair } from '@synod/crypto'
import { decodeResult, KvStateMachine, kvCommands } from '@synod/kv'
import { raft } from '@synod/raft'
import { openDurableStorage } from '@synod/storage/node'

const dir = mkdtempSync(join(tmpdir(), 'synod-example-'))
const keys = [1, 2, 3].map(() => generateKeyPair())
const ids = keys.map((k) => peerIdFromPublicKey(k.publicKey)) // a node's id is its libp2p PeerId
const transports = keys.map((keyPair) =>
  createLibp2pTransport({ keyPair, listen: ['/ip4/127.0.0.1/tcp/0'], peers: [], protocol: raft.name }))
await Promise.all(transports.map((t) => t.start())) // port 0: learn the addresses, then tell everyone
const peers = transports.map((t, i) => ({ id: ids[i], addrs: t.listenAddrs() }))
for (const t of transports) t.setPeers(peers)
const replicas = await Promise.all(ids.map(async (self, i) => new Replica({
  factory: raft, self, membership: membershipOf(ids), transport: transports[i], clock: systemClock(),
  random: systemRandom(), stateMachine: new KvStateMachine(), storage: await openDurableStorage(join(dir, self)),
})))
await Promise.all(replicas.map((r) => r.start()))

let leader
for (let i = 0; i < 200 && leader === undefined; i++) { // up to 10 s for an election
  leader = replicas.find((r) => r.status().role === 'leader')
  if (leader === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
}
if (leader === undefined) throw new Error('no leader elected within 10 s')
console.log('leader elected; term', leader.status().term)
await leader.propose(kvCommands.put('greeting', 'hello from raft over libp2p'))
const { value } = decodeResult((await leader.read(kvCommands.get('greeting'))).result)
console.log('read back:', fromUtf8(value))
await Promise.all(replicas.map((r) => r.stop()))
rmSync(dir, { recursive: true, force: true })
