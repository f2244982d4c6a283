/** Named monotonic counters: drops by reason, messages in/out, syncs. Cheap to bump on hot paths. */
export class Counters {
  private readonly values = new Map<string, number>()

  add(name: string, by = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + by)
  }

  get(name: string): number {
    return this.values.get(name) ?? 0
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }
}
