// The shim must run before any libp2p module does: keep this import first.
import './shim.js'

export { encodeFrames, FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_LENGTH } from './framing.js'
export type { FrameDecodeResult } from './framing.js'
export { ed25519PublicKeyFromSeed, libp2pPrivateKey, peerIdFromPublicKey, publicKeyFromPeerId } from './identity.js'
export type { Ed25519KeyPair } from './identity.js'
export { createLibp2pTransport } from './libp2p-transport.js'
export type { Libp2pTransport, Libp2pTransportOptions, PeerAddress } from './libp2p-transport.js'
export type { DropReason, Libp2pTransportMetrics, PeerMetrics } from './metrics.js'
export { PeerSendQueue } from './send-queue.js'
export { installPromiseWithResolvers, promiseWithResolversShimmed } from './shim.js'
