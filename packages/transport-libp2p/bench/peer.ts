// The far end of the benchmark, in its own process. It serves the same two
// channels side by side — the libp2p transport and a raw node:net server with
// the same 4-byte length-prefixed framing — and on each one either counts
// messages (first byte 0) or echoes them (first byte 1).
// argv[2] is JSON { seedHex, peerId } (the benchmark driver's NodeId).
// stdin: {"cmd":"expect","n":N} → stdout {"event":"armed"}, then {"event":"done"} after N counted messages.
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { fromHex } from '@synod/core'
import { createLibp2pTransport, ed25519PublicKeyFromSeed, encodeFrames, FrameDecoder } from '../src/index.js'

const { seedHex, peerId } = JSON.parse(process.argv[2]!) as { seedHex: string; peerId: string }
const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`)

let counted = 0
let target = Number.POSITIVE_INFINITY
function count(): void {
  if (++counted === target) emit({ event: 'done' })
}

const secretKey = fromHex(seedHex)
const transport = createLibp2pTransport({
  keyPair: { secretKey, publicKey: ed25519PublicKeyFromSeed(secretKey) },
  listen: ['/ip4/127.0.0.1/tcp/0'],
  peers: [{ id: peerId, addrs: [] }],
  protocol: 'bench',
})
transport.onMessage((from, message) => {
  if (message[0] === 1) transport.send(from, message)
  else count()
})
await transport.start()

const server = createServer((socket) => {
  socket.setNoDelay(true)
  const decoder = new FrameDecoder(1024 * 1024)
  socket.on('data', (chunk) => {
    decoder.push([chunk], (message) => {
      if (message[0] === 1) socket.write(encodeFrames([message]))
      else count()
    })
  })
  socket.on('error', () => undefined)
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const address = server.address()
const tcpPort = typeof address === 'object' && address !== null ? address.port : 0

emit({ event: 'ready', id: transport.self, addrs: transport.listenAddrs(), tcpPort })

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const request = JSON.parse(line) as { cmd: string; n?: number }
  if (request.cmd === 'expect') {
    counted = 0
    target = request.n!
    emit({ event: 'armed' })
  }
})
lines.on('close', () => {
  server.close()
  void transport.stop().then(() => process.exit(0))
})
