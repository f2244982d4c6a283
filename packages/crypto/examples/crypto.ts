import { byzantineQuorum, membership } from '@synod/core'
import {
  createSigner, createVerifier, decodeKeyFile, encodeKeyFile, generateKeyPair,
  hmacSha256, sha256, sharedMacKey, verifyQuorumCertificate,
} from '@synod/crypto'

const pairs = [generateKeyPair(), generateKeyPair(), generateKeyPair(), generateKeyPair()]
const keyFile = encodeKeyFile(pairs[0]!) // JSON; the daemon writes it with mode 0600
console.log(decodeKeyFile(keyFile).publicKey.length)

const signers = pairs.map((pair) => createSigner(pair)) // backend 'auto': node:crypto when present
const verifier = createVerifier() // caches parsed keys and verdicts
const vote = new TextEncoder().encode('commit view=1 seq=7')
console.log(verifier.verify(signers[0]!.publicKey, vote, signers[0]!.sign(vote)))

// A quorum certificate: 3 of 4 voters sign the digest of the same vote.
const ids = ['n1', 'n2', 'n3', 'n4']
const members = membership(ids.map((id, i) => ({ id, publicKey: pairs[i]!.publicKey })))
const digest = sha256(vote)
const quorum = { membership: members, quorum: byzantineQuorum(4), verifier, expectedDigest: digest }
const signatures = [0, 1, 2].map((i) => ({ signer: ids[i]!, signature: signers[i]!.sign(digest) }))
console.log(verifyQuorumCertificate({ digest, signatures }, quorum))
// Two signatures are not a quorum of 4, and a forged one does not count.
console.log(verifyQuorumCertificate({ digest, signatures: signatures.slice(0, 2) }, quorum))
const forged = { signer: 'n4', signature: signers[0]!.sign(digest) }
console.log(verifyQuorumCertificate({ digest, signatures: [...signatures.slice(0, 2), forged] }, quorum))

// Pairwise MAC keys for PBFT authenticators: both ends derive the same key.
const ab = sharedMacKey(pairs[0]!.secretKey, pairs[1]!.publicKey)
const ba = sharedMacKey(pairs[1]!.secretKey, pairs[0]!.publicKey)
console.log(hmacSha256(ab, vote).join() === hmacSha256(ba, vote).join())
