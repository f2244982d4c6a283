import { fromUtf8 } from '@synod/core'
import { decodeResult, KvStateMachine, kvCommands } from '@synod/kv'

const kv = new KvStateMachine({ maxKeyBytes: 1024, maxValueBytes: 1024 * 1024 })
let index = 0 // the Replica passes each committed entry's log index

kv.apply(kvCommands.put('color', 'blue'), ++index)
const swap = decodeResult(kv.apply(kvCommands.cas('color', 'red', 'green'), ++index))
if (!swap.ok && swap.code === 'cas-mismatch') console.log(fromUtf8(swap.current as Uint8Array))

// Exactly once: a retry with the same { client, seq } returns the first answer.
const session = { client: 'client-7', seq: 1 }
kv.apply(kvCommands.append('log', 'started', session), ++index)
const retry = decodeResult(kv.apply(kvCommands.append('log', 'started', session), ++index))
console.log(retry)

// Reads without a log entry (the Replica's read path uses query).
console.log(decodeResult(kv.query(kvCommands.list('', { limit: 10 }))))

const copy = new KvStateMachine()
copy.restore(kv.snapshot())
console.log(copy.snapshot().join() === kv.snapshot().join())
