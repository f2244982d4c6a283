// Leader election among clients (etcd's concurrency.Election): candidates stand in line under the
// election's prefix (waiters.ts) with their value (an address, a name); the first in line leads until it
// resigns or its lease ends, and the next takes over. Anyone can ask who leads, or follow every change.
import type { SynodClient } from '../client.js'
import type { KeyValue } from '../types.js'
import type { LeaseSession } from './session.js'
import { join, leave, type Place, waitFirst } from './waiters.js'

export interface Leader {
  readonly key: string
  readonly value: string
  /** The leader key's create revision: a fencing token for the term, as a lock's. */
  readonly createRevision: number
}

export class Election {
  private place: Place | undefined

  /** `prefix`: the election's name, e.g. 'elections/scheduler/'. */
  constructor(
    readonly session: LeaseSession,
    readonly prefix: string,
  ) {}

  /** Stand for election with `value`; resolves once elected (throws SessionEndedError if the lease ends first). */
  async campaign(value: string, signal?: AbortSignal): Promise<Leader> {
    const place = await join(this.session, this.prefix, value, signal)
    this.place = place
    await waitFirst(this.session, this.prefix, place, signal)
    return { key: place.key, value, createRevision: place.createRevision }
  }

  /** Step down (or withdraw): the next candidate in line takes over. */
  async resign(): Promise<void> {
    const place = this.place
    this.place = undefined
    if (place !== undefined) await leave(this.session, place.key)
  }

  /** This candidate's key while campaigning or leading. */
  get key(): string | undefined {
    return this.place?.key
  }

  /** Who leads `prefix` now (undefined when nobody stands). */
  static async leader(client: SynodClient, prefix: string): Promise<Leader | undefined> {
    const kvs: KeyValue[] = []
    for await (const page of client.pages(prefix, { limit: 1000 })) kvs.push(...(page.kvs ?? []))
    return first(kvs.map((kv) => [kv.key, { value: kv.value ?? '', createRevision: kv.createRevision ?? 0 }] as const))
  }

  /**
   * Follow the leadership of `prefix`: `onLeader` is called with the leader now, then with each change
   * (undefined while nobody stands), until `signal` aborts. Built from one read and one watch: every change
   * of the line arrives in revision order, so no leadership change is missed or reported twice.
   */
  static async observe(client: SynodClient, prefix: string, onLeader: (leader: Leader | undefined) => void, signal: AbortSignal): Promise<void> {
    const members = new Map<string, { value: string; createRevision: number }>()
    let revision: number | undefined
    for await (const page of client.pages(prefix, { limit: 1000, signal })) {
      revision ??= page.revision ?? 0
      for (const kv of page.kvs ?? []) members.set(kv.key, { value: kv.value ?? '', createRevision: kv.createRevision ?? 0 })
    }
    let current = first(members)
    onLeader(current)
    await client.watch(prefix, {
      fromRevision: (revision ?? 0) + 1,
      signal,
      onEvents: (events) => {
        for (const e of events) {
          if (e.type === 'DELETE') members.delete(e.key)
          else members.set(e.key, { value: e.value ?? '', createRevision: e.createRevision ?? members.get(e.key)?.createRevision ?? e.revision })
        }
        const next = first(members)
        if (next?.key !== current?.key || next?.value !== current?.value) {
          current = next
          onLeader(current)
        }
      },
    })
  }
}

function first(entries: Iterable<readonly [string, { value: string; createRevision: number }]>): Leader | undefined {
  let best: Leader | undefined
  for (const [key, { value, createRevision }] of entries) if (best === undefined || createRevision < best.createRevision) best = { key, value, createRevision }
  return best
}
