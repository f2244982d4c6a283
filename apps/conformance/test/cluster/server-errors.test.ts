// The server-errors checker: a 5xx other than 501, 503 and 504 is a node failure.
import { describe, expect, it } from 'vitest'
import type { HistoryEvent } from '../../src/cluster/history.js'
import { checkServerErrors, serverErrorStatus } from '../../src/cluster/server-errors.js'

let index = 0
const event = (e: Partial<HistoryEvent>): HistoryEvent => ({ index: index++, time: 1000 * index, process: 1, type: 'info', f: 'write', key: 'k/1', node: 'node1', ...e })

describe('serverErrorStatus', () => {
  it('flags 500, 502 and other 5xx answers', () => {
    expect(serverErrorStatus('500 INTERNAL')).toBe(500)
    expect(serverErrorStatus('500 NETWORK')).toBe(500)
    expect(serverErrorStatus('502 ERROR')).toBe(502)
    expect(serverErrorStatus('507 ERROR')).toBe(507)
  })

  it('does not flag unavailability, timeouts, client errors or errors without a status', () => {
    for (const error of ['503 NOT_LEADER', '503 LEADER_UNREACHABLE', '504 TIMEOUT', '501 UNSUPPORTED', '429 OVERLOADED', '404 NOT_FOUND', 'ECONNREFUSED', 'timeout after 3000 ms', 'UNVERIFIED: 500 answers', 'cas-mismatch', undefined])
      expect(serverErrorStatus(error), String(error)).toBeUndefined()
  })
})

describe('checkServerErrors', () => {
  it('is a violation naming each node that answered a server error', () => {
    const result = checkServerErrors([
      event({ type: 'invoke' }),
      event({ error: '500 NETWORK', node: 'node2' }),
      event({ type: 'fail', f: 'read', error: '500 INTERNAL', node: 'node2' }),
      event({ error: '502 ERROR', node: 'node1' }),
      event({ error: '503 LEADER_UNREACHABLE', node: 'node3' }),
    ])
    expect(result.verdict).toBe('violation')
    expect(result.violations.map((v) => v.message)).toEqual([
      expect.stringMatching(/^node1 answered 1 request\(s\) with a server error \(502 ERROR\)/),
      expect.stringMatching(/^node2 answered 2 request\(s\) with a server error \(500 NETWORK, 500 INTERNAL\); first: write k\/1 at/),
    ])
    expect(result.note).toBe('3 answer(s) in the 5xx range other than 501, 503, 504')
  })

  it('is ok with only unavailability and timeouts, and ignores the nemesis', () => {
    const result = checkServerErrors([
      event({ error: '503 NO_QUORUM' }),
      event({ error: '504 TIMEOUT' }),
      event({ type: 'ok' }),
      event({ process: 'nemesis', f: 'kill', error: '500 whatever' }),
    ])
    expect(result).toMatchObject({ verdict: 'ok', violations: [] })
  })
})
