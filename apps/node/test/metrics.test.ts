// The metrics an operator reads (issue 19): a scrape of one in-process node after a few writes shows HTTP
// durations by route template (never by key), WAL fsync durations and bytes, leader changes, the store
// revision, and the process and runtime metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { routeOf } from '../src/http-api.js'
import { call, startSingleNode, type SingleNode } from './single-node.js'

let single: SingleNode
beforeAll(async () => {
  single = await startSingleNode()
}, 60_000)
afterAll(async () => {
  await single.close()
})

/** The value of one sample line (name with its labels exactly as printed), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe('GET /metrics', () => {
  it('counts requests by route template, times WAL syncs, and reports leader changes and the revision', async () => {
    let revision = 0
    for (let i = 0; i < 5; i++) revision = (await call(single.base, 'PUT', `/v1/kv/secret-key-${i}`, { value: 'v' })).body.revision as number
    await call(single.base, 'GET', '/v1/kv/secret-key-0')
    await call(single.base, 'GET', '/v1/kv/absent/cas') // 405: counted with its status
    const text = await (await fetch(`${single.base}/metrics`)).text()
    expect(sample(text, 'synod_http_request_seconds_count{route="/v1/kv/{key}",method="PUT",status="200"}')).toBe(5)
    expect(sample(text, 'synod_http_request_seconds_count{route="/v1/kv/{key}",method="GET",status="200"}')).toBe(1)
    expect(sample(text, 'synod_http_request_seconds_count{route="/v1/kv/{key}/cas",method="GET",status="405"}')).toBe(1)
    expect(text).not.toMatch(/secret-key/) // keys never become labels
    expect(sample(text, 'synod_wal_fsync_seconds_count')).toBeGreaterThanOrEqual(5)
    expect(sample(text, 'synod_wal_bytes_total')).toBeGreaterThan(5 * 20)
    expect(sample(text, 'synod_leader_changes_total')).toBeGreaterThanOrEqual(1)
    expect(sample(text, 'synod_is_leader')).toBe(1)
    expect(sample(text, 'synod_kv_revision')).toBe(revision)
    expect(sample(text, 'synod_applied_index')).toBeGreaterThanOrEqual(revision)
    expect(text).toMatch(/^process_cpu_seconds_total /m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m)
  })

  it('routeOf maps every path to a template: keys, member ids and client ids are never labels', () => {
    expect(routeOf('/v1/kv/a%2Fb?consistency=stale')).toBe('/v1/kv/{key}')
    expect(routeOf('/v1/kv/k/append')).toBe('/v1/kv/{key}/append')
    expect(routeOf('/v1/kv?prefix=x')).toBe('/v1/kv')
    expect(routeOf('/v1/members/node7')).toBe('/v1/members/{id}')
    expect(routeOf('/v1/roles/abcd')).toBe('/v1/roles/{client}')
    expect(routeOf('/v1/status')).toBe('/v1/status')
    expect(routeOf('/anything/else')).toBe('other')
  })
})
