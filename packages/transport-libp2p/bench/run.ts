// Benchmark of @synod/transport-libp2p between two processes on 127.0.0.1,
// next to raw node:net TCP with the same framing, measured in the same run:
//   - one-way 100 B messages/s (the sender keeps its queue topped up, so
//     messages are batched into large writes — how a Replica sends a batch),
//   - round trips/s of one 100 B message at a time (request/response).
// Run: pnpm --filter @synod/transport-libp2p bench
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { connect, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { against, median, opsPerSecond, percentile, report, type BenchResult } from '@synod/bench-kit'
import { toHex } from '@synod/core'
import { createLibp2pTransport, ed25519PublicKeyFromSeed, encodeFrames, FrameDecoder, peerIdFromPublicKey } from '../src/index.js'

const MESSAGE_BYTES = 100
const ONE_WAY_MESSAGES = 100_000
const ROUND_TRIPS = 2000
const RUNS = 5
/** The sender tops its queue up to this many messages; well under the queue bound, so nothing is dropped. */
const SEND_WINDOW = 8192
const SEND_CHUNK = 1024

const here = dirname(fileURLToPath(import.meta.url))
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href

const oneWayMessage = new Uint8Array(MESSAGE_BYTES)
const echoMessage = new Uint8Array(MESSAGE_BYTES).fill(7)
echoMessage[0] = 1

// ---- the far end ----
const driverSeed = new Uint8Array(randomBytes(32))
const driverKey = { secretKey: driverSeed, publicKey: ed25519PublicKeyFromSeed(driverSeed) }
const child = spawn(
  process.execPath,
  [
    '--conditions=@synod/source',
    '--import',
    tsxLoader,
    join(here, 'peer.ts'),
    JSON.stringify({ seedHex: toHex(new Uint8Array(randomBytes(32))), peerId: peerIdFromPublicKey(driverKey.publicKey) }),
  ],
  { stdio: ['pipe', 'pipe', 'inherit'] },
)
const waiters: Array<{ event: string; resolve: (e: Record<string, unknown>) => void }> = []
createInterface({ input: child.stdout }).on('line', (line) => {
  const event = JSON.parse(line) as Record<string, unknown>
  const index = waiters.findIndex((w) => w.event === event.event)
  if (index >= 0) waiters.splice(index, 1)[0]!.resolve(event)
})
const next = (event: string) => new Promise<Record<string, unknown>>((resolve) => waiters.push({ event, resolve }))
const ready = (await next('ready')) as { id: string; addrs: string[]; tcpPort: number }

/** Tell the far end to count `n` messages; resolves once it listens, with the promise of its 'done'. */
async function arm(n: number): Promise<{ done: Promise<unknown> }> {
  const armed = next('armed')
  const done = next('done')
  child.stdin.write(`${JSON.stringify({ cmd: 'expect', n })}\n`)
  await armed
  // Wrapped: an async function returning a bare promise would wait for it.
  return { done }
}
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

// ---- libp2p ----
const transport = createLibp2pTransport({
  keyPair: driverKey,
  listen: ['/ip4/127.0.0.1/tcp/0'],
  peers: [{ id: ready.id, addrs: ready.addrs }],
  protocol: 'bench',
})
let echoed: (() => void) | undefined
transport.onMessage(() => echoed?.())
await transport.start()

async function libp2pOneWay(): Promise<void> {
  const { done } = await arm(ONE_WAY_MESSAGES)
  let sent = 0
  while (sent < ONE_WAY_MESSAGES) {
    if (transport.metrics().peers[ready.id]!.queuedMessages < SEND_WINDOW)
      for (let k = 0; k < SEND_CHUNK && sent < ONE_WAY_MESSAGES; k++, sent++) transport.send(ready.id, oneWayMessage)
    await tick()
  }
  await done
}

const libp2pLatencies: number[] = []
async function libp2pRoundTrips(): Promise<void> {
  for (let k = 0; k < ROUND_TRIPS; k++) {
    const start = performance.now()
    await new Promise<void>((resolve) => {
      echoed = resolve
      transport.send(ready.id, echoMessage)
    })
    libp2pLatencies.push(performance.now() - start)
  }
}

// ---- raw TCP, same framing ----
const socket: Socket = await new Promise((resolve, reject) => {
  const s = connect(ready.tcpPort, '127.0.0.1', () => resolve(s))
  s.once('error', reject)
})
socket.setNoDelay(true)
let tcpEchoed: (() => void) | undefined
const tcpDecoder = new FrameDecoder(1024 * 1024)
socket.on('data', (chunk) => tcpDecoder.push([chunk], () => tcpEchoed?.()))

async function tcpOneWay(): Promise<void> {
  const { done } = await arm(ONE_WAY_MESSAGES)
  const chunk = Array.from({ length: SEND_CHUNK }, () => oneWayMessage)
  let sent = 0
  while (sent < ONE_WAY_MESSAGES) {
    const batch = Math.min(SEND_CHUNK, ONE_WAY_MESSAGES - sent)
    const bytes = encodeFrames(batch === SEND_CHUNK ? chunk : chunk.slice(0, batch))
    sent += batch
    if (!socket.write(bytes)) await new Promise((resolve) => socket.once('drain', resolve))
    else await tick()
  }
  await done
}

const tcpLatencies: number[] = []
async function tcpRoundTrips(): Promise<void> {
  const frame = encodeFrames([echoMessage])
  for (let k = 0; k < ROUND_TRIPS; k++) {
    const start = performance.now()
    await new Promise<void>((resolve) => {
      tcpEchoed = resolve
      socket.write(frame)
    })
    tcpLatencies.push(performance.now() - start)
  }
}

// ---- measure (interleaved per kind, so both see the same machine state) ----
const params = { messageBytes: MESSAGE_BYTES, processes: 2, host: '127.0.0.1', runs: RUNS }
const tcpOneWayRate = await opsPerSecond(tcpOneWay, ONE_WAY_MESSAGES, RUNS)
const libp2pOneWayRate = await opsPerSecond(libp2pOneWay, ONE_WAY_MESSAGES, RUNS)
const tcpRoundTripRate = await opsPerSecond(tcpRoundTrips, ROUND_TRIPS, RUNS)
const libp2pRoundTripRate = await opsPerSecond(libp2pRoundTrips, ROUND_TRIPS, RUNS)

const drops = transport.metrics().drops
if (Object.keys(drops).length > 0) throw new Error(`the benchmark dropped messages: ${JSON.stringify(drops)}`)

const tcpOneWayResult: BenchResult = {
  name: 'tcp one-way',
  value: tcpOneWayRate,
  unit: 'msg/s',
  params: { ...params, messages: ONE_WAY_MESSAGES, framing: '4-byte length prefix', batch: SEND_CHUNK },
}
const tcpRoundTripResult: BenchResult = { name: 'tcp round trip', value: tcpRoundTripRate, unit: 'rt/s', params: { ...params, roundTrips: ROUND_TRIPS } }
const tcpP50: BenchResult = { name: 'tcp round trip p50', value: median(tcpLatencies) * 1000, unit: 'µs', params: { ...params } }
const results: BenchResult[] = [
  tcpOneWayResult,
  against(
    { name: 'libp2p one-way', value: libp2pOneWayRate, unit: 'msg/s', params: { ...params, messages: ONE_WAY_MESSAGES, sendWindow: SEND_WINDOW } },
    tcpOneWayResult,
  ),
  tcpRoundTripResult,
  against({ name: 'libp2p round trip', value: libp2pRoundTripRate, unit: 'rt/s', params: { ...params, roundTrips: ROUND_TRIPS } }, tcpRoundTripResult),
  tcpP50,
  against({ name: 'libp2p round trip p50', value: median(libp2pLatencies) * 1000, unit: 'µs', params: { ...params } }, tcpP50),
  { name: 'libp2p round trip p99', value: percentile(libp2pLatencies, 99) * 1000, unit: 'µs', params: { ...params } },
]
report('@synod/transport-libp2p', results)

socket.destroy()
await transport.stop()
child.stdin.end()
await new Promise((resolve) => child.once('exit', resolve))
