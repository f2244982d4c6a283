// The daemon honours the test-only fault hooks only when SYNOD_DEBUG_FAULT_CONTROL is set: an in-process
// single-voter node whose control file stalls fsync acknowledges no write until the stall is lifted, and
// then acknowledges the waiting one (a write's commit waits for its sync).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FAULT_CONTROL } from '../src/fault-hooks.js'
import { call, startSingleNode } from './single-node.js'

const dir = mkdtempSync(join(tmpdir(), 'synod-fault-daemon-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('daemon with SYNOD_DEBUG_FAULT_CONTROL', () => {
  it('a stalled fsync holds writes back until the control file lifts it', async () => {
    const control = join(dir, 'control.json')
    writeFileSync(control, JSON.stringify({ stallFsync: false }))
    process.env[FAULT_CONTROL] = control
    const single = await startSingleNode().finally(() => delete process.env[FAULT_CONTROL])
    try {
      expect((await call(single.base, 'PUT', '/v1/kv/a', { value: '1' })).status).toBe(200)
      writeFileSync(control, JSON.stringify({ stallFsync: true }))
      await new Promise((resolve) => setTimeout(resolve, 200)) // > the 20 ms poll, even on a busy machine
      let answered = false
      const put = call(single.base, 'PUT', '/v1/kv/b', { value: '2' }).then((r) => ((answered = true), r))
      // Bounded: 40 × 25 ms without an answer while the disk is stalled.
      for (let i = 0; i < 40 && !answered; i++) await new Promise((resolve) => setTimeout(resolve, 25))
      expect(answered).toBe(false)
      writeFileSync(control, JSON.stringify({ stallFsync: false }))
      expect((await put).status).toBe(200)
      expect((await call(single.base, 'GET', '/v1/kv/b')).body.value).toBe('2')
    } finally {
      writeFileSync(control, '{}')
      await single.close()
    }
  }, 60_000)
})
