import { fromUtf8, membershipOf, utf8, type StateMachine } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { paxos } from '@synod/paxos'

/** A state machine that remembers every command; a read (ordered like a command) returns how many there are. */
class CommandLog implements StateMachine {
  commands: string[] = []
  apply(command: Uint8Array): Uint8Array {
    if (command.byteLength === 0) return utf8(String(this.commands.length)) // a read
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
    factory: paxos,
    protocolOptions: { electionTimeoutMs: 150, heartbeatIntervalMs: 50, snapshotEvery: 1000 },
    membership: membershipOf(ids),
    storage: memoryStorage(),
    createStateMachine: () => new CommandLog(),
  }),
)
for (const node of nodes) await node.start()
// Until every node knows the leader (its first heartbeat arrived).
await sim.runUntil(() => nodes.every((n) => n.replica?.status().leader !== undefined), 2000)
const follower = nodes.find((n) => n.replica?.status().role !== 'leader')!.replica!
console.log(`${follower.status().id} follows ${follower.status().leader}`)

const written = follower.propose(utf8('hello')) // the follower forwards it to the leader
await sim.runFor(100) // virtual time: the simulator delivers messages and fires timers
const { index, result } = await written
console.log(`chosen at slot ${index}: ${fromUtf8(result)}`)
const read = follower.read(new Uint8Array(0)) // linearizable: ordered through the log
await sim.runFor(100)
console.log(`read: ${fromUtf8((await read).result)}`)
