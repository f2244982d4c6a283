export { clientIdentity, clientIdentityFromSecret, generateClientIdentity } from './identity.js'
export type { ClientIdentity } from './identity.js'
export {
  CLIENT_KEY_HEADER,
  hasSignedRequestHeaders,
  parseSignedRequestHeaders,
  SESSION_HEADER,
  SIGNATURE_HEADER,
  signedRequestHeaders,
  TIMESTAMP_HEADER,
} from './http-envelope.js'
export { RequestSigner } from './request-signer.js'
export type { RequestSignerOptions, SignedRequest } from './request-signer.js'
export { verifyAnswer, verifyKvAnswer } from './verify-answer.js'
export type { CertifiedAnswer, VerifiedAnswer } from './verify-answer.js'
export {
  AUTH_SESSION_HEADER,
  AUTH_SESSION_PATH,
  beginHttpSession,
  finishHttpSession,
  HttpSession,
  MAC_HEADER,
  sessionOpenOperation,
} from './http-session.js'
export type { SessionOpening } from './http-session.js'
