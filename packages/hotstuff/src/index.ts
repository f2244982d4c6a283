export { hotstuff } from './factory.js'
export { HotstuffNode } from './node.js'
export { defaultHotstuffOptions } from './options.js'
export type { ClientAuthentication, HotstuffOptions } from './options.js'
// The reply certificate is PBFT's format (shared in @synod/crypto): @synod/client's verifyAnswer checks both.
export { decodeReplyCertificate, verifyReplyCertificate } from '@synod/crypto'
export type { ReplyCertificate, VerifiedReply } from '@synod/crypto'
