// Sign/verify and hash throughput of the noble and node backends, measured in
// the same run so the ratios hold even on a noisy machine.
import { against, opsPerSecond, report, type BenchResult } from '@synod/bench-kit'
import { createSigner, createVerifier, hmacSha256With, sha256With } from '../src/index.js'

const MESSAGE_BYTES = 100
const HASH_BYTES = 256
const message = Uint8Array.from({ length: MESSAGE_BYTES }, (_, i) => i)
const hashInput = Uint8Array.from({ length: HASH_BYTES }, (_, i) => i)
const macKey = new Uint8Array(32).fill(7)
const seed = new Uint8Array(32).fill(1)

async function rate(name: string, ops: number, fn: () => void, params: Record<string, unknown>): Promise<BenchResult> {
  const value = await opsPerSecond(() => {
    for (let i = 0; i < ops; i++) fn()
  }, ops)
  return { name, value, unit: 'ops/s', params }
}

const results: BenchResult[] = []
const signParams = { messageBytes: MESSAGE_BYTES }

const nobleSigner = createSigner(seed, { backend: 'noble' })
const nodeSigner = createSigner(seed, { backend: 'node' })
const signature = nodeSigner.sign(message)

const nobleSign = await rate('sign noble', 600, () => nobleSigner.sign(message), signParams)
const nodeSign = await rate('sign node', 5000, () => nodeSigner.sign(message), signParams)
results.push(nobleSign, against(nodeSign, nobleSign))

// cacheSize 0: the raw verify cost, every call a real verification.
const nobleVerifier = createVerifier({ backend: 'noble', cacheSize: 0 })
const nodeVerifier = createVerifier({ backend: 'node', cacheSize: 0 })
const nobleVerify = await rate('verify noble', 150, () => nobleVerifier.verify(nodeSigner.publicKey, message, signature), signParams)
const nodeVerify = await rate('verify node', 2000, () => nodeVerifier.verify(nodeSigner.publicKey, message, signature), signParams)
results.push(nobleVerify, against(nodeVerify, nobleVerify))

// The verdict cache: the same signed message verified again (a forwarded vote).
const cachedVerifier = createVerifier({ backend: 'node' })
const cachedVerify = await rate('verify node, cache hit', 20_000, () => cachedVerifier.verify(nodeSigner.publicKey, message, signature), signParams)
results.push(against(cachedVerify, nodeVerify))

const hashParams = { bytes: HASH_BYTES }
const nobleSha = sha256With('noble')
const nodeSha = sha256With('node')
const nobleHashRate = await rate('sha256 noble', 20_000, () => nobleSha(hashInput), hashParams)
const nodeHashRate = await rate('sha256 node', 50_000, () => nodeSha(hashInput), hashParams)
results.push(nobleHashRate, against(nodeHashRate, nobleHashRate))

const nobleHmac = hmacSha256With('noble')
const nodeHmac = hmacSha256With('node')
const nobleHmacRate = await rate('hmac-sha256 noble', 10_000, () => nobleHmac(macKey, hashInput), hashParams)
const nodeHmacRate = await rate('hmac-sha256 node', 40_000, () => nodeHmac(macKey, hashInput), hashParams)
results.push(nobleHmacRate, against(nodeHmacRate, nobleHmacRate))

report('@synod/crypto', results)
