import '../src/shim.js'
import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import {
  createLibp2pTransport,
  ed25519PublicKeyFromSeed,
  type Ed25519KeyPair,
  type Libp2pTransport,
  type Libp2pTransportOptions,
} from '../src/index.js'
import { libp2pPrivateKey, peerIdFromPublicKey } from '../src/identity.js'

export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

/** A fresh ed25519 key pair in @synod/crypto's shape (32-byte seed + 32-byte public key). */
export function testKeyPair(): Ed25519KeyPair {
  const secretKey = new Uint8Array(randomBytes(32))
  return { secretKey, publicKey: ed25519PublicKeyFromSeed(secretKey) }
}

export interface TestCluster {
  readonly transports: Libp2pTransport[]
  readonly keyPairs: Ed25519KeyPair[]
  stop(): Promise<void>
}

/**
 * Start `n` transports on 127.0.0.1 with ephemeral ports, all members of each
 * other. Ports are only known after start, so membership addresses are set
 * once everyone listens.
 */
export async function startCluster(
  n: number,
  overrides: Partial<Libp2pTransportOptions> = {},
  extraMembers: readonly string[] = [],
): Promise<TestCluster> {
  const keyPairs = Array.from({ length: n }, () => testKeyPair())
  const ids = keyPairs.map((k) => peerIdFromPublicKey(k.publicKey))
  const transports = keyPairs.map((keyPair) =>
    createLibp2pTransport({
      keyPair,
      listen: [LOOPBACK],
      peers: [...ids, ...extraMembers].map((id) => ({ id, addrs: [] })),
      protocol: 'test',
      reconnectInitialDelayMs: 20,
      reconnectMaxDelayMs: 200,
      ...overrides,
    }),
  )
  await Promise.all(transports.map((t) => t.start()))
  const peers = [
    ...transports.map((t) => ({ id: t.self, addrs: t.listenAddrs() })),
    ...extraMembers.map((id) => ({ id, addrs: [] })),
  ]
  for (const t of transports) t.setPeers(peers)
  return {
    transports,
    keyPairs,
    stop: async () => {
      await Promise.all(transports.map((t) => t.stop()))
    },
  }
}

/** Poll `condition` every few ms until it holds or `timeoutMs` passes. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array): string => new TextDecoder().decode(b)

/**
 * A bare libp2p node (tcp, noise, yamux) holding `keyPair`: plays a member
 * that misbehaves at the wire level (raw frames, stalls, unknown protocols).
 */
export async function startRawPeer(keyPair: Ed25519KeyPair): Promise<Libp2p> {
  const node = await createLibp2p({
    privateKey: libp2pPrivateKey(keyPair),
    addresses: { listen: [LOOPBACK] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
  return node
}

/** Frames as the transport writes them: 4-byte big-endian length, then the bytes. */
export function frame(payload: Uint8Array, announcedLength = payload.byteLength): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, announcedLength)
  out.set(payload, 4)
  return out
}
