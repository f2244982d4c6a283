import type { StateMachine } from '@synod/core'
import { InvalidMessageError } from '@synod/core'
import { decodeResult, KvStateMachine, kvCommands, type KvSession } from '@synod/kv'

export type { KvSession }

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

const text = new TextDecoder('utf-8', { fatal: true })

/** The workload on the real replicated state machine, @synod/kv, with its exactly-once sessions. */
export function kvWorkloadCodec(): KvWorkloadCodec {
  return {
    createStateMachine: () => new KvStateMachine(),
    read: (key) => kvCommands.get(key),
    write: (key, value, session) => kvCommands.put(key, value, session),
    cas: (key, expected, value, session) => kvCommands.cas(key, expected, value, session),
    readResult: (bytes) => {
      const result = decodeResult(bytes)
      if (!result.ok || result.op !== 'get') throw new InvalidMessageError(`expected a get result, got ${JSON.stringify(result)}`)
      if (result.value === null) return null
      if (!(result.value instanceof Uint8Array)) throw new InvalidMessageError('the workload only writes byte values')
      return text.decode(result.value)
    },
    casResult: (bytes) => {
      const result = decodeResult(bytes)
      if (result.ok) return result.op === 'cas'
      if (result.code === 'cas-mismatch') return false
      throw new InvalidMessageError(`cas failed: ${result.code}: ${result.message}`)
    },
  }
}
