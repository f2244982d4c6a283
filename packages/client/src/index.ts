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
export { certifiedFields, checkCertifiedFields } from './certified-answer.js'
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
export { SynodClient } from './client.js'
export type { CallOptions, ClientCredentials, ClientWatchOptions, GetOptions, ListOptions, PutOptions, RetryOptions, SynodClientOptions } from './client.js'
export { AbortedError, NetworkError, RequestTimeoutError, SynodHttpError } from './errors.js'
export { fetchTransport } from './transport.js'
export type { StreamingResponse, Transport, TransportRequest, TransportResponse } from './transport.js'
export type { KeyValue, KvResponse, MemberInput, StatusAnswer } from './types.js'
export type { TxnCompareJson, TxnCompareResult, TxnCompareTarget, TxnOpJson, TxnRequest } from './txn.js'
export { txnOperation } from './txn.js'
export { isLoggedWrite, isPublicRoute, operationOf } from './operations.js'
export { signedStreamAuth, watch, WatchRefusedError } from './watch.js'
export type { StreamAuth, WatchEvent, WatchOptions } from './watch.js'
export { VerifiedWatch, WatchVerificationError } from './verified-watch.js'
export type { VerifiedWatchOptions } from './verified-watch.js'
export { SseParser } from './sse.js'
export type { SseMessage } from './sse.js'
export { LeaseSession } from './recipes/session.js'
export type { LeaseSessionOptions, SessionEnd } from './recipes/session.js'
export { Mutex } from './recipes/mutex.js'
export type { MutexOptions } from './recipes/mutex.js'
export { Election } from './recipes/election.js'
export type { Leader } from './recipes/election.js'
export { SessionEndedError } from './recipes/waiters.js'
