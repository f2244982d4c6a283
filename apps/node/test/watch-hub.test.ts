// The watch stream (watch.ts) over a real HTTP server on 127.0.0.1 and a real KvStateMachine, read by the
// watch client (@synod/client watch.ts): whole revisions in order, resume by fromRevision and Last-Event-ID,
// COMPACTED, the watcher limit.
import { createServer, get, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { kvCommands, KvStateMachine } from '@synod/kv'
import { utf8 } from '@synod/core'
import type { HttpError } from '../src/http-error.js'
import { WatchHub, watchParams } from '../src/watch.js'
import { watch, type WatchEvent } from '@synod/client'

const servers: Server[] = []
afterEach(() => {
  for (const s of servers.splice(0)) s.close()
})

async function serve(kv: KvStateMachine, maxWatchers = 10): Promise<{ endpoint: string; hub: WatchHub }> {
  const hub = new WatchHub(kv, { maxWatchers, progressMs: 200 })
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const last = req.headers['last-event-id']
    try {
      hub.serve(req, res, watchParams(url.searchParams, typeof last === 'string' ? last : undefined)).catch(() => undefined)
    } catch (error) {
      const e = error as HttpError
      res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: e.code }))
    }
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`, hub }
}

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('watch stream', () => {
  it('streams whole revisions in order for the prefix, live, and resumes from fromRevision without a gap or a duplicate', async () => {
    const kv = new KvStateMachine()
    let index = 0
    kv.apply(kvCommands.put('a/0', 'x'), ++index)
    const { endpoint } = await serve(kv)
    const batches: WatchEvent[][] = []
    const controller = new AbortController()
    const done = watch({ endpoints: [endpoint], prefix: 'a/', fromRevision: 1, signal: controller.signal, onEvents: (e) => batches.push([...e]) })
    await until(() => batches.length === 1)
    kv.apply(kvCommands.put('b/1', 'other'), ++index)
    kv.apply(kvCommands.txn([], [{ op: 'put', key: 'a/1', value: utf8('t') }, { op: 'delete', key: 'a/0' }]), ++index)
    await until(() => batches.length === 2)
    controller.abort()
    const { nextRevision } = await done
    expect(batches.map((b) => b.map((e) => `${e.revision} ${e.type} ${e.key}`))).toEqual([['1 PUT a/0'], ['3 PUT a/1', '3 DELETE a/0']])
    expect(nextRevision).toBe(4)
    // Changes while nobody watched, then a resume from where the client stopped.
    kv.apply(kvCommands.put('a/2', 'y'), ++index)
    const resumed: WatchEvent[] = []
    const again = new AbortController()
    const second = watch({ endpoints: [endpoint], prefix: 'a/', fromRevision: nextRevision!, signal: again.signal, onEvents: (e) => resumed.push(...e) })
    await until(() => resumed.length === 1)
    again.abort()
    await second
    expect(resumed.map((e) => [e.revision, e.key, e.value])).toEqual([[4, 'a/2', 'y']])
  })

  it('Last-Event-ID resumes after the last complete revision', async () => {
    const kv = new KvStateMachine()
    for (let i = 1; i <= 3; i++) kv.apply(kvCommands.put(`k${i}`, 'v'), i)
    const { endpoint } = await serve(kv)
    const text = await new Promise<string>((resolve) => {
      const req = get(`http://${endpoint}/v1/watch?prefix=k`, { headers: { 'last-event-id': '1' } }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          body += c
          if (body.includes('id: 3')) {
            req.destroy()
            resolve(body)
          }
        })
      })
    })
    expect(text).not.toContain('"key":"k1"')
    expect(text).toContain('event: PUT\nid: 2\n')
    expect(text).toContain('"key":"k3"')
  })

  it('a watcher behind the history gets COMPACTED with the compaction revision, and the watcher limit answers 429', async () => {
    const kv = new KvStateMachine({ historyEvents: 2 })
    for (let i = 1; i <= 5; i++) kv.apply(kvCommands.put(`k${i}`, 'v'), i)
    const { endpoint, hub } = await serve(kv, 1)
    let compacted: number | undefined
    const result = await watch({ endpoints: [endpoint], prefix: '', fromRevision: 2, onEvents: () => undefined, onCompacted: (r) => (compacted = r) })
    expect(result.compacted).toBe(true)
    expect(compacted).toBe(3)
    const controller = new AbortController()
    const holder = watch({ endpoints: [endpoint], prefix: '', signal: controller.signal, onEvents: () => undefined })
    await until(() => hub.size === 1)
    const errors: string[] = []
    const refused = new AbortController()
    const second = watch({
      endpoints: [endpoint],
      prefix: '',
      signal: refused.signal,
      onEvents: () => undefined,
      onDisconnect: (_at, error) => {
        errors.push(error?.message ?? '')
        refused.abort()
      },
    })
    await second
    expect(errors[0]).toMatch(/429.*TOO_MANY_WATCHERS/)
    controller.abort()
    await holder
  })

  it('rejects a bad query with 400s naming the parameter', () => {
    expect(() => watchParams(new URLSearchParams('fromRevision=-1'))).toThrow(/fromRevision/)
    expect(() => watchParams(new URLSearchParams('revision=1'))).toThrow(/unknown query parameter 'revision'/)
    expect(watchParams(new URLSearchParams('prefix=p&fromRevision=0'))).toEqual({ prefix: 'p', fromRevision: undefined })
  })
})
