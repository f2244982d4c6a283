import { clientIdOf, type Signer } from '@synod/core'
import { createSigner, generateKeyPair, keyPairFromSecret, type KeyPair } from '@synod/crypto'

/** A client: its ed25519 key pair, the signer over it and its id (lowercase hex of the public key). */
export interface ClientIdentity {
  readonly id: string
  readonly publicKey: Uint8Array
  readonly signer: Signer
  readonly keyPair: KeyPair
}

export function clientIdentity(keyPair: KeyPair): ClientIdentity {
  return { id: clientIdOf(keyPair.publicKey), publicKey: keyPair.publicKey, signer: createSigner(keyPair), keyPair }
}

/** A fresh identity from the platform's CSPRNG (keep its `keyPair.secretKey` secret; @synod/crypto's encodeKeyFile writes it). */
export function generateClientIdentity(): ClientIdentity {
  return clientIdentity(generateKeyPair())
}

/** The identity of a 32-byte ed25519 seed. */
export function clientIdentityFromSecret(secretKey: Uint8Array): ClientIdentity {
  return clientIdentity(keyPairFromSecret(secretKey))
}
