// Issue 13 end to end, with real `synod start` processes on 127.0.0.1 and
// authentication on: unauthenticated and wrong-role requests change nothing,
// a readonly client cannot write, a prefix-restricted client cannot read
// outside its prefix (also through a follower, which checks the role at its
// edge and serves the read itself), browser attacks are refused, and a rogue node cannot
// become a member without an admin.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clientIdOf } from '@synod/core'
import { createSigner } from '@synod/crypto'
import { main } from '../src/cli.js'
import { type ClusterNode, freePort, prepareCluster, sleep, startCluster, startNodeProcess, stopNodes, waitLeader, waitReady } from '../src/cluster.js'
import { createClientKey } from '../src/auth/client-key.js'
import { initNode, readKeyFile } from '../src/init.js'
import { type ClientCredentials, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'

const root = mkdtempSync(join(tmpdir(), 'synod-auth-'))
const keyFile = (name: string) => join(root, `${name}.key`)
for (const name of ['admin', 'reader', 'writer', 'stranger']) createClientKey(keyFile(name))
const creds = (name: string): ClientCredentials => ({ signer: createSigner(readKeyFile(keyFile(name)).secretKey) })
const idOf = (name: string) => clientIdOf(readKeyFile(keyFile(name)).publicKey)
const nodes: ClusterNode[] = []
let leader: ClusterNode
let follower: ClusterNode

async function cli(args: string[]): Promise<{ code: number; output: string }> {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const code = await main(args, out)
  return { code, output: Buffer.concat(chunks).toString('utf8') }
}

/** The status a call ends with; on a busy machine leadership may move, so 503/504 are retried as a client would. */
async function status(call: () => Promise<unknown>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await call()
      return 200
    } catch (error) {
      if (!(error instanceof SynodHttpError)) throw error
      if ((error.status !== 503 && error.status !== 504) || attempt >= 100) return error.status
      await sleep(200)
    }
  }
}

/** A call that must succeed, retried while the cluster has no leader. */
async function ok<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call()
    } catch (error) {
      if (!(error instanceof SynodHttpError) || (error.status !== 503 && error.status !== 504) || attempt >= 100) throw error
      await sleep(200)
    }
  }
}

/** A CLI command that must succeed (retried while the cluster has no leader). */
async function cliOk(args: string[]): Promise<{ code: number; output: string }> {
  for (let attempt = 0; ; attempt++) {
    const result = await cli(args)
    if (result.code === 0 || attempt >= 50) return result
    await sleep(200)
  }
}

const as = (name: string | undefined, node: ClusterNode) => new NodeSynodClient(node.http, { timeoutMs: 10_000, ...(name === undefined ? {} : creds(name)) })

beforeAll(async () => {
  nodes.push(...(await prepareCluster(join(root, 'cluster'), 'raft', 3, {}, { admins: [idOf('admin')] })))
  await startCluster(nodes, { timeoutMs: 90_000 })
  const leaderId = await waitLeader(nodes, 60_000, creds('admin'))
  leader = nodes.find((n) => n.id === leaderId)!
  follower = nodes.find((n) => n.id !== leaderId)!
}, 180_000)
afterAll(async () => {
  await stopNodes(nodes, 5000)
  rmSync(root, { recursive: true, force: true })
}, 30_000)

describe('authentication on, real processes', () => {
  it('the admin (from init) writes; no credentials → 401 and no role → 403 on every route, and nothing changes', async () => {
    await ok(() => as('admin', leader).put('secret', 'v1'))
    const before = (await ok(() => as('admin', leader).members())) as { voters: unknown[] }
    for (const who of [undefined, 'stranger']) {
      const c = as(who, follower)
      const expected = who === undefined ? 401 : 403
      expect(await status(() => c.put('secret', 'stolen'))).toBe(expected)
      expect(await status(() => c.delete('secret'))).toBe(expected)
      expect(await status(() => c.cas('secret', 'v1', 'x'))).toBe(expected)
      expect(await status(() => c.append('list', 'x'))).toBe(expected)
      expect(await status(() => c.get('secret'))).toBe(expected)
      expect(await status(() => c.get('secret', { consistency: 'stale' }))).toBe(expected)
      expect(await status(() => c.status())).toBe(expected)
      expect(await status(() => c.members())).toBe(expected)
      expect(await status(() => c.request('GET', '/metrics', undefined, {}))).toBe(expected)
      expect(await status(() => c.removeMember(follower.id))).toBe(expected)
      expect(await status(() => c.request('POST', '/v1/roles', { client: idOf('stranger'), role: 'admin' }, {}))).toBe(expected)
      expect(await status(() => c.request('GET', '/v1/roles', undefined, {}))).toBe(expected)
    }
    expect((await ok(() => as('admin', leader).get('secret'))).value).toBe('v1')
    expect((await ok(() => as('admin', leader).get('list'))).value).toBeNull()
    expect(await ok(() => as('admin', leader).members())).toEqual(before)
  }, 120_000)

  it('roles granted with synod role are enforced on every node: readonly cannot write, a prefix holds', async () => {
    const admin = ['--endpoint', follower.http, '--client-key', keyFile('admin')]
    expect((await cliOk(['role', 'grant', idOf('reader'), 'readonly', '--prefix', 'pub/', ...admin])).code).toBe(0)
    expect((await cliOk(['role', 'grant', idOf('writer'), 'readwrite', '--prefix', 'app/', ...admin])).code).toBe(0)
    const listed = await cliOk(['role', 'list', '--json', ...admin])
    expect(JSON.parse(listed.output).roles).toEqual(
      expect.arrayContaining([
        { client: idOf('reader'), role: 'readonly', prefix: 'pub/' },
        { client: idOf('writer'), role: 'readwrite', prefix: 'app/' },
        { client: idOf('admin'), role: 'admin', prefix: '' },
      ]),
    )
    // The writer writes under app/ through any node (a follower forwards inside Raft) and only there.
    const put = await cliOk(['kv', 'put', 'app/x', 'hello', '--endpoint', follower.http, '--client-key', keyFile('writer')])
    expect(put.code, put.output).toBe(0)
    expect(await status(() => as('writer', leader).put('pub/a', 'x'))).toBe(403)
    expect(await status(() => as('writer', leader).put('secret', 'x'))).toBe(403)
    await ok(() => as('admin', leader).put('pub/a', 'public'))
    for (const node of nodes) {
      // Every node holds the same roles (replicated), each checks at its edge.
      let answer = 0
      for (let i = 0; i < 50 && (answer = await status(() => as('reader', node).get('pub/a', { consistency: 'stale' }))) !== 200; i++) await sleep(100)
      expect(answer).toBe(200)
      expect(await status(() => as('reader', node).get('pub/a'))).toBe(200) // linearizable: a follower serves it itself (Raft follower reads)
      expect(await status(() => as('reader', node).get('secret'))).toBe(403)
      expect(await status(() => as('reader', node).get('app/x', { consistency: 'stale' }))).toBe(403)
      expect(await status(() => as('reader', node).put('pub/a', 'defaced'))).toBe(403)
      expect(await status(() => as('reader', node).removeMember(follower.id))).toBe(403)
    }
    expect((await ok(() => as('admin', leader).get('pub/a'))).value).toBe('public')
    expect((await ok(() => as('admin', leader).get('secret'))).value).toBe('v1')
    // Revoked: the reader is a stranger again.
    expect((await cliOk(['role', 'revoke', idOf('reader'), ...admin])).code).toBe(0)
    expect(await status(() => as('reader', leader).get('pub/a'))).toBe(403)
  }, 120_000)

  it('refuses a cross-site text/plain POST, a foreign Origin and a foreign Host', async () => {
    const [host, port] = leader.http.split(':')
    const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host, port, method, path, headers }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.end(body)
      })
    const member = JSON.stringify({ id: 'x', publicKey: '0'.repeat(64), addrs: ['/ip4/127.0.0.1/tcp/1'] })
    expect(await send('POST', '/v1/members', { 'content-type': 'text/plain', origin: 'https://evil.example' }, member)).toBe(403)
    expect(await send('POST', '/v1/members', { 'content-type': 'text/plain' }, member)).toBe(415)
    expect(await send('GET', '/v1/kv/secret', { host: 'evil.example.com' })).toBe(421)
    expect((await ok(() => as('admin', leader).get('secret'))).value).toBe('v1')
  }, 30_000)

  it('a rogue node cannot become a member without an admin; an admin adds it with its signed join request', async () => {
    const dir = join(root, 'rogue')
    const identity = await initNode(dir)
    const [p2p, http] = [await freePort(), await freePort()]
    const own = { id: identity.id, publicKey: identity.publicKey, addrs: [`/ip4/127.0.0.1/tcp/${p2p}`], http: `127.0.0.1:${http}` }
    // It knows the members (anyone on the network might) and writes itself a joining config.
    const template = JSON.parse(readFileSync(leader.configFile, 'utf8')) as { members: unknown[]; admins: string[] }
    const configFile = join(dir, 'synod.json')
    const config = { protocol: 'raft', dataDir: dir, listen: own.addrs, http: own.http, members: [...template.members, own], join: true, admins: template.admins }
    writeFileSync(configFile, JSON.stringify(config))
    const rogue: ClusterNode = { name: 'rogue', id: identity.id, dataDir: dir, configFile, http: own.http }
    nodes.push(rogue)
    startNodeProcess(rogue)
    await waitReady([rogue], 90_000)
    const voters = async () => ((await ok(() => as('admin', leader).members())) as { voters: Array<{ id: string }>; learners: Array<{ id: string }> })
    const before = await voters()
    // Without credentials, and with its own key (no role), the cluster refuses to take it in.
    const unauthenticated = await cli(['members', 'add', '--node-config', configFile, '--endpoint', follower.http, '--client-key', join(dir, 'node.key')])
    expect(unauthenticated.code).toBe(1)
    expect(await status(() => as(undefined, leader).addMember(own, 'learner'))).toBe(401)
    expect(await status(() => as('writer', leader).addMember(own, 'learner'))).toBe(403)
    // An admin without the node's proof is refused too: nobody vouches that the key is held.
    expect(await status(() => as('admin', leader).addMember(own, 'learner'))).toBe(400)
    await sleep(500)
    expect(await voters()).toEqual(before)
    // The admin, with the node's signed join request: it joins.
    const added = await cliOk(['members', 'add', '--node-config', configFile, '--learner', '--endpoint', follower.http, '--client-key', keyFile('admin')])
    expect(added.code, added.output).toBe(0)
    expect((await voters()).learners.map((m) => m.id)).toContain(identity.id)
    // And an admin can remove it again (admin-only, like adding).
    expect(await status(() => as('writer', leader).removeMember(identity.id))).toBe(403)
    expect(await status(() => as('admin', follower).removeMember(identity.id))).toBe(200)
    expect((await voters()).learners.map((m) => m.id)).not.toContain(identity.id)
  }, 180_000)

  it('a node refuses to serve an unauthenticated API beyond loopback', async () => {
    const dir = join(root, 'exposed')
    const identity = await initNode(dir)
    const member = { id: identity.id, publicKey: identity.publicKey, addrs: ['/ip4/127.0.0.1/tcp/1'] }
    const configFile = join(dir, 'synod.json')
    writeFileSync(configFile, JSON.stringify({ protocol: 'raft', dataDir: dir, listen: member.addrs, http: '0.0.0.0:0', members: [member], authentication: false }))
    const err: string[] = []
    const original = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write
    try {
      expect((await cli(['start', '--config', configFile])).code).toBe(2)
    } finally {
      process.stderr.write = original
    }
    expect(err.join('')).toMatch(/refusing to serve an unauthenticated API on 0\.0\.0\.0:0.*--insecure-allow-unauthenticated/)
  }, 30_000)
})
