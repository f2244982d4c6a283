// The test-only planted bugs of issue 20 are off unless their variable is set,
// and "ack before fsync" really acknowledges before the write reaches storage.
import { describe, expect, it, vi } from 'vitest'
import type { Storage } from '@synod/core'
import { ackBeforeFsync, activeDebugSwitches, readDebugSwitches, tentativeCas, UNSAFE_ACK_BEFORE_FSYNC, UNSAFE_DISABLE_DEFENCES, UNSAFE_LOCAL_READS, UNSAFE_RAW_FORWARD_ERRORS, UNSAFE_SKIP_REPLY_CERTIFICATES } from '../src/debug-switches.js'

describe('debug switches', () => {
  it('are off unless set', () => {
    const off = { localReads: false, ackBeforeFsyncMs: undefined, skipReplyCertificates: false, disableDefences: [], rawForwardErrors: false }
    expect(readDebugSwitches({})).toEqual(off)
    expect(activeDebugSwitches(readDebugSwitches({}))).toEqual([])
    expect(readDebugSwitches({ [UNSAFE_LOCAL_READS]: '0', [UNSAFE_ACK_BEFORE_FSYNC]: '', [UNSAFE_SKIP_REPLY_CERTIFICATES]: 'yes', [UNSAFE_DISABLE_DEFENCES]: ' , ', [UNSAFE_RAW_FORWARD_ERRORS]: 'true' })).toEqual(off)
    const on = readDebugSwitches({
      [UNSAFE_LOCAL_READS]: '1',
      [UNSAFE_ACK_BEFORE_FSYNC]: '250',
      [UNSAFE_SKIP_REPLY_CERTIFICATES]: '1',
      [UNSAFE_DISABLE_DEFENCES]: 'lone-escalation, old-view',
      [UNSAFE_RAW_FORWARD_ERRORS]: '1',
    })
    expect(on).toEqual({ localReads: true, ackBeforeFsyncMs: 250, skipReplyCertificates: true, disableDefences: ['lone-escalation', 'old-view'], rawForwardErrors: true })
    expect(activeDebugSwitches(on)).toEqual([
      UNSAFE_LOCAL_READS,
      UNSAFE_ACK_BEFORE_FSYNC,
      UNSAFE_SKIP_REPLY_CERTIFICATES,
      `${UNSAFE_DISABLE_DEFENCES}=lone-escalation,old-view`,
      UNSAFE_RAW_FORWARD_ERRORS,
    ])
  })

  it('ack before fsync: sync() resolves before the storage synced; the real sync follows after the delay', async () => {
    vi.useFakeTimers()
    try {
      let synced = 0
      let closed = false
      const storage = {
        lastIndex: () => 7,
        sync: () => {
          synced++
          return Promise.resolve()
        },
        close: () => {
          closed = true
          return Promise.resolve()
        },
      } as unknown as Storage
      const unsafe = ackBeforeFsync(storage, 1000)
      expect(unsafe.lastIndex()).toBe(7) // everything else passes through
      await unsafe.sync()
      expect(synced).toBe(0) // acknowledged, not on disk: what a SIGKILL now would lose
      await vi.advanceTimersByTimeAsync(1000)
      expect(synced).toBe(1)
      await unsafe.close()
      expect(closed).toBe(true)
    } finally {
      vi.useRealTimers()
    }
  })

  it('skip reply certificates: a cas is answered from the local value alone', () => {
    expect(tentativeCas('a', 'a', 9)).toEqual({ index: 9, applied: true })
    expect(tentativeCas(null, 'b', 9)).toEqual({ index: 9, applied: false, value: 'b' })
  })
})
