import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'
import { call, type SingleNode, startSingleNode } from './single-node.js'

describe('exactly-once across session eviction (a real node)', () => {
  let single: SingleNode
  beforeAll(async () => {
    single = await startSingleNode({ maxSessions: 50 })
  }, 30_000)
  afterAll(() => single.close(), 30_000)

  it('a retry after other clients pushed the session out answers 409 SESSION_EXPIRED and the ledger holds one entry', async () => {
    const seq = String(Date.now())
    const victim = { 'synod-client-id': 'victim', 'synod-client-seq': seq }
    expect(await call(single.base, 'POST', '/v1/kv/ledger/append', { value: 'pay-100' }, victim)).toMatchObject({ status: 200, body: { length: 1 } })
    // Other clients, numbering their writes by the clock as the client library does.
    for (let i = 0; i < 120; i++) {
      const answer = await call(single.base, 'PUT', '/v1/kv/noise', { value: 'x' }, { 'synod-client-id': `other-${i}`, 'synod-client-seq': String(Number(seq) + 1 + i) })
      expect(answer.status).toBe(200)
    }
    const retry = await call(single.base, 'POST', '/v1/kv/ledger/append', { value: 'pay-100' }, victim)
    expect(retry).toMatchObject({ status: 409, body: { error: 'SESSION_EXPIRED' } })
    const ledger = await call(single.base, 'GET', '/v1/kv/ledger')
    expect(JSON.parse(ledger.body.value as string)).toEqual(['pay-100'])
    expect((await call(single.base, 'GET', '/v1/status')).body).toMatchObject({ sessions: 50 })
    // A new request (a newer seq) of the same client runs.
    const next = { 'synod-client-id': 'victim', 'synod-client-seq': String(Number(seq) + 1000) }
    expect(await call(single.base, 'POST', '/v1/kv/ledger/append', { value: 'pay-200' }, next)).toMatchObject({ status: 200, body: { length: 2 } })
  }, 60_000)
})

describe('the data quota (a real node)', () => {
  let single: SingleNode
  beforeAll(async () => {
    // A tiny quota, and a snapshot (log compaction) every 10 entries.
    single = await startSingleNode({ quotaBackendBytes: 2000, protocolOptions: { snapshotThreshold: 10 } })
  }, 30_000)
  afterAll(() => single.close(), 30_000)

  it('past the quota writes answer 507 NO_SPACE with an alarm; reads and deletes work; after delete, compaction and disarm, writes work again', async () => {
    const value = 'v'.repeat(190)
    let i = 0
    let answer: { status: number; body: Record<string, unknown> }
    for (;;) {
      answer = await call(single.base, 'PUT', `/v1/kv/key-${i}`, { value })
      if (answer.status !== 200) break
      i++
      expect(i).toBeLessThan(20)
    }
    expect(answer).toMatchObject({ status: 507, body: { error: 'NO_SPACE' } })
    expect(i).toBe(10) // 10 × (5 + 190) = 1950 bytes; the 11th would be 2145
    const status = (await call(single.base, 'GET', '/v1/status')).body
    expect(status).toMatchObject({ alarms: ['NOSPACE'], dataBytes: 1950, quotaBytes: 2000 })
    const metrics = await (await fetch(`${single.base}/metrics`)).text()
    expect(metrics).toMatch(/synod_alarm\{alarm="NOSPACE"\} 1/)
    expect(metrics).toMatch(/synod_kv_data_bytes 1950/)
    // Even a small write is refused while the alarm is raised; reads and deletes work.
    expect(await call(single.base, 'PUT', '/v1/kv/tiny', { value: '' })).toMatchObject({ status: 507 })
    expect(await call(single.base, 'GET', '/v1/kv/key-0')).toMatchObject({ status: 200, body: { value } })
    for (let k = 0; k < 5; k++) expect(await call(single.base, 'DELETE', `/v1/kv/key-${k}`)).toMatchObject({ status: 200, body: { applied: true } })
    // Compaction: with snapshotThreshold 10 the log has been snapshotted by now.
    const detail = (await call(single.base, 'GET', '/v1/status')).body.detail as { snapshotIndex: number }
    expect(detail.snapshotIndex).toBeGreaterThan(0)
    expect(await call(single.base, 'PUT', '/v1/kv/tiny', { value: '' })).toMatchObject({ status: 507 })
    expect(await cli(['alarm', '--endpoint', single.node.httpAddress])).toEqual({ code: 0, out: 'NOSPACE\n' })
    // `synod alarm disarm` is POST /v1/alarm/disarm.
    expect(await cli(['alarm', 'disarm', '--endpoint', single.node.httpAddress])).toMatchObject({ code: 0, out: expect.stringMatching(/^disarmed \(index \d+\)/) })
    expect(await cli(['alarm', '--endpoint', single.node.httpAddress])).toEqual({ code: 0, out: 'no alarms\n' })
    expect(await call(single.base, 'POST', '/v1/alarm/disarm')).toMatchObject({ status: 200, body: { applied: false, alarms: [] } })
    expect(await call(single.base, 'PUT', '/v1/kv/tiny', { value: 'again' })).toMatchObject({ status: 200 })
    expect((await call(single.base, 'GET', '/v1/status')).body).toMatchObject({ alarms: [] })
    expect(await (await fetch(`${single.base}/metrics`)).text()).toMatch(/synod_alarm\{alarm="NOSPACE"\} 0/)
  }, 60_000)
})

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out += String(chunk)
      done()
    },
  })
  return { code: await main(args, stream), out }
}
