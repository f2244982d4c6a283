import { NotLeaderError, type CommandResult, type NodeId, type Replica } from '@synod/core'
import type { SeededRandom } from '@synod/transport-memory'
import { raceAttempt } from './attempt.js'
import type { ClientOptions, RequestWrapper } from './clients.js'
import type { Cluster } from './cluster.js'
import { commandDigest } from './digest.js'
import type { KvSession, KvWorkloadCodec } from './kv-codec.js'
import { conformanceVerifier } from './keys.js'
import type { WorkloadOptions } from './scenario.js'
import type { Operation, OperationKind } from './types.js'

type Mutable<T> = { -readonly [K in keyof T]: T[K] }


/**
 * Concurrent KV clients, Jepsen style: each runs one operation at a time on
 * a few hot keys, writes unique values (so a read names the write it saw),
 * retries through leader changes with the same session sequence (so a
 * retried write applies once), and records every operation's invocation and
 * completion in virtual time.
 */
export class KvWorkload<Options = unknown> {
  readonly history: Array<Mutable<Operation>> = []
  /** Digests of the commands of acknowledged writes and applied cas, by operation id. */
  readonly acknowledged = new Map<number, string>()
  private readonly random: SeededRandom
  private readonly keys: string[]
  private readonly lastSeen = new Map<string, string | null>()
  private readonly beliefs = new Map<number, NodeId>()
  private readonly sessions = new Map<number, number>()
  private running = 0
  private opsStarted = 0
  private stopAt = 0
  private healAt = 0
  private finalReadsDone = false
  private finalReadsStarted = false

  constructor(
    private readonly cluster: Cluster<Options>,
    private readonly codec: KvWorkloadCodec,
    private readonly options: WorkloadOptions,
    private readonly clients: { readonly wrap?: RequestWrapper; readonly verifyAnswer?: ClientOptions['verifyAnswer'] } = {},
  ) {
    this.random = cluster.simulation.random('workload')
    this.keys = Array.from({ length: options.keys }, (_, i) => `k${i}`)
  }

  private get sim() {
    return this.cluster.simulation
  }

  /**
   * Start the clients; none begins an operation after `stopAt` (virtual ms).
   * A quarter of `maxOps` is kept for after `healAt`, so the liveness phase
   * always has operations to judge.
   */
  start(healAt: number, stopAt: number): void {
    this.healAt = healAt
    this.stopAt = stopAt
    for (let client = 0; client < this.options.clients; client++) {
      this.running++
      this.sim.schedule(this.random.between(0, this.options.thinkMs[1]), () => void this.clientLoop(client))
    }
  }

  /** True once every client stopped and the final reads finished. */
  get finished(): boolean {
    return this.finalReadsDone
  }

  /** After the clients stop: read every key once more, with retries until `deadline`. */
  private async finalReads(deadline: number): Promise<void> {
    await Promise.all(
      this.keys.map((key, i) => this.operation(this.options.clients + i, 'read', key, deadline - this.sim.now(), false)),
    )
    this.finalReadsDone = true
  }

  /** Schedule the final reads once the clients are idle, giving them until `deadline`. */
  finishBy(deadline: number): void {
    const poll = () => {
      if (this.finalReadsStarted) return
      if (this.running === 0 || this.sim.now() >= deadline - this.options.opTimeoutMs) {
        this.finalReadsStarted = true
        void this.finalReads(deadline)
      } else this.sim.schedule(10, poll)
    }
    this.sim.schedule(Math.max(0, this.stopAt - this.sim.now()), poll)
  }

  private async clientLoop(client: number): Promise<void> {
    try {
      while (this.sim.now() < this.stopAt) {
        const budget = this.sim.now() < this.healAt ? Math.floor(this.options.maxOps * 0.75) : this.options.maxOps
        if (this.opsStarted >= budget) {
          await this.sleep(this.options.thinkMs[1])
          continue
        }
        this.opsStarted++
        const roll = this.random.next()
        const key = this.random.pick(this.keys)
        const kind: OperationKind = roll < this.options.readRatio ? 'read' : roll < this.options.readRatio + this.options.casRatio ? 'cas' : 'write'
        const anyNode = kind === 'read' && this.random.chance(this.options.anyNodeReadRatio)
        await this.operation(client, kind, key, this.options.opTimeoutMs, anyNode)
        await this.sleep(this.random.between(this.options.thinkMs[0], this.options.thinkMs[1]))
      }
    } finally {
      this.running--
    }
  }

  private async operation(client: number, kind: OperationKind, key: string, timeoutMs: number, anyNode: boolean): Promise<void> {
    const id = this.history.length
    let command: Uint8Array
    let input: Operation['input']
    if (kind === 'read') {
      command = this.codec.read(key)
      input = {}
    } else {
      const seq = (this.sessions.get(client) ?? 0) + 1
      this.sessions.set(client, seq)
      const session: KvSession = { client: `c${client}`, seq }
      const value = `c${client}.${seq}`
      if (kind === 'write') {
        command = this.codec.write(key, value, session)
        input = { value }
      } else {
        const expected = this.lastSeen.get(key) ?? null
        command = this.codec.cas(key, expected, value, session)
        input = { expected, value }
      }
    }
    // With signed requests every operation is its own envelope (retries resend the same one).
    if (this.clients.wrap !== undefined) command = this.clients.wrap.wrap(client, command)
    const op: Mutable<Operation> = { id, client, key, kind, input, invokedAt: this.sim.now(), completedAt: undefined, outcome: 'info' }
    this.history.push(op)
    const answer = await this.submit(client, kind, command, timeoutMs, anyNode)
    if (answer.kind === 'ok') {
      op.completedAt = this.sim.now()
      op.outcome = 'ok'
      if (kind === 'read') {
        const value = this.codec.readResult(answer.result.result)
        op.output = { value }
        this.lastSeen.set(key, value)
      } else if (kind === 'write') {
        this.acknowledged.set(id, commandDigest(command))
        this.lastSeen.set(key, input.value!)
      } else {
        const applied = this.codec.casResult(answer.result.result)
        op.output = { applied }
        if (applied) {
          this.acknowledged.set(id, commandDigest(command))
          this.lastSeen.set(key, input.value!)
        }
      }
    } else if (answer.kind === 'fail') {
      op.completedAt = this.sim.now()
      op.outcome = 'fail'
    }
  }

  /** Try nodes until one answers, the operation is definitely refused everywhere, or time runs out. */
  private async submit(
    client: number,
    kind: OperationKind,
    command: Uint8Array,
    timeoutMs: number,
    anyNode: boolean,
  ): Promise<{ kind: 'ok'; result: CommandResult } | { kind: 'fail' } | { kind: 'info' }> {
    const members = this.cluster.ids
    const deadline = this.sim.now() + timeoutMs
    let uncertain = false
    let target = anyNode ? this.random.pick(members) : (this.beliefs.get(client) ?? this.random.pick(members))
    const nextTarget = () => members[(members.indexOf(target) + 1 + this.random.int(0, members.length - 2)) % members.length]!
    while (this.sim.now() < deadline) {
      const replica = this.replicaOf(target)
      if (replica === undefined) {
        target = nextTarget()
        await this.sleep(10)
        continue
      }
      const attempt = kind === 'read' ? replica.read(command) : replica.propose(command)
      const outcome = await raceAttempt(this.sim, attempt, Math.min(this.options.attemptTimeoutMs, deadline - this.sim.now()))
      if (outcome.kind === 'ok') {
        const rejection = this.rejection(command, outcome.result)
        if (rejection === undefined) {
          if (!anyNode) this.beliefs.set(client, target)
          return outcome
        }
        // An answer whose proof does not hold is no answer: the command may or may not have run.
        this.cluster.note('note', `client c${client} rejected the answer of ${target}: ${rejection}`, target)
        uncertain = true
        target = nextTarget()
        continue
      }
      if (outcome.kind === 'timeout') {
        uncertain = true
        target = nextTarget()
        continue
      }
      const error = outcome.error
      const code = (error as { code?: string }).code
      if (error instanceof NotLeaderError) {
        const hint = error.leaderHint
        target = hint !== undefined && hint !== target && members.includes(hint) ? hint : nextTarget()
        if (!anyNode) this.beliefs.set(client, target)
        await this.sleep(5)
      } else if (code === 'PROPOSAL_DROPPED' || code === 'OVERLOADED') {
        await this.sleep(10) // not ordered: safe to try again
      } else {
        // TIMEOUT, STOPPED (the node crashed mid-request) or anything unexpected: it may still take effect.
        uncertain = true
        target = nextTarget()
        await this.sleep(5)
      }
    }
    return uncertain ? { kind: 'info' } : { kind: 'fail' }
  }

  /** Why the answer's proof does not hold for `command`, or undefined when it does (or no verification is asked). */
  private rejection(command: Uint8Array, answer: CommandResult): string | undefined {
    const verify = this.clients.verifyAnswer
    if (verify === undefined) return undefined
    try {
      verify(command, answer, this.cluster.membership, conformanceVerifier())
      return undefined
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    }
  }

  private replicaOf(id: NodeId): Replica<unknown> | undefined {
    const host = this.cluster.hosts.find((h) => h.address === id)
    return host?.node.replica as Replica<unknown> | undefined
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => this.sim.schedule(ms, resolve))
  }
}
