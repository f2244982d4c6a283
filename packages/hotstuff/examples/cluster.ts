import { fromUtf8, membership, utf8, type StateMachine } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { hotstuff, verifyReplyCertificate } from '@synod/hotstuff'

/** A register: `set <value>` stores it; the result names the index and the previous value. */
class Register implements StateMachine {
  value = ''
  apply(command: Uint8Array, index: number): Uint8Array {
    const previous = this.value
    this.value = fromUtf8(command).replace(/^set /, '')
    return utf8(`index ${index}, was '${previous}'`)
  }
  query(): Uint8Array { return utf8(this.value) }
  snapshot(): Uint8Array { return utf8(this.value) }
  restore(snapshot: Uint8Array): void { this.value = fromUtf8(snapshot) }
}

const sim = new Simulation({ seed: 1 }) // one seed replays the whole run
const ids = ['r0', 'r1', 'r2', 'r3'] // n = 3f+1 = 4 replicas tolerate f = 1 byzantine one
// Keys from fixed seeds so the run repeats; a deployment uses generateKeyPair().
const keys = ids.map((id) => keyPairFromSecret(sha256(utf8(`example:${id}`))))
const members = membership(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey })))
const nodes = ids.map((id, i) =>
  sim.addNode({
    id,
    factory: hotstuff,
    protocolOptions: { viewTimeoutMs: 500 },
    membership: members,
    storage: memoryStorage(),
    createStateMachine: () => new Register(),
    signer: createSigner(keys[i]!),
    verifier: createVerifier(),
  }),
)
for (const node of nodes) await node.start()

const command = utf8('set x')
const pending = nodes[2]!.replica!.propose(command) // any replica accepts proposals
await sim.runFor(200) // virtual time
const answer = await pending
console.log(fromUtf8(answer.result))

// A client trusts the result only with f+1 matching signed replies:
const verified = verifyReplyCertificate(answer.proof!, members, createVerifier(), { command, result: answer.result })
console.log(`certified by ${verified.signers.join(', ')}`)
try {
  verifyReplyCertificate(answer.proof!, members, createVerifier(), { command, result: utf8("index 1, was 'y'") })
} catch (error) {
  console.log(`another result: ${(error as Error).message}`)
}
