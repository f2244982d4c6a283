// Reads at a past revision through the daemon (issue 19): `GET /v1/kv?…&revision=R`, `synod kv list
// --revision R` and `synod kv get KEY --revision R` against one in-process node with a small watch history,
// so the window moves: below it 410 COMPACTED with the compaction revision, beyond the store 400 FUTURE_REVISION.
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { call, startSingleNode, type SingleNode } from './single-node.js'

let single: SingleNode
beforeAll(async () => {
  single = await startSingleNode({ historyEvents: 6 })
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

describe('reads at a past revision', () => {
  it('answers as of the revision, within the history; COMPACTED below it, FUTURE_REVISION beyond the store', async () => {
    const put = async (key: string, value: string) => (await call(single.base, 'PUT', `/v1/kv/${encodeURIComponent(key)}`, { value })).body.revision as number
    const first = await put('cfg/a', '1')
    const second = await put('cfg/b', '2')
    const third = await put('cfg/a', '3')
    const removed = (await call(single.base, 'DELETE', `/v1/kv/${encodeURIComponent('cfg/b')}`)).body.revision as number
    const atSecond = await call(single.base, 'GET', `/v1/kv?prefix=cfg/&revision=${second}`)
    expect(atSecond.status).toBe(200)
    expect(atSecond.body).toMatchObject({
      kvs: [
        { key: 'cfg/a', value: '1', createRevision: first, modRevision: first, version: 1 },
        { key: 'cfg/b', value: '2', createRevision: second, modRevision: second, version: 1 },
      ],
      revision: removed, // the store's revision now (etcd's header revision)
    })
    expect((await call(single.base, 'GET', `/v1/kv?prefix=cfg/&revision=${third}&keysOnly=true`)).body).toMatchObject({ keys: ['cfg/a', 'cfg/b'] })
    expect((await call(single.base, 'GET', `/v1/kv?prefix=cfg/&revision=${removed}&countOnly=true`)).body).toMatchObject({ count: 1 })

    expect(await synod('kv', 'list', 'cfg/', '--revision', String(second))).toEqual({ code: 0, out: 'cfg/a\t1\ncfg/b\t2\n' })
    expect(await synod('kv', 'get', 'cfg/a', '--revision', String(first))).toEqual({ code: 0, out: '1\n' })
    expect(await synod('kv', 'get', 'cfg/b', '--revision', String(removed))).toEqual({ code: 0, out: '(absent)\n' })
    expect(JSON.parse((await synod('kv', 'get', 'cfg/a', '--revision', String(third), '--json')).out)).toMatchObject({ value: '3', modRevision: third, version: 2 })

    const future = await call(single.base, 'GET', `/v1/kv?prefix=cfg/&revision=${removed + 1000}`)
    expect(future).toMatchObject({ status: 400, body: { error: 'FUTURE_REVISION', revision: removed } })
    expect((await call(single.base, 'GET', '/v1/kv?prefix=cfg/&revision=0')).status).toBe(400)

    // Move the window (6 events) past the first writes.
    for (let i = 0; i < 8; i++) await put(`other/${i}`, 'x')
    const compacted = await call(single.base, 'GET', `/v1/kv?prefix=cfg/&revision=${first}`)
    expect(compacted.status).toBe(410)
    expect(compacted.body.error).toBe('COMPACTED')
    const compactRevision = compacted.body.compactRevision as number
    expect(compactRevision).toBeGreaterThan(first)
    // The compaction revision itself still reads (etcd: revisions below it are compacted).
    expect((await call(single.base, 'GET', `/v1/kv?prefix=cfg/&revision=${compactRevision}`)).body).toMatchObject({ kvs: [{ key: 'cfg/a', value: '3' }] })
    expect((await synod('kv', 'list', 'cfg/', '--revision', String(first))).code).toBe(1)
  }, 30_000)
})
