// The server-errors checker: a node's answer in the 5xx range other than 501
// (not supported), 503 (unavailable: not the leader, no quorum, the leader
// unreachable — retry) and 504 (timed out, outcome unknown) says the node
// itself failed: the daemon maps every expected failure to one of those or to
// a 4xx, and logs the rest as errors (the same rule: @synod/node's isNodeFailure). The
// outside harness found Raft followers answering 500 when the forward to a dead
// leader failed; such an answer is recorded `info` (its outcome is unknown), so
// no other checker objects to it.
import type { CheckResult } from '@synod/conformance'
import { isNodeFailure } from '@synod/node/http-error'
import type { HistoryEvent } from './history.js'

/** The status of a recorded error (`call` writes "<status> <code>"), when it is a node failure. */
export function serverErrorStatus(error: string | undefined): number | undefined {
  const match = /^(5\d\d) /.exec(error ?? '')
  if (match === null) return undefined
  const status = Number(match[1])
  return isNodeFailure(status) ? status : undefined
}

export function checkServerErrors(events: readonly HistoryEvent[]): CheckResult {
  const byNode = new Map<string, HistoryEvent[]>()
  for (const event of events) {
    if (event.process === 'nemesis' || (event.type !== 'info' && event.type !== 'fail') || serverErrorStatus(event.error) === undefined) continue
    const node = event.node ?? '?'
    const list = byNode.get(node)
    if (list === undefined) byNode.set(node, [event])
    else list.push(event)
  }
  const violations = [...byNode].sort(([a], [b]) => a.localeCompare(b)).map(([node, list]) => {
    const codes = [...new Set(list.map((e) => e.error!))].slice(0, 3).join(', ')
    const first = list[0]!
    return { checker: 'server-errors', message: `${node} answered ${list.length} request(s) with a server error (${codes}); first: ${first.f} ${first.key ?? ''} at ${(first.time / 1000).toFixed(1)} s` }
  })
  const total = [...byNode.values()].reduce((sum, list) => sum + list.length, 0)
  return {
    checker: 'server-errors',
    verdict: violations.length === 0 ? 'ok' : 'violation',
    violations,
    note: total === 0 ? 'no answer other than 501, 503 or 504 in the 5xx range' : `${total} answer(s) in the 5xx range other than 501, 503, 504`,
  }
}
