import { fromUtf8, membershipOf, utf8, type StateMachine } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { raft } from '@synod/raft'

/** A state machine that remembers every command; a read returns how many there are. */
class CommandLog implements StateMachine {
  commands: string[] = []
  apply(command: Uint8Array): Uint8Array {
    this.commands.push(fromUtf8(command))
    return utf8(`ok ${this.commands.length}`)
  }
  query(): Uint8Array { return utf8(String(this.commands.length)) }
  snapshot(): Uint8Array { return utf8(JSON.stringify(this.commands)) }
  restore(snapshot: Uint8Array): void { this.commands = JSON.parse(fromUtf8(snapshot)) as string[] }
}

const sim = new Simulation({ seed: 1 }) // one seed replays the whole run
const ids = ['n1', 'n2', 'n3']
const nodes = ids.map((id) =>
  sim.addNode({
    id,
    factory: raft,
    protocolOptions: { electionTimeoutMs: 150, heartbeatIntervalMs: 50, snapshotThreshold: 1000 },
    membership: membershipOf(ids),
    storage: memoryStorage(),
    createStateMachine: () => new CommandLog(),
  }),
)
for (const node of nodes) await node.start()
await sim.runUntil(() => nodes.some((n) => n.replica?.status().role === 'leader'), 2000)
const leader = nodes.find((n) => n.replica?.status().role === 'leader')!.replica!
console.log(`${leader.status().id} leads term ${leader.status().term}`)

const written = leader.propose(utf8('hello'))
await sim.runFor(50) // virtual time: the simulator delivers messages and fires timers
const { index, result } = await written
console.log(`committed at index ${index}: ${fromUtf8(result)}`)
const read = leader.read(new Uint8Array(0)) // linearizable: a ReadIndex round, then served locally
await sim.runFor(50)
console.log(`read: ${fromUtf8((await read).result)}`)
