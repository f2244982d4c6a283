// Signed requests that do not go through the KV session table (reads,
// membership changes, status) could be replayed by whoever saw them; each
// node remembers every (client, session, timestamp) it accepted until the
// timestamp is outside the freshness window, and refuses a second use.
export class ReplayCache {
  private readonly seen = new Map<string, number>()

  constructor(
    private readonly windowMs: number,
    /** Beyond this, new requests are refused (fail closed) until entries expire. */
    private readonly maxEntries = 1_000_000,
  ) {}

  get size(): number {
    return this.seen.size
  }

  /** Record the request; false when it was seen before (a replay) or the cache is full. */
  admit(client: string, session: number, timestamp: number, now: number): 'fresh' | 'replay' | 'full' {
    this.prune(now)
    const id = `${client}:${session}:${timestamp}`
    if (this.seen.has(id)) return 'replay'
    if (this.seen.size >= this.maxEntries) return 'full'
    this.seen.set(id, timestamp + this.windowMs)
    return 'fresh'
  }

  /** Entries are inserted in roughly timestamp order; drop expired ones from the front. */
  private prune(now: number): void {
    for (const [id, expires] of this.seen) {
      if (expires >= now) break
      this.seen.delete(id)
    }
  }
}
