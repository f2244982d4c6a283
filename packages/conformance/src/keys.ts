import type { NodeId, Signer, Verifier } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret } from '@synod/crypto'
import { SeededRandom } from '@synod/transport-memory'

export interface NodeKey {
  readonly publicKey: Uint8Array
  readonly signer: Signer
  readonly verifier: Verifier
}

/** ed25519 keys for each node, derived from the run's seed so that a run (and its signatures) is reproducible. */
export function nodeKeys(seed: number, ids: readonly NodeId[]): NodeKey[] {
  const verifier = createVerifier()
  return ids.map((id) => {
    const random = SeededRandom.forLabel(seed, `key:${id}`)
    const secret = new Uint8Array(32)
    for (let i = 0; i < secret.length; i++) secret[i] = random.nextUint32() & 0xff
    const keyPair = keyPairFromSecret(secret)
    return { publicKey: keyPair.publicKey, signer: createSigner(keyPair), verifier }
  })
}
