// A watch whose events are checked against the cluster's certified state (ADR 0022, ADR 0023). A watch
// stream comes from one node, and on a byzantine cluster that node may be faulty: it can invent, alter or
// drop events, and no certificate covers the stream. But every past state of the prefix can be read with
// a certificate (`list` at a revision, with `verify`): this watcher folds the events it received into its
// own view of the prefix and, every `checkEvery` revisions or on demand, compares that view with a
// certified read at the same revision. A forged, altered or missing event shows as a difference — except
// a change undone inside one checked interval (a put and its delete), which the state at R cannot show.
import { ConfigError } from '@synod/core'
import type { CallOptions, SynodClient } from './client.js'
import type { KeyValue } from './types.js'
import type { WatchEvent, WatchOptions } from './watch.js'

export interface VerifiedWatchOptions extends CallOptions {
  /**
   * First revision wanted: the watcher reads the certified state at `fromRevision - 1` and folds from
   * there. Default: the certified state now, then every change after it.
   */
  readonly fromRevision?: number
  /** Each complete revision's events as they arrive (not yet checked), with the folded state after them. */
  readonly onEvents?: (events: readonly WatchEvent[], state: ReadonlyMap<string, KeyValue>) => void
  /** Compare with a certified read after this many revisions received (default 100); 0: only `check()`. */
  readonly checkEvery?: number
  /** A check passed: every event up to `revision` is what the cluster certifies. */
  readonly onVerified?: (revision: number) => void
  /** A check could not run (the node is down, the revision was compacted); the next trigger tries again. */
  readonly onCheckError?: (error: unknown) => void
  readonly onCompacted?: WatchOptions['onCompacted']
  readonly onDisconnect?: WatchOptions['onDisconnect']
  readonly onOpen?: WatchOptions['onOpen']
  /** Page size of the certified reads. Default 1000. */
  readonly pageSize?: number
}

/** The events received differ from the certified state at `revision`: the node that streamed them lied. */
export class WatchVerificationError extends Error {
  constructor(
    readonly revision: number,
    readonly key: string,
    /** The key as the cluster certifies it at `revision` (undefined: absent). */
    readonly certified: KeyValue | undefined,
    /** The key as the events received say (undefined: absent). */
    readonly received: KeyValue | undefined,
  ) {
    super(`watch events differ from the certified state at revision ${revision} for key '${key}': certified ${describe(certified)}, received ${describe(received)}`)
    this.name = 'WatchVerificationError'
  }
}

function describe(kv: KeyValue | undefined): string {
  return kv === undefined ? 'absent' : JSON.stringify({ value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version })
}

function sameKey(a: KeyValue, b: KeyValue): boolean {
  return a.value === b.value && a.createRevision === b.createRevision && a.modRevision === b.modRevision && a.version === b.version
}

export class VerifiedWatch {
  private readonly folded = new Map<string, KeyValue>()
  private at = 0
  private sinceCheck = 0
  private checking: Promise<number> | undefined
  private failure: WatchVerificationError | undefined
  private readonly stop = new AbortController()
  /** Settles when the watch ends (aborted or compacted); rejects with WatchVerificationError when a check failed. */
  readonly done: Promise<void>
  /** The highest revision a check confirmed (0: none yet). */
  verifiedRevision = 0
  /** Checks that ran to a verdict. */
  checks = 0

  private constructor(
    readonly client: SynodClient,
    readonly prefix: string,
    private readonly options: VerifiedWatchOptions,
    base: { kvs: KeyValue[]; revision: number },
  ) {
    for (const kv of base.kvs) this.folded.set(kv.key, kv)
    this.at = base.revision
    const signal = options.signal
    if (signal !== undefined) {
      if (signal.aborted) this.stop.abort()
      else signal.addEventListener('abort', () => this.stop.abort(), { once: true })
    }
    this.done = client
      .watch(prefix, {
        fromRevision: base.revision + 1,
        signal: this.stop.signal,
        onEvents: (events) => this.receive(events),
        onProgress: (revision) => {
          // Every revision up to here was sent: the folded state is the state at `revision`.
          if (revision > this.at) this.at = revision
        },
        ...(options.onCompacted === undefined ? {} : { onCompacted: options.onCompacted }),
        ...(options.onDisconnect === undefined ? {} : { onDisconnect: options.onDisconnect }),
        ...(options.onOpen === undefined ? {} : { onOpen: options.onOpen }),
      })
      .then(() => {
        if (this.failure !== undefined) throw this.failure
      })
  }

  /**
   * Start watching `prefix` on `client`, which must verify answers (`verify: members`): the base state
   * and every check are certified reads.
   */
  static async start(client: SynodClient, prefix: string, options: VerifiedWatchOptions = {}): Promise<VerifiedWatch> {
    if (!client.verifies) throw new ConfigError('needs a client with `verify` (the members): the checks are certified reads', 'client')
    const from = options.fromRevision
    const base = from === undefined ? await certifiedState(client, prefix, undefined, options) : from <= 1 ? { kvs: [], revision: 0 } : await certifiedState(client, prefix, from - 1, options)
    return new VerifiedWatch(client, prefix, options, from === undefined ? base : { kvs: base.kvs, revision: from - 1 })
  }

  /** The last revision folded (every event up to it received, as far as the node says). */
  get revision(): number {
    return this.at
  }

  /** The prefix as the events received say it is at `revision`. */
  get state(): ReadonlyMap<string, KeyValue> {
    return this.folded
  }

  /** Stop watching. */
  close(): void {
    this.stop.abort()
  }

  /**
   * Compare the folded state with a certified read at the revision folded now; resolves with that revision,
   * or throws WatchVerificationError (and ends the watch: `done` rejects with it). One check at a time.
   */
  check(): Promise<number> {
    this.checking ??= this.compare().finally(() => (this.checking = undefined))
    return this.checking
  }

  private receive(events: readonly WatchEvent[]): void {
    if (this.failure !== undefined) return
    for (const e of events) {
      if (e.type === 'DELETE') this.folded.delete(e.key)
      else
        this.folded.set(e.key, {
          key: e.key,
          value: e.value ?? null,
          ...(e.createRevision === undefined ? {} : { createRevision: e.createRevision }),
          ...(e.modRevision === undefined ? {} : { modRevision: e.modRevision }),
          ...(e.version === undefined ? {} : { version: e.version }),
        })
    }
    this.at = Math.max(this.at, events[events.length - 1]!.revision)
    this.options.onEvents?.(events, this.folded)
    const every = this.options.checkEvery ?? 100
    if (every > 0 && ++this.sinceCheck >= every && this.checking === undefined) {
      this.sinceCheck = 0
      this.check().catch((error: unknown) => {
        if (!(error instanceof WatchVerificationError)) this.options.onCheckError?.(error)
      })
    }
  }

  private async compare(): Promise<number> {
    if (this.failure !== undefined) throw this.failure
    // The view now, at its revision: events arriving during the read do not touch this copy.
    const revision = this.at
    const view = new Map(this.folded)
    if (revision < 1) return revision // an empty store: nothing happened yet
    const { kvs } = await certifiedState(this.client, this.prefix, revision, this.options)
    this.checks++
    const seen = new Set<string>()
    for (const kv of kvs) {
      seen.add(kv.key)
      const mine = view.get(kv.key)
      if (mine === undefined || !sameKey(kv, mine)) return this.fail(new WatchVerificationError(revision, kv.key, kv, mine))
    }
    for (const [key, mine] of view) if (!seen.has(key)) return this.fail(new WatchVerificationError(revision, key, undefined, mine))
    this.verifiedRevision = Math.max(this.verifiedRevision, revision)
    this.options.onVerified?.(revision)
    return revision
  }

  private fail(error: WatchVerificationError): never {
    this.failure = error
    this.stop.abort()
    throw error
  }
}

/**
 * Every key under `prefix` at `revision` (now when undefined: then the first page's revision pins the
 * rest), each page a certified read with the client's `verify`.
 */
async function certifiedState(client: SynodClient, prefix: string, revision: number | undefined, options: VerifiedWatchOptions): Promise<{ kvs: KeyValue[]; revision: number }> {
  const kvs: KeyValue[] = []
  let at = revision
  let after: string | undefined
  while (true) {
    const page = await client.list(prefix, {
      limit: options.pageSize ?? 1000,
      ...(at === undefined ? {} : { revision: at }),
      ...(after === undefined ? {} : { after }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    })
    at ??= page.revision ?? 0
    const got = page.kvs ?? []
    kvs.push(...got)
    if (page.more !== true || got.length === 0) return { kvs, revision: at }
    after = got[got.length - 1]!.key
  }
}
