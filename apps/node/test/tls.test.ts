// The API over TLS with client certificates from the cluster CA (synod ca
// init, synod cert server|client), with a real `synod start` process: a
// certificate for the admin's key acts as the admin — the same identity as
// the admin's signed requests; no certificate, a certificate from another
// CA, or one for a key without a role get 401/403.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { connect } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientIdOf } from '@synod/core'
import { createSigner } from '@synod/crypto'
import { main } from '../src/cli.js'
import { type ClusterNode, prepareCluster, startNodeProcess, stopNodes, waitLeader, waitReady } from '../src/cluster.js'
import { readKeyFile } from '../src/init.js'
import { type ClientCredentials, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'

const root = mkdtempSync(join(tmpdir(), 'synod-tls-'))
// No default client key: requests here authenticate only by what each test passes.
process.env.SYNOD_CLIENT_KEY = join(root, 'no-such.key')
const nodes: ClusterNode[] = []
const pem = (file: string) => readFileSync(file, 'utf8')

async function cli(args: string[]): Promise<{ code: number; output: string }> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const code = await main(args, out)
  return { code, output: Buffer.concat(chunks).toString('utf8') }
}

async function status(call: Promise<unknown>): Promise<number> {
  try {
    await call
    return 200
  } catch (error) {
    if (error instanceof SynodHttpError) return error.status
    throw error
  }
}

let ca: string
const client = (tls: ClientCredentials['tls'], extra: ClientCredentials = {}) => new NodeSynodClient(nodes[0]!.http, { timeoutMs: 10_000, ...extra, ...(tls === undefined ? {} : { tls }) })

beforeAll(async () => {
  for (const name of ['admin', 'stranger']) expect((await cli(['client', 'init', '--client-key', join(root, `${name}.key`)])).code).toBe(0)
  const admin = clientIdOf(readKeyFile(join(root, 'admin.key')).publicKey)
  nodes.push(...(await prepareCluster(join(root, 'cluster'), 'raft', 1, {}, { admins: [admin], tls: true })))
  ca = join(root, 'cluster', 'ca', 'ca.crt')
  for (const name of ['admin', 'stranger']) {
    const issued = await cli(['cert', 'client', '--ca', join(root, 'cluster', 'ca'), '--client-key', join(root, `${name}.key`), '--out', join(root, name)])
    expect(issued.code, issued.output).toBe(0)
  }
  // Another CA's certificate for the admin's own key: not from this cluster's CA, so it proves nothing.
  expect((await cli(['ca', 'init', '--dir', join(root, 'other-ca')])).code).toBe(0)
  expect((await cli(['cert', 'client', '--ca', join(root, 'other-ca'), '--client-key', join(root, 'admin.key'), '--out', join(root, 'forged')])).code).toBe(0)
  startNodeProcess(nodes[0]!)
  await waitReady(nodes, 90_000, { tls: { ca: pem(ca) } })
  await waitLeader(nodes, 60_000, { tls: { ca: pem(ca), cert: pem(join(root, 'admin.crt')), key: pem(join(root, 'admin-key.pem')) } })
}, 180_000)
afterAll(async () => {
  await stopNodes(nodes, 5000)
  rmSync(root, { recursive: true, force: true })
}, 30_000)

describe('TLS and client certificates', () => {
  it('synod ca/cert write keys with mode 0600 and certificates for ed25519 keys', () => {
    expect(statSync(join(root, 'cluster', 'ca', 'ca.key')).mode & 0o777).toBe(0o600)
    expect(statSync(join(root, 'admin-key.pem')).mode & 0o777).toBe(0o600)
    expect(pem(join(root, 'admin.crt'))).toMatch(/BEGIN CERTIFICATE/)
  })

  it('a certificate for the admin key acts as the admin; the CLI speaks TLS with --ca/--cert', async () => {
    const admin = client({ ca: pem(ca), cert: pem(join(root, 'admin.crt')), key: pem(join(root, 'admin-key.pem')) })
    await admin.put('k', 'v')
    expect((await admin.get('k')).value).toBe('v')
    const viaCli = await cli(['kv', 'get', 'k', '--endpoint', nodes[0]!.http, '--ca', ca, '--cert', join(root, 'admin.crt'), '--cert-key', join(root, 'admin-key.pem')])
    expect(viaCli.output).toBe('v\n')
    // The same identity by signature over TLS: one client id for both mechanisms.
    const signing = client({ ca: pem(ca) }, { signer: createSigner(readKeyFile(join(root, 'admin.key')).secretKey) })
    expect((await signing.get('k')).value).toBe('v')
  }, 30_000)

  it('no certificate → 401, another CA → 401, a certificate for a key without a role → 403', async () => {
    expect(await status(client({ ca: pem(ca) }).get('k'))).toBe(401)
    expect(await status(client({ ca: pem(ca), cert: pem(join(root, 'forged.crt')), key: pem(join(root, 'forged-key.pem')) }).put('k', 'forged'))).toBe(401)
    expect(await status(client({ ca: pem(ca), cert: pem(join(root, 'stranger.crt')), key: pem(join(root, 'stranger-key.pem')) }).put('k', 'x'))).toBe(403)
    const admin = client({ ca: pem(ca), cert: pem(join(root, 'admin.crt')), key: pem(join(root, 'admin-key.pem')) })
    expect((await admin.get('k')).value).toBe('v')
    // Plain HTTP to the TLS port gets nothing.
    await expect(new NodeSynodClient(`http://${nodes[0]!.http}`, { timeoutMs: 5000 }).get('k')).rejects.toThrow()
  }, 30_000)

  it('TLS 1.2 is refused at the handshake (the node reads a connection\'s client certificate once: TLS 1.3 cannot renegotiate it)', async () => {
    const [host, port] = nodes[0]!.http.split(':') as [string, string]
    const outcome = await new Promise<string>((resolveOutcome) => {
      const socket = connect({ host, port: Number(port), ca: pem(ca), cert: pem(join(root, 'admin.crt')), key: pem(join(root, 'admin-key.pem')), maxVersion: 'TLSv1.2', servername: 'localhost' })
      socket.once('secureConnect', () => {
        socket.destroy()
        resolveOutcome('connected')
      })
      socket.once('error', (error: NodeJS.ErrnoException) => resolveOutcome(error.code ?? error.message))
    })
    expect(outcome).not.toBe('connected')
    expect(outcome).toMatch(/VERSION|PROTOCOL/)
  }, 30_000)
})
