// The README example, with the same imports; keep README.md in sync with the body below.
import { byzantineQuorum, membership } from '@synod/core'
import {
  createSigner,
  createVerifier,
  decodeKeyFile,
  encodeKeyFile,
  generateKeyPair,
  hmacSha256,
  sha256,
  sharedMacKey,
  verifyQuorumCertificate,
} from '@synod/crypto'
import { expect, it } from 'vitest'

it('the README example runs and prints what it says', () => {
  const logs: unknown[] = []
  const console = { log: (value: unknown) => logs.push(value) }

  const pairs = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()]
  const keyFile = encodeKeyFile(pairs[0]!) // JSON; the daemon writes it with mode 0600
  console.log(decodeKeyFile(keyFile).publicKey.length) // 32

  const signers = pairs.map((pair) => createSigner(pair)) // backend 'auto': node:crypto when present
  const verifier = createVerifier() // caches parsed keys and verdicts
  const vote = new TextEncoder().encode('commit view=1 seq=7')
  console.log(verifier.verify(signers[0]!.publicKey, vote, signers[0]!.sign(vote))) // true

  // A quorum certificate: 3 of 4 voters sign the digest of the same vote.
  const ids = ['n1', 'n2', 'n3', 'n4']
  const members = membership(ids.map((id, i) => ({ id, publicKey: pairs[i]!.publicKey })))
  const digest = sha256(vote)
  const qc = { digest, signatures: [0, 1, 2].map((i) => ({ signer: ids[i]!, signature: signers[i]!.sign(digest) })) }
  console.log(verifyQuorumCertificate(qc, { membership: members, quorum: byzantineQuorum(4), verifier, expectedDigest: digest }))
  // { ok: true }

  // Pairwise MAC keys for PBFT authenticators: both ends derive the same key.
  const ab = sharedMacKey(pairs[0]!.secretKey, pairs[1]!.publicKey)
  const ba = sharedMacKey(pairs[1]!.secretKey, pairs[0]!.publicKey)
  console.log(hmacSha256(ab, vote).join() === hmacSha256(ba, vote).join()) // true

  expect(logs).toEqual([32, true, { ok: true }, true])
})
