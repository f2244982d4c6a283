export { pbft } from './factory.js'
export { PbftNode } from './node.js'
export { defaultPbftOptions } from './options.js'
export type { ClientAuthentication, PbftOptions, RequestAuthentication } from './options.js'
// The reply certificate lives in @synod/crypto (shared with HotStuff); re-exported so this API is unchanged.
export { decodeReplyCertificate, encodeReplyCertificate, verifyReplyCertificate } from '@synod/crypto'
export type { ReplyCertificate, VerifiedReply } from '@synod/crypto'
export { decodeReadCertificate, encodeReadCertificate, isReadCertificate, readLeaf, verifyReadCertificate } from './read-certificate.js'
export type { ReadCertificate, ReadCertificateGroup, VerifiedRead } from './read-certificate.js'
