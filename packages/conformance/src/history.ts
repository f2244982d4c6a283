import type { Operation, OperationKind } from './types.js'

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * Records a client history as it happens: `invoke` when a client sends an
 * operation, `complete` when its outcome is known. Operations never
 * completed become 'info' (unknown outcome) in `toOperations`, which is how
 * the linearizability checker treats a request lost in a crash.
 */
export class HistoryRecorder {
  private readonly operations: Array<Mutable<Operation>> = []
  private readonly openByClient = new Map<number, number>()

  /** Start an operation; returns its id. A client runs one operation at a time. */
  invoke(client: number, key: string, kind: OperationKind, input: Operation['input'], at: number): number {
    const open = this.openByClient.get(client)
    if (open !== undefined) throw new Error(`client ${client} invoked a new operation while operation ${open} is still open`)
    const id = this.operations.length
    this.operations.push({ id, client, key, kind, input, invokedAt: at, completedAt: undefined, outcome: 'info' })
    this.openByClient.set(client, id)
    return id
  }

  /**
   * Finish an operation. 'info' says the outcome is unknown (a timeout): the
   * operation stays open to the checkers and its client is free again.
   */
  complete(id: number, outcome: Operation['outcome'], output: Operation['output'] | undefined, at: number): void {
    const op = this.operations[id]
    if (op === undefined) throw new RangeError(`no operation ${id}`)
    if (this.openByClient.get(op.client) !== id) throw new Error(`operation ${id} was already completed`)
    if (at < op.invokedAt) throw new RangeError(`operation ${id} completed at ${at}, before its invocation at ${op.invokedAt}`)
    this.openByClient.delete(op.client)
    op.outcome = outcome
    if (outcome !== 'info') op.completedAt = at
    if (output !== undefined) op.output = output
  }

  /** Operations still waiting for `complete`. */
  get openCount(): number {
    return this.openByClient.size
  }

  /** A snapshot of the history; operations still open are 'info'. */
  toOperations(): Operation[] {
    return this.operations.map((op) => ({ ...op }))
  }
}
