// The concurrent client workload: reads, unique-value writes and cas on a few
// register keys, plus write-once keys under `s/` for the durability check,
// each request to a random node with a per-request timeout.
import type { AnswerVerifier } from './certificates.js'
import { call, type CallResult, kvPath } from './http-call.js'
import type { ClusterHistory } from './history.js'
import { SeededRandom } from './rng.js'

export const REGISTER_PREFIX = 'k/'
export const SET_PREFIX = 's/'

export interface WorkloadOptions {
  readonly clients: number
  readonly keys: number
  readonly seed: number
  readonly requestTimeoutMs: number
  /** host:port of each node's API, by node index. */
  readonly endpoints: () => readonly string[]
  readonly nodeNames: readonly string[]
  /**
   * Byzantine protocols: believe an answer only with a valid reply certificate. One without is
   * recorded as unknown ('info', error UNVERIFIED) and counted by the verifier's checker.
   */
  readonly verifier?: AnswerVerifier
}

/** `result`, or 'info' when a verifier refuses its answer (a verifying client does not believe it). */
export function believed(result: CallResult, verifier: AnswerVerifier | undefined, check: (v: AnswerVerifier, body: Record<string, unknown>) => string | undefined): CallResult {
  if (verifier === undefined || result.kind !== 'ok') return result
  const why = check(verifier, result.body)
  return why === undefined ? result : { kind: 'info', error: `UNVERIFIED: ${why}`, status: result.status, body: result.body }
}

export class Workload {
  private running = false
  private workers: Array<Promise<void>> = []
  /** Next process number to hand out: a client continues as a new process after an 'info'. */
  private nextProcess: number

  constructor(
    private readonly history: ClusterHistory,
    private readonly options: WorkloadOptions,
  ) {
    this.nextProcess = options.clients
  }

  start(): void {
    this.running = true
    this.workers = Array.from({ length: this.options.clients }, (_, c) => this.client(c))
  }

  /** Stop issuing; resolves when every request in flight has completed or timed out (bounded by the request timeout). */
  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.workers)
  }

  private async client(c: number): Promise<void> {
    const random = new SeededRandom(this.options.seed * 1000 + c + 1)
    const known = new Map<string, string | null>()
    let process = c
    let n = 0
    while (this.running) {
      const node = random.int(0, this.options.nodeNames.length - 1)
      const host = this.options.endpoints()[node]!
      const nodeName = this.options.nodeNames[node]!
      const roll = random.next()
      const key = `${REGISTER_PREFIX}${random.int(0, this.options.keys - 1)}`
      const unique = `${process}-${n++}`
      let outcome: 'ok' | 'fail' | 'info'
      if (roll < 0.4) {
        this.history.add({ process, type: 'invoke', f: 'read', key, value: null, node: nodeName })
        const verifier = this.options.verifier
        const result = believed(await call(host, 'GET', kvPath(key), undefined, this.options.requestTimeoutMs), verifier, (v, body) => v.check({ f: 'read', key }, body, nodeName))
        outcome = result.kind
        if (result.kind === 'ok') {
          const value = (result.body.value as string | null | undefined) ?? null
          known.set(key, value)
          this.history.add({ process, type: 'ok', f: 'read', key, value, node: nodeName })
        } else this.history.add({ process, type: result.kind, f: 'read', key, node: nodeName, error: result.error })
      } else if (roll < 0.85) {
        // A write to a register key, or (one in four) to a write-once key of the durability set.
        const target = roll < 0.74 ? key : `${SET_PREFIX}${unique}`
        this.history.add({ process, type: 'invoke', f: 'write', key: target, value: unique, node: nodeName })
        const result = believed(await call(host, 'PUT', kvPath(target), { value: unique }, this.options.requestTimeoutMs), this.options.verifier, (v, body) =>
          v.check({ f: 'write', key: target, value: unique }, body, nodeName),
        )
        outcome = result.kind
        if (result.kind === 'ok') known.set(target, unique)
        this.history.add({
          process,
          type: result.kind,
          f: 'write',
          key: target,
          value: unique,
          node: nodeName,
          ...(result.kind === 'ok' ? {} : { error: result.error }),
        })
      } else {
        const expected = known.get(key) ?? null
        this.history.add({ process, type: 'invoke', f: 'cas', key, value: [expected, unique], node: nodeName })
        const result = believed(await call(host, 'POST', `${kvPath(key)}/cas`, { expected, value: unique }, this.options.requestTimeoutMs), this.options.verifier, (v, body) =>
          v.check({ f: 'cas', key, expected, value: unique }, body, nodeName),
        )
        outcome = result.kind
        if (result.kind === 'ok' && result.body.applied === false) {
          known.set(key, (result.body.value as string | null | undefined) ?? null)
          const current = (result.body.value as string | null | undefined) ?? null
          this.history.add({ process, type: 'fail', f: 'cas', key, value: [expected, unique], node: nodeName, error: 'cas-mismatch', current })
        } else {
          if (result.kind === 'ok') known.set(key, unique)
          this.history.add({
            process,
            type: result.kind,
            f: 'cas',
            key,
            value: [expected, unique],
            node: nodeName,
            ...(result.kind === 'ok' ? {} : { error: result.error }),
          })
        }
      }
      // Jepsen's rule: a process whose last operation is unknown may still be executing it; go on as a new one.
      if (outcome === 'info') process = this.nextProcess++
      // A short think time keeps a busy 2-core machine responsive; after a refusal or an error a longer one,
      // as a real client backs off (a refused connection returns at once and would spin otherwise).
      await sleep(outcome === 'ok' ? random.int(0, 15) : random.int(50, 150))
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
