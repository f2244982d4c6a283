import { fromUtf8, membership, utf8 } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { kvCommands, KvStateMachine } from '@synod/kv'
import { pbft } from '@synod/pbft'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { generateClientIdentity, RequestSigner, verifyKvAnswer } from '@synod/client'

// A 4-replica PBFT cluster on the simulator that accepts only client-signed requests.
const sim = new Simulation({ seed: 3 })
const ids = ['r0', 'r1', 'r2', 'r3']
const keys = ids.map((id) => keyPairFromSecret(sha256(utf8(`example:${id}`)))) // fixed seeds: a repeatable run
const members = membership(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey })))
const nodes = ids.map((id, i) =>
  sim.addNode({
    id,
    factory: pbft,
    protocolOptions: { clientAuthentication: 'signed', cluster: 'prod' },
    membership: members,
    storage: memoryStorage(),
    createStateMachine: () => new KvStateMachine(), // it applies signed envelopes in the client's session
    signer: createSigner(keys[i]!),
    verifier: createVerifier(),
  }),
)
for (const node of nodes) await node.start()
const ask = async (envelope: Uint8Array) => {
  const pending = nodes[1]!.replica!.propose(envelope)
  await sim.runFor(200) // virtual time
  return pending
}

const signer = new RequestSigner(generateClientIdentity(), { cluster: 'prod' })
await ask(signer.sign(kvCommands.put('config/flags', 'dark-mode')).envelope)
const { envelope, headers } = signer.sign(kvCommands.get('config/flags'))
console.log(Object.keys(headers)) // what a request to the daemon's HTTP API carries instead
const answer = await ask(envelope)

// Verify with the members' keys from a configuration you trust — never from the node that answered:
const certified = { certificate: answer.proof!, result: answer.result, index: answer.index }
const { kv, signers } = verifyKvAnswer(envelope, certified, members)
if (kv.ok && kv.op === 'get') console.log(fromUtf8(kv.value as Uint8Array), signers)
// The same answer replayed for a newer request is rejected: the certificate binds the exact request.
try {
  verifyKvAnswer(signer.sign(kvCommands.get('config/flags')).envelope, certified, members)
} catch (error) {
  console.log(`replayed: ${(error as Error).message}`)
}
