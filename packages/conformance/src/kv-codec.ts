import { decodeCanonical, encodeCanonical, expectRecord, type StateMachine } from '@synod/core'

/** A client session for exactly-once retries: the same `{ client, seq }` is applied at most once. */
export interface KvSession {
  readonly client: string
  readonly seq: number
}

/** The few KV operations the workload needs, and how to read their answers. */
export interface KvWorkloadCodec {
  createStateMachine(): StateMachine
  read(key: string): Uint8Array
  write(key: string, value: string, session: KvSession): Uint8Array
  cas(key: string, expected: string | null, value: string, session: KvSession): Uint8Array
  /** The value a read saw (null: absent). */
  readResult(result: Uint8Array): string | null
  /** Whether a cas applied. */
  casResult(result: Uint8Array): boolean
}

// PROVISIONAL until @synod/kv lands: a minimal KV with sessions, same shape.
class ProvisionalKv implements StateMachine {
  private values = new Map<string, string>()
  private sessions = new Map<string, { seq: number; result: Uint8Array }>()
  apply(command: Uint8Array): Uint8Array {
    const c = expectRecord(decodeCanonical(command))
    if (c['op'] === 'get') return this.query(command)
    const client = String(c['client'])
    const seq = Number(c['seq'])
    const cached = this.sessions.get(client)
    if (cached !== undefined && cached.seq >= seq) return cached.result
    const key = String(c['key'])
    let result: Uint8Array
    if (c['op'] === 'put') {
      this.values.set(key, String(c['value']))
      result = encodeCanonical({ ok: true })
    } else {
      const current = this.values.get(key) ?? null
      const applied = current === c['expected']
      if (applied) this.values.set(key, String(c['value']))
      result = encodeCanonical({ ok: true, applied })
    }
    this.sessions.set(client, { seq, result })
    return result
  }
  query(request: Uint8Array): Uint8Array {
    const c = expectRecord(decodeCanonical(request))
    return encodeCanonical({ ok: true, value: this.values.get(String(c['key'])) ?? null })
  }
  snapshot(): Uint8Array {
    return encodeCanonical({ values: [...this.values], sessions: [...this.sessions] })
  }
  restore(snapshot: Uint8Array): void {
    const s = decodeCanonical(snapshot) as { values: Array<[string, string]>; sessions: Array<[string, { seq: number; result: Uint8Array }]> }
    this.values = new Map(s.values)
    this.sessions = new Map(s.sessions)
  }
}

export function kvWorkloadCodec(): KvWorkloadCodec {
  return {
    createStateMachine: () => new ProvisionalKv(),
    read: (key) => encodeCanonical({ op: 'get', key }),
    write: (key, value, session) => encodeCanonical({ op: 'put', key, value, client: session.client, seq: session.seq }),
    cas: (key, expected, value, session) =>
      encodeCanonical({ op: 'cas', key, expected, value, client: session.client, seq: session.seq }),
    readResult: (result) => (decodeCanonical(result) as { value: string | null }).value,
    casResult: (result) => (decodeCanonical(result) as { applied: boolean }).applied,
  }
}
