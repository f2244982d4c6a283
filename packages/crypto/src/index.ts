export {
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SECRET_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
} from './ed25519-backends.js'
export type { Ed25519BackendChoice, Ed25519BackendName } from './ed25519-backends.js'
export { digestHex, hmacSha256, hmacSha256Key, hmacSha256With, type KeyedMac, SHA256_BYTES, sha256, sha256With } from './hash.js'
export type { HashBackendChoice } from './hash.js'
export {
  decodeKeyFile,
  encodeKeyFile,
  generateKeyPair,
  KEY_FILE_TYPE,
  keyPairFromSecret,
  publicKeyFromSecret,
} from './keys.js'
export type { KeyPair } from './keys.js'
export { generateEphemeralKeyPair, HTTP_SESSION_KEY_BYTES, httpSessionKey, X25519_KEY_BYTES } from './http-session.js'
export type { EphemeralKeyPair, HttpSessionContext } from './http-session.js'
export { MAC_KEY_BYTES, sharedMacKey } from './mac-key.js'
export { MERKLE_ARITY, merklePath, merkleRoot, merkleTree, resultLeaf, rootFromPath, treeRoot } from './merkle.js'
export type { MerklePath, MerkleStep } from './merkle.js'
export { nodeHasEd25519 } from './node-crypto.js'
export {
  decodeQuorumCertificate,
  encodeQuorumCertificate,
  MAX_CERTIFICATE_SIGNATURES,
  MAX_DIGEST_BYTES,
  MAX_SIGNER_ID_LENGTH,
  quorumCertificateFromValue,
  verifyQuorumCertificate,
} from './quorum-certificate.js'
export type {
  CertificateSignature,
  QuorumCertificate,
  QuorumCertificateRejection,
  QuorumCertificateVerdict,
  VerifyQuorumCertificateOptions,
} from './quorum-certificate.js'
export {
  decodeMerklePath,
  decodeReplyCertificate,
  decodeReplyVotes,
  encodeAnswerCertificate,
  encodeReplies,
  encodeReplyCertificate,
  replyStatement,
  verifyReplyCertificate,
} from './reply-certificate.js'
export type { ReplyCertificate, ReplyVote, VerifiedReply } from './reply-certificate.js'
export { createSigner, createVerifier } from './signer.js'
export type { Ed25519Signer, Ed25519Verifier, SignerOptions, VerifierOptions } from './signer.js'
