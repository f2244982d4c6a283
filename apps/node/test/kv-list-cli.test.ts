// `synod kv list` against one in-process node: keys with values in order, keys only, a count, and the
// paging hint; bad usage is exit 2. And revisions (issue 19) through the HTTP API and the CLI.
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { call, startSingleNode, type SingleNode } from './single-node.js'

let single: SingleNode
beforeAll(async () => {
  single = await startSingleNode()
}, 60_000)
afterAll(async () => {
  await single.close()
})

async function synod(...args: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  const sink = new Writable({ write: (chunk, _enc, done) => ((out += String(chunk)), done()) })
  const code = await main([...args, '--endpoint', single.node.httpAddress], sink)
  return { code, out }
}

describe('synod kv list', () => {
  it('lists a prefix with values, keys only, a count, and pages with --after', async () => {
    for (const [k, v] of [['svc/b', '2'], ['svc/a', '1'], ['svc/c', '3'], ['other', 'x']]) expect((await synod('kv', 'put', k!, v!)).code).toBe(0)
    expect(await synod('kv', 'list', 'svc/')).toEqual({ code: 0, out: 'svc/a\t1\nsvc/b\t2\nsvc/c\t3\n' })
    expect(await synod('kv', 'list', 'svc/', '--keys-only', '--stale')).toEqual({ code: 0, out: 'svc/a\nsvc/b\nsvc/c\n' })
    expect(await synod('kv', 'list', '--count')).toEqual({ code: 0, out: '4\n' })
    const page = await synod('kv', 'list', 'svc/', '--limit', '2')
    expect(page.out).toBe('svc/a\t1\nsvc/b\t2\n(more: synod kv list "svc/" --after "svc/b")\n')
    expect((await synod('kv', 'list', 'svc/', '--after', 'svc/b')).out).toBe('svc/c\t3\n')
    expect(JSON.parse((await synod('kv', 'list', 'svc/', '--limit', '1', '--json')).out)).toMatchObject({ kvs: [{ key: 'svc/a', value: '1' }], more: true })
  })

  it('lists a range [start, end) like etcdctl get A B', async () => {
    expect(await synod('kv', 'list', '--start', 'svc/b', '--end', 'svc/c', '--keys-only')).toEqual({ code: 0, out: 'svc/b\n' })
    expect(await synod('kv', 'list', 'svc/', '--start', 'svc/b')).toEqual({ code: 0, out: 'svc/b\t2\nsvc/c\t3\n' })
    expect(await synod('kv', 'list', '--end', 'svc/', '--count')).toEqual({ code: 0, out: '1\n' }) // 'other'
  })

  it('refuses bad usage with exit 2', async () => {
    expect((await synod('kv', 'list', 'a', 'b')).code).toBe(2)
    expect((await synod('kv', 'list', 'a', '--limit', '0')).code).toBe(2)
  })
})

describe('revisions over HTTP and the CLI', () => {
  it('every write answers the store revision (its log index); reads and listings carry each key’s create/mod revision and version', async () => {
    const first = await call(single.base, 'PUT', '/v1/kv/rev%2Fa', { value: '1' })
    const second = await call(single.base, 'PUT', '/v1/kv/rev%2Fa', { value: '2' })
    expect(first.body.revision).toBe(first.body.index)
    expect(second.body.revision).toBe(second.body.index)
    expect(second.body.revision as number).toBeGreaterThan(first.body.revision as number)
    const got = await call(single.base, 'GET', '/v1/kv/rev%2Fa')
    expect(got.body).toMatchObject({ value: '2', revision: second.body.revision, createRevision: first.body.revision, modRevision: second.body.revision, version: 2 })
    const absent = await call(single.base, 'GET', '/v1/kv/rev%2Fnone')
    expect(absent.body).toMatchObject({ value: null, revision: second.body.revision })
    expect(absent.body.modRevision).toBeUndefined()
    const listed = await call(single.base, 'GET', '/v1/kv?prefix=rev%2F')
    expect(listed.body).toMatchObject({ revision: second.body.revision, kvs: [{ key: 'rev/a', value: '2', createRevision: first.body.revision, modRevision: second.body.revision, version: 2 }] })
    const deleted = await call(single.base, 'DELETE', '/v1/kv/rev%2Fa')
    expect(deleted.body).toMatchObject({ applied: true, revision: deleted.body.index })
    const cli = JSON.parse((await synod('kv', 'get', 'svc/a', '--json')).out) as Record<string, number>
    expect(cli).toMatchObject({ value: '1', version: 1 })
    expect(cli.createRevision).toBe(cli.modRevision)
    expect(cli.revision).toBe(deleted.body.revision)
  })
})
