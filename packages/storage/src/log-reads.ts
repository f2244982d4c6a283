import type { LogEntry, StoredSnapshot } from '@synod/core'
import { checkRange, sliceByBytes } from './log-rules.js'

/**
 * The read side of the Storage contract over an in-memory log, shared by the
 * memory and the durable store (the durable one keeps its live log in memory
 * too): both answer reads identically by construction.
 */
export abstract class InMemoryLogReads {
  /** Entries from `first` on; `log[i]` has index `first + i`. */
  protected log: LogEntry[] = []
  protected first = 1
  protected snap: StoredSnapshot | undefined

  /** Throws when the store is closed. */
  protected abstract checkOpen(): void

  firstIndex(): number {
    this.checkOpen()
    return this.first
  }

  lastIndex(): number {
    this.checkOpen()
    return this.first + this.log.length - 1
  }

  term(index: number): number | undefined {
    this.checkOpen()
    if (index === this.first - 1) return this.snap?.term ?? (index === 0 ? 0 : undefined)
    return this.log[index - this.first]?.term
  }

  entry(index: number): LogEntry | undefined {
    this.checkOpen()
    if (index < this.first) return undefined
    return this.log[index - this.first]
  }

  entries(from: number, to: number, maxBytes?: number): LogEntry[] {
    this.checkOpen()
    checkRange(from, to, this.first)
    return sliceByBytes(this.log, this.first, from, to, maxBytes)
  }
}
