// After the final heal: liveness probes, final reads, and the checkers —
// linearizability and durability from @synod/conformance on the recorded
// history, convergence and liveness of the live nodes.
import { checkDurability, checkLinearizability, type CheckResult, type CommitRecord, type Operation, type RunRecord, type TimelineEvent } from '@synod/conformance'
import type { AnswerVerifier } from './certificates.js'
import { call, kvPath } from './http-call.js'
import { type ClusterHistory, pruneUnobservedUnknowns, toOperations } from './history.js'
import { believed, REGISTER_PREFIX, SET_PREFIX, sleep } from './workload.js'

export interface LiveNode {
  readonly name: string
  readonly http: string
}

/** Time from the heal to the first acknowledged write through each node (undefined: none within the budget). */
export async function probeLiveness(
  nodes: readonly LiveNode[],
  history: ClusterHistory,
  healedAt: number,
  budgetMs: number,
  timeoutMs: number,
  /** Give up early (an interrupt). */
  shouldStop: () => boolean = () => false,
  /** Byzantine protocols: a write counts only with a valid reply certificate. */
  verifier?: AnswerVerifier,
): Promise<Map<string, number | undefined>> {
  const result = new Map<string, number | undefined>()
  await Promise.all(
    nodes.map(async (node) => {
      // Bounded by the budget: one attempt per 200 ms at most, each bounded by the request timeout.
      for (let attempt = 0; history.now() - healedAt < budgetMs && !shouldStop(); attempt++) {
        const key = `live/${node.name}`
        const value = String(attempt)
        const answer = believed(await call(node.http, 'PUT', kvPath(key), { value }, timeoutMs), verifier, (v, body) => v.check({ f: 'write', key, value }, body, node.name))
        if (answer.kind === 'ok') {
          result.set(node.name, history.now() - healedAt)
          return
        }
        await sleep(200)
      }
      result.set(node.name, undefined)
    }),
  )
  return result
}

export function livenessResult(times: ReadonlyMap<string, number | undefined>, budgetMs: number): CheckResult {
  const late = [...times].filter(([, ms]) => ms === undefined)
  return {
    checker: 'liveness',
    verdict: late.length === 0 ? 'ok' : 'violation',
    violations: late.map(([node]) => ({ checker: 'liveness', message: `${node} acknowledged no write within ${budgetMs} ms of the heal` })),
    note: [...times].map(([node, ms]) => `${node} ${ms === undefined ? '—' : `${Math.round(ms)} ms`}`).join(', '),
  }
}

/**
 * Final linearizable reads of every register key through every node, added
 * to the history (process numbers from `firstProcess`): the last word each
 * node gives on each key must fit the history too. Retried (bounded) until a
 * node answers.
 */
export async function finalReads(
  nodes: readonly LiveNode[],
  history: ClusterHistory,
  keys: number,
  firstProcess: number,
  timeoutMs: number,
  budgetMs: number,
  verifier?: AnswerVerifier,
): Promise<void> {
  const deadline = history.now() + budgetMs
  await Promise.all(
    nodes.map(async (node, n) => {
      let process = firstProcess + n * 1000
      for (let k = 0; k < keys; k++) {
        const key = `${REGISTER_PREFIX}${k}`
        while (history.now() < deadline) {
          history.add({ process, type: 'invoke', f: 'read', key, value: null, node: node.name })
          const answer = believed(await call(node.http, 'GET', kvPath(key), undefined, timeoutMs), verifier, (v, body) => v.check({ f: 'read', key }, body, node.name))
          if (answer.kind === 'ok') {
            history.add({ process, type: 'ok', f: 'read', key, value: (answer.body.value as string | null | undefined) ?? null, node: node.name })
            break
          }
          history.add({ process, type: answer.kind, f: 'read', key, node: node.name, error: answer.error })
          if (answer.kind === 'info') process++
          await sleep(200)
        }
      }
    }),
  )
}

/** Every key and value under `prefix` through one node (linearizable unless stale), page by page; undefined if it did not answer. */
async function listAll(node: LiveNode, prefix: string, stale: boolean, timeoutMs: number, failures?: string[]): Promise<Map<string, string | null> | undefined> {
  const all = new Map<string, string | null>()
  let after: string | undefined
  // Bounded: 1000 pages of 1000 keys (the state machine's page limit) is far more than any run writes.
  for (let page = 0; page < 1000; page++) {
    const query = new URLSearchParams({ prefix, limit: '1000', ...(after === undefined ? {} : { after }), ...(stale ? { consistency: 'stale' } : {}) })
    const answer = await call(node.http, 'GET', `/v1/kv?${query.toString()}`, undefined, timeoutMs)
    if (answer.kind !== 'ok' || !Array.isArray(answer.body.kvs)) {
      failures?.push(`${node.name}: ${answer.kind === 'ok' ? 'no kvs in the answer' : answer.error}`)
      return undefined
    }
    const kvs = answer.body.kvs as Array<{ key: string; value: string | null }>
    for (const kv of kvs) all.set(kv.key, kv.value)
    if (answer.body.more !== true || kvs.length === 0) return all
    after = kvs.at(-1)!.key
  }
  return undefined
}

/**
 * Durability through @synod/conformance's checker: every write-once key of
 * the durability set is a log slot and its value the command's digest. Each
 * node's final (linearizable) list of the set is what it "committed"; every
 * acknowledged write must be there on some node, and no node may hold
 * another value in its slot.
 */
export async function checkLiveDurability(nodes: readonly LiveNode[], operations: readonly Operation[], record: Omit<RunRecord, 'commits' | 'acknowledgedCommands'>, timeoutMs: number, budgetMs: number, now: () => number): Promise<CheckResult> {
  const writes = operations.filter((op) => op.kind === 'write' && op.key.startsWith(SET_PREFIX))
  const slot = new Map([...new Set(writes.map((op) => op.key))].sort().map((key, i) => [key, i + 1]))
  const acknowledged = new Map(writes.filter((op) => op.outcome === 'ok').map((op) => [op.id, op.input.value!]))
  const commits: CommitRecord[] = []
  const deadline = now() + budgetMs
  let answered = 0
  const failures: string[] = []
  await Promise.all(
    nodes.map(async (node) => {
      while (now() < deadline) {
        // A final read may be slow (a protocol still recovering, a busy machine): a longer timeout than the workload's.
        const listed = await listAll(node, SET_PREFIX, false, Math.max(timeoutMs, 10_000), failures)
        if (listed !== undefined) {
          answered++
          for (const [key, value] of listed) {
            const index = slot.get(key)
            if (index !== undefined && value !== null) commits.push({ node: node.name, incarnation: 0, index, digest: value, at: now() })
          }
          return
        }
        await sleep(250)
      }
    }),
  )
  if (answered === 0) return { checker: 'durability', verdict: 'unknown', violations: [], note: `no node answered the final read of the durability set within ${budgetMs} ms (last errors: ${failures.slice(-3).join('; ')})` }
  const result = checkDurability({ ...record, commits, acknowledgedCommands: acknowledged })
  return { ...result, note: `${acknowledged.size} acknowledged write-once keys, read back through ${answered} of ${nodes.length} nodes${result.note === undefined ? '' : `; ${result.note}`}` }
}

/** Convergence: every node's local state (stale reads of every key) becomes the same, within the budget. */
export async function checkConvergence(nodes: readonly LiveNode[], timeoutMs: number, budgetMs: number): Promise<CheckResult> {
  const started = performance.now()
  let last: Array<Map<string, string | null> | undefined> = []
  // Bounded by the budget; one round per 300 ms at most.
  while (performance.now() - started < budgetMs) {
    last = await Promise.all(nodes.map((node) => listAll(node, '', true, timeoutMs)))
    const states = last.map((state) => (state === undefined ? undefined : JSON.stringify([...state].filter(([key]) => !key.startsWith('live/')))))
    if (states.every((s) => s !== undefined && s === states[0])) return { checker: 'convergence', verdict: 'ok', violations: [], note: `${nodes.length} nodes agree on ${last[0]!.size} keys` }
    await sleep(300)
  }
  const reference = last.find((s) => s !== undefined)
  const violations = nodes.flatMap((node, i) => {
    const state = last[i]
    if (state === undefined) return [{ checker: 'convergence', message: `${node.name} did not answer its local read` }]
    if (reference === undefined) return []
    const differing = [...new Set([...state.keys(), ...reference.keys()])].filter((key) => !key.startsWith('live/') && state.get(key) !== reference.get(key))
    return differing.length === 0
      ? []
      : [{ checker: 'convergence', message: `${node.name} differs from ${nodes[last.indexOf(reference)]!.name} on ${differing.length} key(s), e.g. ${differing.slice(0, 3).map((k) => `${k}=${JSON.stringify(state.get(k) ?? null)} vs ${JSON.stringify(reference.get(k) ?? null)}`).join(', ')}` }]
  })
  return { checker: 'convergence', verdict: 'violation', violations, note: `the nodes still differed after ${budgetMs} ms` }
}

/** The run as the suite's RunRecord (for the linearizability checker and the timeline picture). */
export function runRecord(nodes: readonly string[], operations: readonly Operation[], timeline: readonly TimelineEvent[], healedAt: number, endedAt: number): Omit<RunRecord, 'commits' | 'acknowledgedCommands'> {
  return { nodes, correctNodes: nodes, history: operations, leaders: [], timeline, healedAt, endedAt, livenessBudgetMs: 0 }
}

export function linearizability(history: ClusterHistory, record: Omit<RunRecord, 'commits' | 'acknowledgedCommands'>): CheckResult {
  const operations = toOperations(history.events)
  const pruned = pruneUnobservedUnknowns(operations, history.events)
  const result = checkLinearizability({ ...record, history: pruned, commits: [], acknowledgedCommands: new Map() })
  const left = operations.length - pruned.length
  return { ...result, note: `${operations.length} operations${left === 0 ? '' : `, ${left} unknown writes whose value nobody saw left out`}${result.note === undefined ? '' : `; ${result.note}`}` }
}
