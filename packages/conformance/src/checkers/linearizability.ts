import type { CheckResult, Operation, RunRecord, Violation } from '../types.js'
import { formatMs } from './result.js'

export interface LinearizabilityOptions {
  /**
   * Search steps allowed per key before giving up with verdict 'unknown'.
   * A step is one look at one history event; realistic histories need a few
   * per operation, adversarial ones grow exponentially.
   */
  readonly stepBudget?: number
}

export const DEFAULT_LINEARIZABILITY_STEP_BUDGET = 2_000_000

/** A register's value; null = the key is absent (the initial state). */
type RegisterValue = string | null

/** One operation as the search sees it. */
interface SearchOp {
  readonly op: Operation
  /** 'ok' operations must be linearized; 'info' ones may be, anywhere after their invocation, or never. */
  readonly required: boolean
  /** The state after applying it to `state`, or undefined when it cannot happen in that state. */
  readonly step: (state: RegisterValue) => RegisterValue | undefined
}

/** Why a key's history is not linearizable: where the longest linearizable prefix got stuck. */
export interface LinearizabilityFailure {
  readonly key: string
  /** 'unwritten-value': a read saw a value no operation wrote; 'no-order': the search exhausted every order. */
  readonly reason: 'unwritten-value' | 'no-order'
  /** The completed operation that no order of the operations before it could explain. */
  readonly stuck: Operation
  /** The register's value after the longest linearizable prefix. */
  readonly stateBefore: RegisterValue
  /** The last operations of that prefix, oldest first. */
  readonly prefixTail: readonly Operation[]
  readonly prefixLength: number
}

type KeyVerdict = { readonly kind: 'ok' } | { readonly kind: 'violation'; readonly failure: LinearizabilityFailure } | { readonly kind: 'unknown'; readonly steps: number }

/**
 * Linearizability of the KV history against a register per key (keys are
 * independent, so each is checked alone): Wing & Gong's search for an order
 * of the operations consistent with real time and the register's semantics,
 * with Lowe's memoization of (set of linearized operations, state) so no
 * configuration is explored twice. 'fail' operations took no effect and are
 * left out; 'info' operations stay open to the end. Bounded by a step budget:
 * when it runs out the verdict is 'unknown', never 'ok'.
 */
export function checkLinearizability(record: RunRecord, options: LinearizabilityOptions = {}): CheckResult {
  const budget = options.stepBudget ?? DEFAULT_LINEARIZABILITY_STEP_BUDGET
  const byKey = new Map<string, Operation[]>()
  for (const op of record.history) {
    let ops = byKey.get(op.key)
    if (ops === undefined) byKey.set(op.key, (ops = []))
    ops.push(op)
  }
  const violations: Violation[] = []
  const undecided: string[] = []
  for (const [key, ops] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const verdict = checkKey(key, ops, budget)
    if (verdict.kind === 'violation') violations.push({ checker: 'linearizability', message: explain(verdict.failure), detail: verdict.failure })
    else if (verdict.kind === 'unknown') undecided.push(key)
  }
  if (violations.length > 0)
    return {
      checker: 'linearizability',
      verdict: 'violation',
      violations,
      ...(undecided.length > 0 ? { note: `undecided within ${budget} steps: ${undecided.join(', ')}` } : {}),
    }
  if (undecided.length > 0)
    return {
      checker: 'linearizability',
      verdict: 'unknown',
      violations: [],
      note: `search budget of ${budget} steps per key exhausted for key(s) ${undecided.join(', ')}; the history is neither proven linearizable nor refuted`,
    }
  return { checker: 'linearizability', verdict: 'ok', violations: [] }
}

function searchOp(op: Operation): SearchOp | undefined {
  if (op.outcome === 'fail') return undefined
  const required = op.outcome === 'ok'
  switch (op.kind) {
    case 'read': {
      // A read with an unknown outcome observed nothing: it constrains nothing.
      if (!required) return undefined
      const seen = op.output?.value ?? null
      return { op, required, step: (state) => (state === seen ? state : undefined) }
    }
    case 'write': {
      const value = op.input.value ?? null
      return { op, required, step: () => value }
    }
    case 'cas': {
      const expected = op.input.expected ?? null
      const value = op.input.value ?? null
      const applied = required ? op.output?.applied : undefined
      if (applied === true) return { op, required, step: (state) => (state === expected ? value : undefined) }
      if (applied === false) return { op, required, step: (state) => (state === expected ? undefined : state) }
      // Unknown whether it applied: it did exactly when the state matched.
      return { op, required, step: (state) => (state === expected ? value : state) }
    }
  }
}

/** Values any operation could have put into the register (a 'fail' put nothing). */
function writtenValues(ops: readonly Operation[]): Set<string> {
  const values = new Set<string>()
  for (const op of ops) {
    if (op.outcome === 'fail' || op.kind === 'read') continue
    if (op.kind === 'cas' && op.outcome === 'ok' && op.output?.applied === false) continue
    if (op.input.value !== undefined) values.add(op.input.value)
  }
  return values
}

function checkKey(key: string, history: readonly Operation[], budget: number): KeyVerdict {
  // A read of a value nobody wrote needs no search, and deserves the plainest explanation.
  const written = writtenValues(history)
  for (const op of history) {
    const seen = op.output?.value
    if (op.kind === 'read' && op.outcome === 'ok' && seen !== undefined && seen !== null && !written.has(seen))
      return { kind: 'violation', failure: { key, reason: 'unwritten-value', stuck: op, stateBefore: null, prefixTail: [], prefixLength: 0 } }
  }
  const ops = history.map(searchOp).filter((s): s is SearchOp => s !== undefined)
  return new LinearizationSearch(key, ops, budget).run()
}

const NONE = -1

/**
 * The search over a doubly linked list of call and return events (dancing
 * links, as in Porcupine): linearizing an operation unlinks its events, and
 * backtracking relinks them in reverse order.
 */
class LinearizationSearch {
  private readonly next: Int32Array
  private readonly prev: Int32Array
  /** Event → operation index; events are 1..2n, 0 is the head sentinel. */
  private readonly eventOp: Int32Array
  private readonly isCall: Uint8Array
  private readonly callEvent: Int32Array
  private readonly returnEvent: Int32Array
  private readonly linearized: Uint32Array

  constructor(
    private readonly key: string,
    private readonly ops: readonly SearchOp[],
    private readonly budget: number,
  ) {
    const events: Array<{ op: number; call: boolean; at: number }> = []
    ops.forEach((s, i) => {
      events.push({ op: i, call: true, at: s.op.invokedAt })
      // 'info' operations never return: they may linearize at any later point.
      if (s.required) events.push({ op: i, call: false, at: s.op.completedAt ?? Number.POSITIVE_INFINITY })
    })
    // At equal times calls come first, so touching operations count as concurrent: the
    // permissive reading, because virtual time often stamps a completion and the next
    // invocation with the same millisecond.
    events.sort((a, b) => a.at - b.at || Number(b.call) - Number(a.call) || ops[a.op]!.op.id - ops[b.op]!.op.id)
    const size = events.length + 1
    this.next = new Int32Array(size)
    this.prev = new Int32Array(size)
    this.eventOp = new Int32Array(size)
    this.isCall = new Uint8Array(size)
    this.callEvent = new Int32Array(ops.length)
    this.returnEvent = new Int32Array(ops.length).fill(NONE)
    events.forEach((e, i) => {
      const id = i + 1
      this.eventOp[id] = e.op
      this.isCall[id] = e.call ? 1 : 0
      if (e.call) this.callEvent[e.op] = id
      else this.returnEvent[e.op] = id
    })
    for (let id = 0; id < size; id++) {
      this.next[id] = id + 1 < size ? id + 1 : NONE
      this.prev[id] = id - 1
    }
    this.linearized = new Uint32Array(Math.ceil(ops.length / 32))
  }

  run(): KeyVerdict {
    const cache = new Set<string>()
    const stack: Array<{ op: number; stateBefore: RegisterValue }> = []
    let state: RegisterValue = null
    let pending = this.ops.filter((s) => s.required).length
    let event = this.next[0]!
    let steps = 0
    let deepest: { stuck: number; state: RegisterValue; prefix: number[] } | undefined
    while (pending > 0) {
      if (++steps > this.budget) return { kind: 'unknown', steps }
      // Unreachable: a pending operation's return event is still ahead in the list.
      if (event === NONE) throw new Error(`linearizability search on key ${this.key} ran off the event list with ${pending} operation(s) pending`)
      const op = this.eventOp[event]!
      if (this.isCall[event] === 1) {
        const after = this.ops[op]!.step(state)
        if (after !== undefined) {
          this.mark(op, true)
          const configuration = this.configuration(after)
          if (!cache.has(configuration)) {
            cache.add(configuration)
            stack.push({ op, stateBefore: state })
            state = after
            this.unlink(op)
            if (this.ops[op]!.required) pending--
            event = this.next[0]!
            continue
          }
          this.mark(op, false)
        }
        event = this.next[event]!
        continue
      }
      // A return event of an operation not yet linearized: this order cannot work.
      if (deepest === undefined || stack.length > deepest.prefix.length)
        deepest = { stuck: op, state, prefix: stack.map((s) => s.op) }
      const undone = stack.pop()
      if (undone === undefined) return { kind: 'violation', failure: this.failure(deepest) }
      this.mark(undone.op, false)
      state = undone.stateBefore
      this.relink(undone.op)
      if (this.ops[undone.op]!.required) pending++
      event = this.next[this.callEvent[undone.op]!]!
    }
    return { kind: 'ok' }
  }

  private failure(deepest: { stuck: number; state: RegisterValue; prefix: number[] }): LinearizabilityFailure {
    return {
      key: this.key,
      reason: 'no-order',
      stuck: this.ops[deepest.stuck]!.op,
      stateBefore: deepest.state,
      prefixTail: deepest.prefix.slice(-5).map((i) => this.ops[i]!.op),
      prefixLength: deepest.prefix.length,
    }
  }

  private mark(op: number, on: boolean): void {
    const word = op >>> 5
    const bit = 1 << (op & 31)
    this.linearized[word] = on ? this.linearized[word]! | bit : this.linearized[word]! & ~bit
  }

  private configuration(state: RegisterValue): string {
    return `${this.linearized.join(',')}|${state === null ? '\u0000' : state}`
  }

  private unlink(op: number): void {
    this.unlinkEvent(this.callEvent[op]!)
    const ret = this.returnEvent[op]!
    if (ret !== NONE) this.unlinkEvent(ret)
  }

  private relink(op: number): void {
    const ret = this.returnEvent[op]!
    if (ret !== NONE) this.relinkEvent(ret)
    this.relinkEvent(this.callEvent[op]!)
  }

  private unlinkEvent(id: number): void {
    const before = this.prev[id]!
    const after = this.next[id]!
    this.next[before] = after
    if (after !== NONE) this.prev[after] = before
  }

  private relinkEvent(id: number): void {
    const before = this.prev[id]!
    const after = this.next[id]!
    this.next[before] = id
    if (after !== NONE) this.prev[after] = id
  }
}

function describeOp(op: Operation): string {
  const span = `[${formatMs(op.invokedAt)}, ${op.completedAt === undefined ? '…' : formatMs(op.completedAt)}]`
  const who = `op ${op.id} of client ${op.client} ${span}`
  switch (op.kind) {
    case 'read':
      return `read → ${show(op.output?.value ?? null)} (${who})`
    case 'write':
      return `write ${show(op.input.value ?? null)} (${who}${op.outcome === 'info' ? ', outcome unknown' : ''})`
    case 'cas': {
      const result = op.outcome === 'info' ? 'outcome unknown' : op.output?.applied === true ? 'applied' : op.output?.applied === false ? 'not applied' : 'applied?'
      return `cas ${show(op.input.expected ?? null)} → ${show(op.input.value ?? null)} ${result} (${who})`
    }
  }
}

function show(value: RegisterValue): string {
  return value === null ? 'absent' : JSON.stringify(value)
}

function explain(failure: LinearizabilityFailure): string {
  const { key, stuck } = failure
  if (failure.reason === 'unwritten-value')
    return `key ${key}: ${describeOp(stuck)} saw a value no operation wrote`
  const tail = failure.prefixTail.map(describeOp).join('; ')
  return (
    `key ${key}: ${describeOp(stuck)} cannot be linearized; the longest linearizable prefix has ${failure.prefixLength} operation(s) ` +
    `and leaves the register ${show(failure.stateBefore)}${tail === '' ? '' : ` (ending with: ${tail})`}`
  )
}
