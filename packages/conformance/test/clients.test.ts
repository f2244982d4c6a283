// Workload clients that sign their requests and check the answers they get.
import { decodeSignedClientRequest, InvalidMessageError, isSignedClientRequest } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { RequestWrapper } from '../src/clients.js'
import { runScenario } from '../src/run-scenario.js'
import { scenarioByName } from '../src/scenarios/index.js'
import { fixedLeaderToy } from '../src/toys/index.js'

const steady = { ...scenarioByName('steady-state')!, chaosMs: 400, healMs: 800 }

describe('workload clients', () => {
  it('treat an answer that fails verification as no answer: noted on the timeline, never an ok operation', { timeout: 60_000 }, async () => {
    const seen: Uint8Array[] = []
    const result = await runScenario({
      factory: fixedLeaderToy,
      scenario: steady,
      seed: 3,
      clients: {
        verifyAnswer: (command) => {
          seen.push(command)
          throw new InvalidMessageError('no valid proof')
        },
      },
    })
    expect(seen.length).toBeGreaterThan(0)
    expect(result.record.history.filter((op) => op.outcome === 'ok')).toEqual([])
    expect(result.record.timeline.some((e) => e.kind === 'note' && /rejected the answer of n\d: invalid message: no valid proof/.test(e.detail))).toBe(true)
    expect(result.checks.find((c) => c.checker === 'liveness')!.verdict).toBe('violation')
  })

  it('with signed requests send each operation as its own envelope, which the state machine unwraps', { timeout: 60_000 }, async () => {
    const commands: Uint8Array[] = []
    const result = await runScenario({
      factory: fixedLeaderToy,
      scenario: steady,
      seed: 3,
      clients: {
        signedRequests: { cluster: 'test' },
        verifyAnswer: (command) => void commands.push(command),
      },
    })
    expect(result.verdict).toBe('ok')
    expect(result.opsCompleted).toBeGreaterThan(10)
    expect(commands.every(isSignedClientRequest)).toBe(true)
    // Equal operations (reads of one key) are still distinct requests: a session per client, growing timestamps.
    const requests = commands.map((c) => decodeSignedClientRequest(c))
    expect(new Set(requests.map((r) => `${r.session}/${r.timestamp}`)).size).toBe(requests.length)
  })

  it('RequestWrapper: strictly growing timestamps per client session', () => {
    const wrapper = new RequestWrapper(1, 'c')
    const a = decodeSignedClientRequest(wrapper.wrap(2, new Uint8Array([1])))
    const b = decodeSignedClientRequest(wrapper.wrap(2, new Uint8Array([1])))
    expect([a.session, a.timestamp, b.timestamp]).toEqual([2, 1, 2])
  })
})
