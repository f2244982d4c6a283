// The views checker, for the protocols whose view advances only on a
// certificate signed by a quorum (PBFT, HotStuff): after the final heal, no
// replica may stay more than one view above the view a quorum has reached.
//
// Why that bound holds for correct replicas: a HotStuff replica enters view V
// with a QC or TC of V−1, signed by a quorum that was at V−1 and never goes
// back; a PBFT replica escalates to M+1 only after a quorum's VIEW-CHANGE(M),
// and joins a higher view only one some correct replica asked for
// (docs/adr/0010). So a quorum is at ≥ V−1 whenever a correct replica is at V.
// A replica further up climbed on its own and stays there, out of the vote:
// the outside harness's finding "a PBFT replica stuck in a higher view after
// healing" (it answered nothing then; since ADR 0010 it still serves, so only
// its view shows it). Crash-fault protocols (Raft, Paxos) are not checked: a
// higher term there is adopted by everyone it reaches, by design.
import type { CheckResult } from '@synod/conformance'
import { call } from './http-call.js'
import { sleep } from './workload.js'

export interface ViewSpread {
  /** The highest view at least `quorum` replicas reached (the `quorum`-th highest). */
  readonly quorumView: number
  /** Replicas more than one view above it, with their views. */
  readonly above: ReadonlyArray<readonly [string, number]>
}

/** undefined when fewer than `quorum` replicas reported a view (nothing to compare with). */
export function viewSpread(views: ReadonlyMap<string, number>, quorum: number): ViewSpread | undefined {
  if (!Number.isSafeInteger(quorum) || quorum < 1) throw new RangeError(`quorum must be a positive integer, not ${quorum}`)
  const sorted = [...views.values()].sort((a, b) => b - a)
  if (sorted.length < quorum) return undefined
  const quorumView = sorted[quorum - 1]!
  return { quorumView, above: [...views].filter(([, view]) => view > quorumView + 1) }
}

/**
 * Polls every node's /v1/status (its `term`: the view) until no replica is more than one view above the
 * quorum's, or the budget runs out (a view change under way settles within it).
 */
export async function checkViews(nodes: ReadonlyArray<{ readonly name: string; readonly http: string }>, quorum: number, timeoutMs: number, budgetMs: number): Promise<CheckResult> {
  const started = performance.now()
  let views = new Map<string, number>()
  let spread: ViewSpread | undefined
  // Bounded by the budget; one round per 300 ms at most.
  do {
    const answers = await Promise.all(nodes.map((node) => call(node.http, 'GET', '/v1/status', undefined, timeoutMs)))
    views = new Map(nodes.flatMap((node, i) => {
      const answer = answers[i]!
      return answer.kind === 'ok' && typeof answer.body.term === 'number' ? [[node.name, answer.body.term] as const] : []
    }))
    spread = viewSpread(views, quorum)
    if (spread !== undefined && spread.above.length === 0) break
    await sleep(300)
  } while (performance.now() - started < budgetMs)
  const note = `views ${[...views].map(([node, view]) => `${node} ${view}`).join(', ') || 'unknown'}`
  if (spread === undefined) return { checker: 'views', verdict: 'unknown', violations: [], note: `fewer than ${quorum} nodes reported their view within ${budgetMs} ms; ${note}` }
  return {
    checker: 'views',
    verdict: spread.above.length === 0 ? 'ok' : 'violation',
    violations: spread.above.map(([node, view]) => ({
      checker: 'views',
      message: `${node} stayed in view ${view}, ${view - spread!.quorumView} above view ${spread!.quorumView} that a quorum of ${quorum} reached, for ${budgetMs} ms after the heal (a correct replica is at most one view above it: it is stuck there alone)`,
    })),
    note,
  }
}
