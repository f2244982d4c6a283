// `synod kv list` against one in-process node: keys with values in order, keys only, a count, and the
// paging hint; bad usage is exit 2.
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { startSingleNode, type SingleNode } from './single-node.js'

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

  it('refuses bad usage with exit 2', async () => {
    expect((await synod('kv', 'list', 'a', 'b')).code).toBe(2)
    expect((await synod('kv', 'list', 'a', '--limit', '0')).code).toBe(2)
  })
})
