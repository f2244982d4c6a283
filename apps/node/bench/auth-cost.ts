// Per-request CPU of authentication, in one process, without the network or
// the log: the client's work to authenticate a PUT (sign vs session MAC) and
// the node's guard check (verify vs MAC), and a forwarded request at the
// leader (member MAC). `pnpm --filter @synod/node bench auth-cost`-style:
//   node --conditions=@synod/source --import tsx apps/node/bench/auth-cost.ts
import type { IncomingMessage } from 'node:http'
import { beginHttpSession, finishHttpSession } from '@synod/client'
import { clientIdOf, signClientRequest, toHex } from '@synod/core'
import { createSigner, createVerifier, generateKeyPair } from '@synod/crypto'
import { RolesTable } from '@synod/kv'
import { ApiGuard } from '../src/auth/guard.js'
import { HttpSessionTable } from '../src/auth/http-sessions.js'
import { MemberMacKeys } from '../src/auth/member-mac.js'
import { describeRequest } from '../src/auth/operations.js'

const N = Number(process.argv[2] ?? 20_000)
const client = generateKeyPair()
const node = generateKeyPair()
const member = generateKeyPair()
const signer = createSigner(client.secretKey)
const sessions = new HttpSessionTable({ cluster: '', node: 'n1' })
const guard = new ApiGuard({
  cluster: '',
  clockSkewMs: 300_000,
  roles: () => new RolesTable([clientIdOf(client.publicKey)]),
  memberKeys: () => new Map([[toHex(member.publicKey), 'm1']]),
  verifier: createVerifier({ cacheSize: 0 }),
  memberMacs: new MemberMacKeys(node.secretKey),
  sessions,
})
const opening = beginHttpSession()
const opened = sessions.open(client.publicKey, opening.ephemeral.publicKey, Date.now())
const session = finishHttpSession(opening, opened, client.publicKey, '', Date.now())
const memberMacs = new MemberMacKeys(member.secretKey)
const body = { value: 'x'.repeat(100) }
const path = '/v1/kv/load-1'
const req = (headers: Record<string, string>) => ({ headers, socket: {} }) as unknown as IncomingMessage

function time(label: string, run: (i: number) => void): number {
  for (let i = 0; i < 500; i++) run(i) // warm up
  const t = process.hrtime.bigint()
  for (let i = 0; i < N; i++) run(i)
  const us = Number(process.hrtime.bigint() - t) / 1000 / N
  console.log(`${label.padEnd(48)} ${us.toFixed(1)} µs`)
  return us
}

let ts = Date.now()
const clientSign = time('client: describe + sign (per request)', () => {
  const { operation } = describeRequest('PUT', path, body)!
  const s = signClientRequest(signer, { session: 0, timestamp: ++ts, operation }, '')
  toHex(s.signature)
})
const clientMac = time('client: describe + session MAC (per request)', () => {
  session.headers(describeRequest('PUT', path, body)!.operation, 0, ++ts)
})
const signedHeaders: Record<string, string>[] = []
const macHeaders: Record<string, string>[] = []
const forwardHeaders: Record<string, string>[] = []
for (let i = 0; i < N + 500; i++) {
  const { operation } = describeRequest('PUT', path, body)!
  const timestamp = ++ts
  const s = signClientRequest(signer, { session: 0, timestamp, operation }, '')
  signedHeaders.push({ 'synod-client-key': toHex(s.client), 'synod-session': '0', 'synod-timestamp': String(timestamp), 'synod-signature': toHex(s.signature) })
  macHeaders.push(session.headers(operation, 0, timestamp))
  forwardHeaders.push({ ...memberMacs.headers(toHex(node.publicKey), operation, ''), 'synod-forwarded-for': clientIdOf(client.publicKey), 'synod-client-id': `${clientIdOf(client.publicKey)}:0`, 'synod-client-seq': String(timestamp) })
}
const nodeVerify = time('node: guard, signed request', (i) => guard.authorize(req(signedHeaders[i]!), 'PUT', path, body))
const nodeMac = time('node: guard, session MAC', (i) => guard.authorize(req(macHeaders[i]!), 'PUT', path, body))
const leaderSigned = time('leader: a forwarded signed request verified again', (i) => guard.authorize(req(signedHeaders[i]!), 'PUT', path, body))
const leaderMac = time('leader: forwarded request, member MAC', (i) => guard.authorize(req(forwardHeaders[i]!), 'PUT', path, body))
console.log(`per request, client + node: signed ${(clientSign + nodeVerify).toFixed(1)} µs, session ${(clientMac + nodeMac).toFixed(1)} µs`)
console.log(`per forwarded request at the leader: signature ${leaderSigned.toFixed(1)} µs, member MAC ${leaderMac.toFixed(1)} µs`)
