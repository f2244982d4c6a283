/** Where progress goes: stderr, or a test's fake stream. */
export interface ProgressStream {
  write(chunk: string): unknown
  readonly isTTY?: boolean
  readonly columns?: number
}

const BAR_WIDTH = 24
/** Without a TTY, print a line every this many percent. */
const LINE_EVERY_PERCENT = 10

/**
 * A progress indicator for the matrix. On a terminal it redraws one line;
 * in a log (CI) it prints a line every few percent so the log stays short.
 */
export class ProgressBar {
  private done = 0
  private violations = 0
  private lastPrintedStep = -1
  private lastLabel = ''

  constructor(
    private readonly stream: ProgressStream,
    private readonly total: number,
  ) {}

  /** One run finished. */
  advance(label: string, verdict: 'ok' | 'violation' | 'unknown' | 'skipped'): void {
    this.done++
    if (verdict === 'violation') this.violations++
    this.lastLabel = label
    if (this.stream.isTTY === true) {
      this.stream.write(`\r${this.line()}\x1b[K`)
      return
    }
    const step = Math.floor((this.done / this.total) * (100 / LINE_EVERY_PERCENT))
    if (step > this.lastPrintedStep) {
      this.lastPrintedStep = step
      this.stream.write(`${this.line()}\n`)
    }
  }

  /** Leave the terminal on a fresh line. */
  finish(): void {
    if (this.stream.isTTY === true && this.done > 0) this.stream.write('\n')
  }

  private line(): string {
    const fraction = this.total === 0 ? 1 : this.done / this.total
    const filled = Math.round(fraction * BAR_WIDTH)
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`
    const text = `${bar} ${percent} ${this.done}/${this.total} runs, ${this.violations} violation${this.violations === 1 ? '' : 's'} — ${this.lastLabel}`
    const columns = this.stream.columns
    return columns !== undefined && columns > 20 && text.length >= columns ? text.slice(0, columns - 1) : text
  }
}
